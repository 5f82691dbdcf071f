// Recording a room's match to a replay file (docs/replay.md): a virtual spectator inside the room
// that takes the room encoder's packets after every other client (so it shares their sections),
// acknowledges each of its own snapshots at once (each frame a delta against the previous recorded
// one) and forgets its acks every keyframe interval (a full snapshot), plus the game events and
// joins and leaves as control messages. Bytes go into a bounded buffer flushed to the file
// asynchronously; the recorder's snapshots are left out of the encoder's send counters.
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { PROTOCOL_VERSION } from '../shared/config.ts';
import { encodeControl } from '../shared/protocol/control.ts';
import {
  encodeReplayHeader, encodeReplayTail, REPLAY_RECORD_HEADER_BYTES, replaySchemaText, ReplayRecordKind, writeReplayRecordHeader, type ReplayControl,
} from '../shared/protocol/replay.ts';
import { SnapshotKind } from '../shared/protocol/snapshot.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import type { InterestManager } from './interest.ts';
import type { Room, RoomRecorder } from './rooms.ts';
import { SnapshotChain } from './snapshots.ts';

/** Where and how rooms are recorded (from ServerConfig). */
export interface ReplaySettings {
  /** Directory of the replay files (created when missing). */
  readonly dir: string;
  /** Seconds between keyframes (full snapshots). */
  readonly keyframeSec: number;
  /** Largest replay file, bytes: a recording that reaches it is finished there. */
  readonly maxBytes: number;
}

/** Counters of every recording of the process (exported as metrics). */
export interface ReplayStats {
  /** Bytes written to replay files. */
  bytesWritten: number;
  /** Recordings started, and finished (room disposed, server stopped or size limit). */
  started: number;
  finished: number;
}

/** Fresh zeroed replay counters. */
export function newReplayStats(): ReplayStats {
  return { bytesWritten: 0, started: 0, finished: 0 };
}

/** Buffered bytes that start a write. */
const FLUSH_BYTES = 32 * 1024;
/** First size of each of the two buffers. */
const BUFFER_BYTES = 128 * 1024;
/** A buffer grows (while the file lags) up to this; beyond, the recording stops. */
const MAX_BUFFER_BYTES = 8 * 1024 * 1024;

/** Replay file names: what GET /replays/:name accepts, and nothing else (no path separators, no dots but the extension's). */
export const REPLAY_NAME = /^[A-Za-z0-9_-]{1,120}\.twr$/;

/**
 * Appends bytes into one of two buffers and writes the full one to the file while the other fills:
 * a bounded amount of memory, no allocation while the file keeps up, writes never on the tick.
 */
class ReplaySink {
  private active: Uint8Array = new Uint8Array(BUFFER_BYTES);
  private spare: Uint8Array | undefined = new Uint8Array(BUFFER_BYTES);
  private used = 0;
  private inFlight = false;
  private chain: Promise<unknown>;
  private fh: FileHandle | undefined;
  /** Bytes appended, and bytes on disk (a reader may read that many). */
  total = 0;
  written = 0;
  failed: Error | undefined;

  constructor(
    readonly path: string,
    ready: Promise<unknown>,
    private readonly stats: ReplayStats,
    private readonly onError: (err: Error) => void,
  ) {
    this.chain = ready.then(() => open(path, 'wx')).then((fh) => {
      this.fh = fh;
    }).catch((err: Error) => this.fail(err));
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.onError(err);
  }

  /** Room for `n` more bytes: the offset to write them at in `buffer`, or -1 (the buffer cannot grow further). */
  reserve(n: number): number {
    // never a flush here: writes start between snapshots (flush()), so the bytes on disk always
    // end on a whole snapshot and a recording in progress can be served as it is
    if (this.used + n > this.active.length) {
      let size = this.active.length;
      while (size < this.used + n) size *= 2;
      if (size > MAX_BUFFER_BYTES) return -1;
      const grown = new Uint8Array(size);
      grown.set(this.active.subarray(0, this.used));
      this.active = grown;
    }
    const at = this.used;
    this.used += n;
    this.total += n;
    return at;
  }

  /** The buffer reserve() offsets point into (valid until the next reserve). */
  get buffer(): Uint8Array {
    return this.active;
  }

  /** Bytes waiting in the buffer. */
  get pending(): number {
    return this.used;
  }

