// Replays: a server with recordRooms records a bot match; played back headless through the
// client's receiver, timeline and interpolator, every frame equals the frame a live spectator of
// the room decoded at the same tick, from the start and after seeks; game events and joins are in
// the file as the players received them; GET /replays lists and serves the files (names checked);
// a damaged file is a ReplayFormatError, never a crash or a hang; recording is off by default.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { tag } from '../games/tag.ts';
import { Connection } from '../netcode/connection.ts';
import { ReplayPlayer } from '../netcode/replay-player.ts';
import type { TickwireServer } from '../server/server.ts';
import { loadServerConfig } from '../server/config.ts';
import type { ServerControl } from '../shared/protocol/control.ts';
import { parseReplay, ReplayFormatError, ReplayRecordKind, summarizeReplay } from '../shared/protocol/replay.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { SnapshotFrame } from '../shared/protocol/snapshot.ts';
import { Rng } from '../shared/sim/rng.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import { replayCommand } from '../cli/replay.ts';
import { BotPool } from '../tools/bots/pool.ts';
import pino from 'pino';
import { configHash, makeNetConfig } from '../shared/config.ts';
import { Player } from '../server/player.ts';
import { newReplayStats, replayRecorders } from '../server/replay-recorder.ts';
import { Room } from '../server/rooms.ts';
import { DeltaSnapshotEncoder, newEncoderStats } from '../server/snapshots.ts';
import { runTick } from '../server/tick.ts';
import { nodeClientIO } from '../tools/node-client/io.ts';
import { playAll } from './helpers/replay.ts';
import { scrapeMetrics, startTestServer, urlOf, waitFor } from './helpers/server.ts';
import { promValue } from '../tools/measure/prom.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tickwire-replay-'));
  dirs.push(d);
  return d;
}

/** The first difference between two frames, or '' when they are equal. */
function frameDiff(a: SnapshotFrame, b: SnapshotFrame): string {
  if (a.tick !== b.tick) return `tick ${a.tick} vs ${b.tick}`;
  if (a.count !== b.count) return `count ${a.count} vs ${b.count} at tick ${a.tick}`;
  for (let i = 0; i < a.count; i++) {
    if (a.ids[i] !== b.ids[i] || a.masks[i] !== b.masks[i]) return `row ${i} id/mask at tick ${a.tick}`;
    for (let f = 0; f < a.fieldCount; f++) if (a.values[i * a.fieldCount + f] !== b.values[i * b.fieldCount + f]) return `row ${i} field ${f} at tick ${a.tick}`;
    for (let r = 0; r < a.rateCount; r++) if (a.rates[i * a.rateCount + r] !== b.rates[i * b.rateCount + r]) return `row ${i} rate ${r} at tick ${a.tick}`;
  }
  return '';
}

/** A spectator of `room` keeping a copy of every complete frame it decoded, by tick. */
function liveSpectator(srv: TickwireServer, game: AnyGame, room: string, controls?: ServerControl[]): { conn: Connection; frames: Map<number, SnapshotFrame> } {
  const schema = compileSchema(game);
  const frames = new Map<number, SnapshotFrame>();
  const conn = new Connection(game, nodeClientIO({ webrtc: false }), { url: urlOf(srv), name: 'watcher', room, transport: 'ws', spectate: true }, {
    onSnapshot: (f) => {
      const copy = new SnapshotFrame(schema, f.count);
      copy.copyFrom(f);
      frames.set(f.tick, copy);
    },
    onControl: (m) => controls?.push(m),
  });
  conn.connect();
  return { conn, frames };
}

