// GET /replays (the replay files of replayDir, newest first, with the recordings in progress) and
// GET /replays/:name (one file's bytes; a recording in progress up to what is on disk). Names are
// checked against one pattern (no separators, no dots but the extension's), sizes against
// replayMaxBytes.
import { readdir, readFile, stat, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerConfig } from './config.ts';
import type { HttpRoute, RouteReply } from './net/uws.ts';
import { REPLAY_NAME } from './replay-recorder.ts';
import type { RoomManager, RoomRecorder } from './rooms.ts';

/** Most files GET /replays lists (the newest). */
export const MAX_LISTED_REPLAYS = 1000;

/** One entry of GET /replays. */
export interface ReplayListing {
  name: string;
  bytes: number;
  /** Last written (ms since the epoch). */
  modifiedMs: number;
  /** A recording still in progress (the file has no index yet). */
  recording: boolean;
}

function recording(rooms: RoomManager, name: string): RoomRecorder | undefined {
  for (const r of rooms.list) if (r.recorder?.name === name && r.recorder.state !== 'done') return r.recorder;
  return undefined;
}

/** The replay routes of one server. */
export function replayRoutes(config: ServerConfig, rooms: RoomManager): HttpRoute[] {
  const dir = config.replayDir;
  return [
    {
      method: 'GET', path: '/replays',
      handler: async (): Promise<RouteReply> => {
        let names: string[];
        try {
          names = (await readdir(dir)).filter((n) => REPLAY_NAME.test(n));
        } catch {
          names = [];
        }
        const out: ReplayListing[] = [];
        for (const name of names) {
          try {
            const st = await stat(join(dir, name));
            if (!st.isFile()) continue;
            const rec = recording(rooms, name);
            out.push({ name, bytes: rec ? rec.bytesOnDisk : st.size, modifiedMs: Math.round(st.mtimeMs), recording: rec !== undefined });
          } catch {
            // gone meanwhile
          }
        }
        out.sort((a, b) => b.modifiedMs - a.modifiedMs || (a.name < b.name ? -1 : 1));
        return { status: 200, json: { replays: out.slice(0, MAX_LISTED_REPLAYS) } };
      },
    },
    {
      method: 'GET', path: '/replays/:name',
      handler: async (req): Promise<RouteReply> => {
        const name = decodeURIComponentSafe((req.url ?? '').slice('/replays/'.length));
        if (name === undefined || !REPLAY_NAME.test(name)) return { status: 400, json: { error: 'bad replay name', pattern: REPLAY_NAME.source } };
        const path = join(dir, name);
        const rec = recording(rooms, name);
        try {
          const st = await stat(path);
          if (!st.isFile()) return { status: 404, json: { error: 'no such replay' } };
          const size = rec ? rec.bytesOnDisk : st.size;
          if (size > config.replayMaxBytes) return { status: 413, json: { error: `replay larger than replayMaxBytes (${config.replayMaxBytes})` } };
          let body: Uint8Array;
          if (rec) {
            const fh = await open(path, 'r');
            try {
              body = new Uint8Array(size);
              let off = 0;
              while (off < size) {
                const { bytesRead } = await fh.read(body, off, size - off, off);
                if (bytesRead === 0) break;
                off += bytesRead;
              }
              body = body.subarray(0, off);
            } finally {
              await fh.close();
            }
          } else body = new Uint8Array(await readFile(path));
          return { status: 200, body, contentType: 'application/octet-stream', headers: { 'x-replay-recording': rec ? '1' : '0' } };
        } catch {
          return { status: 404, json: { error: 'no such replay' } };
        }
      },
    },
  ];
}

function decodeURIComponentSafe(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