  /** Starts writing the buffered bytes unless a write is under way (call it between records of whole snapshots). */
  flush(): void {
    if (this.inFlight || this.used === 0 || this.failed) return;
    const buf = this.active;
    const len = this.used;
    this.active = this.spare && this.spare.length >= BUFFER_BYTES ? this.spare : new Uint8Array(BUFFER_BYTES);
    this.spare = undefined;
    this.used = 0;
    this.inFlight = true;
    this.chain = this.chain.then(async () => {
      if (this.failed || !this.fh) return;
      let off = 0;
      while (off < len) off += (await this.fh.write(buf, off, len - off)).bytesWritten;
      this.written += len;
      this.stats.bytesWritten += len;
    }).catch((err: Error) => this.fail(err)).finally(() => {
      this.inFlight = false;
      this.spare = buf;
    });
  }

  /** Writes everything buffered and closes the file. */
  async close(): Promise<void> {
    for (;;) {
      await this.chain;
      if (this.used === 0 || this.failed) break;
      this.flush();
    }
    await this.fh?.close().catch((err: Error) => this.fail(err));
  }
}

/** File name of a recording of `room` started at `startedAtMs` (wall clock): room-YYYYMMDDTHHMMSSZ-N.twr. */
export function replayFileName(room: string, startedAtMs: number, serial: number): string {
  const stamp = new Date(startedAtMs).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${room}-${stamp}-${serial}.twr`;
}

/** One room's recording: a virtual spectator of the room writing its replay file. */
export class ReplayRecorder implements RoomRecorder {
  /** The room's views, when it has them (the recording's whole-world view is dropped when it finishes). */
  private readonly interest: InterestManager | undefined;
  state: 'recording' | 'finishing' | 'done' = 'recording';
  readonly name: string;
  private readonly sink: ReplaySink;
  private readonly keyEvery: number;
  private readonly flushEvery: number;
  private lastKeyTick = -1;
  private lastFlushTick = 0;
  private tick = 0;
  private lastTick = 0;
  private keyTicks = new Uint32Array(64);
  private keyOffsets = new Uint32Array(64);
  private keys = 0;
  /** The recorded snapshots: a delta chain restarted every keyframe interval. */
  private readonly chain = new SnapshotChain();
  private finished: Promise<void> | undefined;
  private readonly sendPacket = (bytes: Uint8Array): void => {
    if ((bytes[1] & 3) === SnapshotKind.Full && bytes[8] === 0) this.keyframe(this.tick, this.sink.total);
    this.append(ReplayRecordKind.Snapshot, this.tick, bytes);
  };

  constructor(
    room: Room,
    game: AnyGame,
    hash: number,
    private readonly settings: ReplaySettings,
    private readonly stats: ReplayStats,
    private readonly log: Logger,
    startedAtMs: number,
    serial: number,
    ready: Promise<unknown>,
  ) {
    this.name = replayFileName(room.name, startedAtMs, serial);
    const net = room.net;
    const every = net.tickRateHz / net.snapshotRateHz;
    this.keyEvery = Math.max(1, Math.round((settings.keyframeSec * net.snapshotRateHz))) * every;
    this.flushEvery = net.tickRateHz;
    this.sink = new ReplaySink(join(settings.dir, this.name), ready, stats, (err) => {
      this.log.error({ err, replay: this.name, room: room.name }, 'replay file write failed; recording stopped');
      this.state = 'done';
    });
    const header = encodeReplayHeader({
      game: game.name, configHash: hash, protocolVersion: PROTOCOL_VERSION, tickRateHz: net.tickRateHz, snapshotRateHz: net.snapshotRateHz,
      maxEntities: game.maxEntities, schema: replaySchemaText(game), room: room.name, startedAtMs, keyframeEveryTicks: this.keyEvery,
    });
    const at = this.sink.reserve(header.length);
    this.sink.buffer.set(header, at);
    // a room with views: the recording is a spectator whose view is the whole world
    this.interest = room.interest;
    this.interest?.watchAll(this.chain);
    stats.started++;
    this.log.info({ replay: this.name, room: room.name }, 'recording room');
  }

  /** Bytes on disk so far (what GET /replays/:name serves of a recording in progress). */
  get bytesOnDisk(): number {
    return this.sink.written;
  }

  /** Records this snapshot tick of `room`: called after every other client's packets were encoded. */
  capture(room: Room): void {
    if (this.state !== 'recording') return;
    const tick = room.ctx.tick;
    if (this.lastKeyTick < 0 || tick - this.lastKeyTick >= this.keyEvery) {
      this.chain.restart();
      this.lastKeyTick = tick;
    }
    this.tick = tick;
    // with views a snapshot tick of another phase has no view of the recording: nothing is sent, nothing acknowledged
    this.chain.encode(room.encoder, tick, this.sendPacket);
    if (this.sink.pending >= FLUSH_BYTES || tick - this.lastFlushTick >= this.flushEvery) {
      this.lastFlushTick = tick;
      this.sink.flush();
    }
  }

  /** Records a control message (a game event, a join or a leave) at `tick`. */
  control(tick: number, msg: ReplayControl): void {
    if (this.state !== 'recording') return;
    this.append(ReplayRecordKind.Control, Math.max(tick, this.lastTick), encodeControl(msg));
  }

  private keyframe(tick: number, offset: number): void {
    if (this.keys === this.keyTicks.length) {
      const t = new Uint32Array(this.keys * 2);
      const o = new Uint32Array(this.keys * 2);
      t.set(this.keyTicks);
      o.set(this.keyOffsets);
      this.keyTicks = t;
      this.keyOffsets = o;
    }
    this.keyTicks[this.keys] = tick;
    this.keyOffsets[this.keys] = offset;
    this.keys++;
  }

  private append(kind: number, tick: number, bytes: Uint8Array): void {
    const n = REPLAY_RECORD_HEADER_BYTES + bytes.length;
    // a partly recorded snapshot is finished whole: the limit applies between snapshots
    if (this.sink.total + n > this.settings.maxBytes && kind === ReplayRecordKind.Control) {
      this.limitReached();
      return;
    }
    const at = this.sink.reserve(n);
    if (at < 0) {
      this.log.error({ replay: this.name }, 'replay buffer full (the file is not keeping up); recording stopped');
      this.state = 'done';
      return;
    }
    const buf = this.sink.buffer;
    writeReplayRecordHeader(buf, at, kind, tick, bytes.length);
    buf.set(bytes, at + REPLAY_RECORD_HEADER_BYTES);
    this.lastTick = tick;
    if (kind === ReplayRecordKind.Snapshot && bytes[8] === bytes[9] - 1 && this.sink.total > this.settings.maxBytes) this.limitReached();
  }

  private limitReached(): void {
    if (this.state !== 'recording') return;
    this.log.warn({ replay: this.name, maxBytes: this.settings.maxBytes }, 'replay reached replayMaxBytes; recording finished');
    void this.finish();
  }

  /** Writes the keyframe index and the footer, flushes and closes the file (once). */
  finish(): Promise<void> {
    if (this.finished) return this.finished;
    const wasRecording = this.state === 'recording';
    this.state = 'finishing';
    this.interest?.unwatch(this.chain);
    this.finished = (async () => {
      if (wasRecording && !this.sink.failed) {
        const tail = encodeReplayTail(this.sink.total, this.lastTick, this.keyTicks, this.keyOffsets, this.keys);
        const at = this.sink.reserve(tail.length);
        if (at >= 0) this.sink.buffer.set(tail, at);
      }
      await this.sink.close();
      this.state = 'done';
      this.stats.finished++;
      this.log.info({ replay: this.name, bytes: this.sink.written, keyframes: this.keys }, 'replay finished');
    })();
    return this.finished;
  }
}

/**
 * Builds the recorders of new rooms when `recordRooms` is on (undefined otherwise). In a game with
 * interest rules the recorder's view is every entity (docs/replay.md: what that costs).
 */
export function replayRecorders(
  on: boolean, settings: ReplaySettings, game: AnyGame, hash: number, stats: ReplayStats, log: Logger, wallMs: () => number = Date.now,
): ((room: Room) => RoomRecorder | undefined) | undefined {
  if (!on) return undefined;
  let serial = 0;
  let made: Promise<unknown> | undefined;
  return (room) => {
    // the directory is made once, before the first file is opened
    made ??= mkdir(settings.dir, { recursive: true });
    return new ReplayRecorder(room, game, hash, settings, stats, log, wallMs(), ++serial, made);
  };
}