describe('replays', () => {
  it('records a bot match; played back headless, every frame equals the live spectator\'s at the same tick, from the start and after seeks', async () => {
    const dir = tempDir();
    const srv = await startTestServer({ gameParams: { npcs: 100 }, recordRooms: true, replayDir: dir, replayKeyframeSec: 1 });
    const pool = await BotPool.start({ url: urlOf(srv), count: 4, transport: 'ws', inProcess: true, rampPerSec: 100, seed: 7, fullBots: 1, room: 'match' });
    let spectator: ReturnType<typeof liveSpectator> | undefined;
    let file = '';
    try {
      await waitFor(() => (srv.rooms.get('match')?.players.length ?? 0) === 4, 10_000, 'four bots in the room');
      spectator = liveSpectator(srv, arena, 'match');
      await waitFor(() => spectator!.frames.size > 0, 5000, 'the spectator\'s first frame');
      await new Promise((r) => setTimeout(r, 3500));
      const room = srv.rooms.get('match')!;
      file = room.recorder!.name;
      // a recording in progress is served up to what is on disk, and lists as recording
      await waitFor(() => room.recorder!.bytesOnDisk > 0, 3000, 'bytes on disk');
      const list = (await (await fetch(`${urlOf(srv)}/replays`)).json()) as { replays: { name: string; recording: boolean; bytes: number }[] };
      expect(list.replays.find((r) => r.name === file)).toMatchObject({ recording: true });
      const partial = new Uint8Array(await (await fetch(`${urlOf(srv)}/replays/${file}`)).arrayBuffer());
      expect(partial.length).toBeGreaterThan(0);
      expect(parseReplay(partial).finished).toBe(false);
      // names are checked: no separators, no traversal
      for (const bad of ['..%2F..%2Fetc%2Fpasswd', '.%2E.twr', 'x.txt', `${file}%00`, 'a%5Cb.twr']) {
        expect((await fetch(`${urlOf(srv)}/replays/${bad}`)).status, bad).toBe(400);
      }
      expect((await fetch(`${urlOf(srv)}/replays/nope.twr`)).status).toBe(404);
    } finally {
      spectator?.conn.close();
      await pool.stop();
      await srv.stop();
    }
    // the server's stop finished the recording: index and footer
    expect(readdirSync(dir)).toEqual([file]);
    const bytes = new Uint8Array(readFileSync(join(dir, file)));
    const replay = parseReplay(bytes);
    expect(replay.finished).toBe(true);
    expect(replay.meta).toMatchObject({ game: 'arena-v1', room: 'match', tickRateHz: 60, snapshotRateHz: 20, keyframeEveryTicks: 60 });
    const sum = summarizeReplay(replay);
    expect(sum.keyframes).toBeGreaterThanOrEqual(3);
    expect(sum.players.length).toBe(4);
    expect(sum.durationSec).toBeGreaterThan(3);
    // every snapshot tick from the first to the last is in the file
    const st = replay.snapshotTicks;
    for (let i = 1; i < st.length; i++) expect(st[i] - st[i - 1]).toBe(3);
    // joins and leaves
    expect(replay.controls.filter((c) => c.msg.t === 'joined').length).toBe(4);
    expect(replay.controls.filter((c) => c.msg.t === 'left').length).toBe(4);

    const live = spectator!.frames;
    const { player, frames } = playAll(arena, bytes);
    expect(frames.size).toBe(st.length);
    let compared = 0;
    for (const [tick, f] of live) {
      if (tick < st[0] || tick > st[st.length - 1]) continue;
      const mine = frames.get(tick);
      expect(mine, `replay frame of tick ${tick}`).toBeDefined();
      expect(frameDiff(mine!, f)).toBe('');
      compared++;
    }
    expect(compared).toBeGreaterThan(50);
    // the bots moved: not every frame alike
    const ticks = [...live.keys()].sort((a, b) => a - b);
    expect(frameDiff(live.get(ticks[0])!, live.get(ticks[ticks.length - 1])!)).not.toBe('');
    // seeks (backwards, forwards, onto and between keyframes) land on the live frames too
    const rng = new Rng(11);
    for (let k = 0; k < 12; k++) {
      const tick = ticks[Math.floor(rng.next() * ticks.length)];
      player.seek(tick);
      const f = player.frame(tick);
      expect(f, `frame after seeking to ${tick}`).toBeDefined();
      expect(frameDiff(f!, live.get(tick)!)).toBe('');
      // what is drawn at a snapshot tick is that snapshot (the interpolation of live play)
      expect(player.remote.count).toBe(f!.count);
      expect(player.remote.fromTick).toBe(tick);
    }
    // interpolated between two snapshots
    player.seek(ticks[10] + 1.5);
    expect(player.remote.mode).toBe('interpolate');
    expect(player.remote.fromTick).toBe(ticks[10]);
  }, 60_000);

  it('records the game events and joins as the players received them, and moves the replay counters', async () => {
    const dir = tempDir();
    const srv = await startTestServer({ game: 'tag', recordRooms: true, replayDir: dir }, { game: tag });
    const got: ServerControl[] = [];
    const conn = new Connection(tag, nodeClientIO({ webrtc: false }), { url: urlOf(srv), name: 'first', transport: 'ws', room: 'tagged' }, { onControl: (m) => got.push(m) });
    conn.connect();
    let pool: BotPool | undefined;
    try {
      await waitFor(() => conn.state === 'active', 5000, 'welcome');
      pool = await BotPool.start({ url: urlOf(srv), count: 3, transport: 'ws', inProcess: true, rampPerSec: 100, seed: 3, fullBots: 0, game: 'tag', room: 'tagged' });
      await waitFor(() => got.filter((m) => m.t === 'event').length >= 2, 20_000, 'tag events');
      await new Promise((r) => setTimeout(r, 300));
      const m = await scrapeMetrics(srv);
      expect(promValue(m.samples, 'tickwire_replay_bytes_total')).toBeGreaterThan(0);
      expect(promValue(m.samples, 'tickwire_replays_total', { event: 'started' })).toBe(1);
    } finally {
      conn.close();
      await pool?.stop();
      await srv.stop();
    }
    expect(srv.stats.replay.finished).toBe(1);
    const [file] = readdirSync(dir);
    const replay = parseReplay(new Uint8Array(readFileSync(join(dir, file))));
    const recorded = replay.controls.map((c) => c.msg).filter((msg) => msg.t === 'event');
    const received = got.filter((msg) => msg.t === 'event').map(({ t, name, data }) => ({ t, name, data }));
    // the recording holds every event the first player received, in order (and those after it left)
    expect(recorded.slice(0, received.length).map(({ t, name, data }) => ({ t, name, data }))).toEqual(received);
    expect(replay.controls.find((c) => c.msg.t === 'joined')?.msg).toMatchObject({ t: 'joined', name: 'first' });
    // a control record's tick is never before the snapshot before it
    for (let i = 1; i < replay.recordCount; i++) expect(replay.ticks[i]).toBeGreaterThanOrEqual(replay.ticks[i - 1]);
    expect(summarizeReplay(replay).events).toBe(recorded.length);
  }, 60_000);

  it('finishes a recording at replayMaxBytes (index and footer, a file that plays) and leaves the encoder\'s send counters alone', async () => {
    const dir = tempDir();
    const schema = compileSchema(arena);
    const net = makeNetConfig({});
    const encoderStats = newEncoderStats();
    const room = new Room('capped', arena, schema, net, 4, 1, { npcs: 200 }, (sc, n, st) => new DeltaSnapshotEncoder(sc, n, st), 0, encoderStats);
    const stats = newReplayStats();
    room.recorder = replayRecorders(true, { dir, keyframeSec: 1, maxBytes: 20_000 }, arena, configHash(arena), stats, pino({ level: 'silent' }))!(room);
    const p = new Player(1, 'solo', 1, 8);
    room.addPlayer(p);
    let sent = 0;
    p.send = (bytes) => {
      sent++;
      const tick = (bytes[2] | (bytes[3] << 8) | (bytes[4] << 16) | (bytes[5] << 24)) >>> 0;
      if (bytes[8] === bytes[9] - 1) p.ackedTick = tick;
    };
    const host = { drainNetEvents: () => undefined, rooms: [room] };
    for (let t = 0; t < 60 * 30 && room.recorder!.state === 'recording'; t++) {
      runTick(host);
      if (t % 60 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(room.recorder!.state).not.toBe('recording');
    await room.recorder!.finish();
    // only the player's packets are counted as sent
    expect(encoderStats.packetsOut).toBe(sent);
    const bytes = new Uint8Array(readFileSync(join(dir, room.recorder!.name)));
    expect(bytes.length).toBeGreaterThan(20_000);
    expect(bytes.length).toBeLessThan(20_000 + 12_000);
    expect(stats.bytesWritten).toBe(bytes.length);
    const replay = parseReplay(bytes);
    expect(replay.finished).toBe(true);
    expect(replay.keyTicks.length).toBeGreaterThanOrEqual(2);
    playAll(arena, bytes);
  });

  it('is off by default: no recorder, no directory', async () => {
    expect(loadServerConfig({}).recordRooms).toBe(false);
    const dir = join(tempDir(), 'never');
    const srv = await startTestServer({ replayDir: dir });
    try {
      const c = new Connection(arena, nodeClientIO({ webrtc: false }), { url: urlOf(srv), name: 'p', transport: 'ws', room: 'plain' });
      c.connect();
      await waitFor(() => c.state === 'active', 5000, 'welcome');
      expect(srv.rooms.get('plain')!.recorder).toBeUndefined();
      expect(((await (await fetch(`${urlOf(srv)}/replays`)).json()) as { replays: unknown[] }).replays).toEqual([]);
      c.close();
    } finally {
      await srv.stop();
    }
    expect(() => statSync(dir)).toThrow();
  });

  it('a damaged file is a ReplayFormatError naming the field, never a crash or a hang', async () => {
    const dir = tempDir();
    const srv = await startTestServer({ gameParams: { npcs: 30 }, recordRooms: true, replayDir: dir, replayKeyframeSec: 1 });
    const c = new Connection(arena, nodeClientIO({ webrtc: false }), { url: urlOf(srv), name: 'p', transport: 'ws', room: 'r' });
    c.connect();
    try {
      await waitFor(() => c.state === 'active', 5000, 'welcome');
      await new Promise((r) => setTimeout(r, 2500));
      c.close();
    } finally {
      await srv.stop();
    }
    const good = new Uint8Array(readFileSync(join(dir, readdirSync(dir)[0])));
    const r = parseReplay(good);
    expect(r.finished).toBe(true);
    const fields = new Set<string>();
    const attempt = (bytes: Uint8Array): void => {
      try {
        const p = new ReplayPlayer(arena, bytes);
        p.setSpeed(16);
        p.play();
        for (let i = 0; p.playing && i < 100_000; i++) p.advance(50);
        expect(p.playing).toBe(false);
        if (p.error) fields.add(p.error.field);
        p.seek(p.startTick + (p.endTick - p.startTick) / 2);
      } catch (err) {
        expect(err, String(err)).toBeInstanceOf(ReplayFormatError);
        fields.add((err as ReplayFormatError).field);
      }
    };
    const t0 = Date.now();
    // cut short anywhere
    for (let k = 0; k < 200; k++) attempt(good.subarray(0, Math.floor((k / 200) * good.length)));
    // bytes flipped (seeded), in the header, the records and the tail
    const rng = new Rng(5);
    for (let k = 0; k < 400; k++) {
      const bad = good.slice();
      const flips = 1 + Math.floor(rng.next() * 4);
      for (let f = 0; f < flips; f++) bad[Math.floor(rng.next() * bad.length)] ^= 1 << Math.floor(rng.next() * 8);
      attempt(bad);
    }
    // snapshot bodies damaged where the file's own checks cannot see it: the decoder's
    const snaps = [...Array(r.recordCount).keys()].filter((i) => r.kinds[i] === ReplayRecordKind.Snapshot && r.ends[i] - r.starts[i] > 14);
    for (let k = 0; k < 100; k++) {
      const i = snaps[Math.floor(rng.next() * snaps.length)];
      const bad = good.slice();
      const at = r.starts[i] + 12 + Math.floor(rng.next() * (r.ends[i] - r.starts[i] - 12));
      bad[at] ^= 0xff;
      attempt(bad);
    }
    // another game's replay, or a wrong version
    expect(() => new ReplayPlayer(tag, good)).toThrow(ReplayFormatError);
    const v2 = good.slice();
    v2[4] = 2;
    expect(() => parseReplay(v2)).toThrow(/format version 2/);
    expect(() => parseReplay(new Uint8Array([1, 2, 3]))).toThrow(/too short/);
    console.log(`damaged replays: ${[...fields].sort().join(', ')} (${Date.now() - t0} ms)`);
    expect(fields.size).toBeGreaterThan(3);
    expect(fields.has('snapshot')).toBe(true);
    // the CLI: the summary of a good file, one clear line and exit 1 for a damaged one
    const goodFile = join(dir, 'good.twr');
    const badFile = join(dir, 'bad.twr');
    writeFileSync(goodFile, good);
    writeFileSync(badFile, good.subarray(0, good.length - 20));
    const out: string[] = [];
    const err: string[] = [];
    expect(replayCommand(['info', goodFile, '--json'], (l) => out.push(l), (l) => err.push(l))).toBe(0);
    expect(JSON.parse(out[0])).toMatchObject({ game: 'arena-v1', formatVersion: 1, finished: true, keyframes: r.keyTicks.length, players: ['p'], bytes: good.length });
    expect(replayCommand(['info', badFile], (l) => out.push(l), (l) => err.push(l))).toBe(1);
    expect(err[0]).toMatch(/is not a valid replay: replay format error at byte \d+ \(/);
    expect(replayCommand(['nope'], (l) => out.push(l), (l) => err.push(l))).toBe(2);
    const text = execFileSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'replay', 'info', goodFile], { encoding: 'utf8', timeout: 30_000 });
    for (const k of ['game', 'version', 'duration', 'ticks', 'keyframes', 'players', 'events', 'bytes/min']) expect(text).toMatch(new RegExp(`^${k} +\\S`, 'm'));
  }, 60_000);
});
