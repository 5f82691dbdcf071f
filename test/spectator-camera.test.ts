// Spectators of rooms with interest rules: the view around the camera a spectator reports (before
// any camera, around the first player or the world centre), with the players' hysteresis, global
// entities and budget; following an entity it does not see yet; the radius cap, the rate limit and
// hostile camera messages at the real server; and, over the loopback with the real server under
// loss, duplication and reordering, every frame a panning spectator decodes is exactly the
// server's quantized state of its view. A recording of a room with views holds the whole world:
// played back, every frame is the room's whole quantized state at that tick.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addComponent } from 'bitecs';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { arenaV2, ARENA_V2_LEAVE_RADIUS, ARENA_V2_VIEW_RADIUS, ARENA_V2_WORLD_SIZE } from '../games/arena-v2.ts';
import { Connection } from '../netcode/connection.ts';
import { newReplayStats, replayRecorders } from '../server/replay-recorder.ts';
import { runTick } from '../server/tick.ts';
import { parseReplay, summarizeReplay } from '../shared/protocol/replay.ts';
import { loadServerConfig } from '../server/config.ts';
import { captureFrame } from '../server/history.ts';
import { viewFrameMatches, ViewSnapshotEncoder } from '../server/interest.ts';
import { LoopbackTransport, loopbackClientIO } from '../server/net/loopback.ts';
import { Player } from '../server/player.ts';
import { Room } from '../server/rooms.ts';
import { TickwireServer } from '../server/server.ts';
import { newEncoderStats } from '../server/snapshots.ts';
import { configHash, DEFAULT_NET_CONFIG, makeNetConfig, PROTOCOL_VERSION } from '../shared/config.ts';
import { defaultLinkSettings } from '../shared/net/link-conditioner.ts';
import { CAMERA_BYTES, writeCamera } from '../shared/protocol/camera.ts';
import { decodeServerControl, encodeControl, type ServerControl } from '../shared/protocol/control.ts';
import { CloseCode } from '../shared/protocol/ids.ts';
import { fixed, uint } from '../shared/protocol/quantize.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { SnapshotFrame } from '../shared/protocol/snapshot.ts';
import { defineGame, type GameContext } from '../shared/sim/game.ts';
import { Rng } from '../shared/sim/rng.ts';
import { parseBotsArgs, runBots } from '../tools/bots/cli.ts';
import { nodeClientIO } from '../tools/node-client/io.ts';
import { playAll } from './helpers/replay.ts';
import { startTestServer, urlOf, waitFor } from './helpers/server.ts';

const f32 = (n: number): Float32Array => new Float32Array(n);
function components(n: number) {
  return { Pos: { x: f32(n), y: f32(n) }, Beacon: {} };
}
type C = ReturnType<typeof components>;

/** 1000 x 1000, view radius 100, leave radius 150, Beacon entities global. */
const dots = defineGame<C, { dir: number }>({
  name: 'dots',
  maxEntities: 512,
  components,
  networked: { Pos: { x: fixed(0, 1000, 1 / 16), y: fixed(0, 1000, 1 / 16) } },
  local: ['Beacon'],
  input: { dir: uint(4) },
  position: { x: 'Pos.x', y: 'Pos.y' },
  interest: { viewRadius: 100, leaveRadius: 150, global: ['Beacon'] },
  stepPlayer() {},
  systems: () => [],
  spawnPlayer(ctx) {
    const e = ctx.spawn();
    addComponent(ctx.world, e, ctx.c.Pos);
    return e;
  },
});

/** A room of dots whose views the test steps itself (three tick phases per snapshot interval). */
function viewRoom(budget = 0) {
  const schema = compileSchema(dots);
  const room = new Room('t', dots, schema, DEFAULT_NET_CONFIG, 8, 1, {}, (s, n, st, i) => new ViewSnapshotEncoder(s, i!, n, st), 0, newEncoderStats(), undefined, undefined, undefined, budget);
  const ctx = room.ctx as unknown as GameContext<C>;
  const move = (e: number, x: number, y: number): void => {
    ctx.c.Pos.x[e] = x;
    ctx.c.Pos.y[e] = y;
  };
  const spawn = (x: number, y: number, beacon = false): number => {
    const e = ctx.spawn();
    addComponent(ctx.world, e, ctx.c.Pos);
    if (beacon) addComponent(ctx.world, e, ctx.c.Beacon);
    move(e, x, y);
    return e;
  };
  let tick = 0;
  const step = (): SnapshotFrame => {
    let frame: SnapshotFrame | undefined;
    for (let k = 0; k < 3; k++) {
      room.ctx.tick = ++tick;
      frame = room.history.claim(tick);
      captureFrame(room.schema, room.replicated, room.hasNetComponent, room.stores, room.presence, frame, room.history.rates);
      room.interest!.update(frame, room.players);
    }
    return frame!;
  };
  const viewIds = (p: Player): number[] => {
    const view = room.interest!.peek(p)!;
    return Array.from(view.ids[view.newest].subarray(0, view.counts[view.newest]));
  };
  const spectator = (id: number, radius = 0): Player => {
    const p = new Player(id, `s${id}`, 1, 8);
    room.addSpectator(p, radius);
    return p;
  };
  return { room, ctx, move, spawn, step, viewIds, spectator };
}

const sorted = (a: number[]): number[] => [...a].sort((x, y) => x - y);

describe('spectator views: the camera', () => {
  it('before any camera: around the world centre, then around the first player once there is one', () => {
    const w = viewRoom();
    const centre = w.spawn(520, 480);
    const corner = w.spawn(100, 100);
    const beacon = w.spawn(990, 10, true);
    const s = w.spectator(100);
    w.step();
    expect(w.viewIds(s)).toEqual(sorted([centre, beacon]));
    const player = new Player(1, 'p', 1, 8);
    w.room.addPlayer(player);
    w.move(player.eid, 120, 110);
    w.step();
    // centred on the player now; `centre` left (beyond the leave radius of the player)
    expect(w.viewIds(s)).toEqual(sorted([corner, beacon, player.eid]));
  });

  it('sees the entities near its camera and none far away, follows a camera move with the players\' hysteresis', () => {
    const w = viewRoom();
    const a = w.spawn(200, 200);
    const b = w.spawn(800, 800);
    const between = w.spawn(320, 200); // 120 from a: beyond the enter radius, inside the leave radius
    const s = w.spectator(100);
    expect(w.room.interest!.aim(s, 200, 200, 100)).toBe(true);
    w.step();
    expect(w.viewIds(s)).toEqual([a]);
    // pan 40 to the right: `between` is 80 away, enters; a is 40 away, stays
    w.room.interest!.aim(s, 240, 200, 100);
    w.step();
    expect(w.viewIds(s)).toEqual(sorted([a, between]));
    // back: `between` is 120 away, inside the leave radius: held
    w.room.interest!.aim(s, 200, 200, 100);
    w.step();
    expect(w.viewIds(s)).toEqual(sorted([a, between]));
    // across the world: everything near the old point leaves, b enters
    w.room.interest!.aim(s, 790, 810, 100);
    w.step();
    expect(w.viewIds(s)).toEqual([b]);
    // a wider radius (zoomed out) takes in more
    w.room.interest!.aim(s, 500, 500, 450);
    w.step();
    expect(w.viewIds(s)).toEqual(sorted([a, b, between]));
    // clamped into the world: a point far outside looks at the corner
    w.room.interest!.aim(s, -1e6, -1e6, 100);
    w.step();
    expect(w.room.interest!.peek(s)).toMatchObject({ camX: 0, camY: 0 });
    expect(w.viewIds(s)).toEqual([]);
  });

  it('follows an entity it does not see yet: the view is centred on it and holds it', () => {
    const w = viewRoom();
    const target = w.spawn(900, 900);
    const near = w.spawn(950, 900);
    const s = w.spectator(100);
    w.room.interest!.aim(s, 100, 100, 100, target);
    w.step();
    expect(w.viewIds(s)).toEqual(sorted([target, near]));
    w.move(target, 500, 500);
    w.step();
    expect(w.viewIds(s)).toEqual([target]);
    // the followed entity gone: back to the camera's point
    w.ctx.despawn(target);
    w.step();
    expect(w.viewIds(s)).toEqual([]);
  });

  it('equals a brute-force view with hysteresis for random worlds and camera moves', () => {
    const rng = new Rng(11);
    for (let world = 0; world < 4; world++) {
      const w = viewRoom();
      const others = Array.from({ length: 200 }, (_, i) => w.spawn(rng.range(0, 1000), rng.range(0, 1000), i % 40 === 0));
      const specs = Array.from({ length: 3 }, (_, i) => w.spectator(10 + i));
      const cams = specs.map(() => ({ x: rng.range(0, 1000), y: rng.range(0, 1000), r: 100 }));
      const prev = new Map<Player, Set<number>>();
      const q = (v: number): number => Math.round(v * 16) / 16;
      for (let t = 0; t < 30; t++) {
        for (const e of others) w.move(e, Math.min(1000, Math.max(0, w.ctx.c.Pos.x[e] + rng.range(-20, 20))), Math.min(1000, Math.max(0, w.ctx.c.Pos.y[e] + rng.range(-20, 20))));
        specs.forEach((s, i) => {
          const c = cams[i];
          c.x = Math.min(1000, Math.max(0, c.x + rng.range(-60, 60)));
          c.y = Math.min(1000, Math.max(0, c.y + rng.range(-60, 60)));
          if (t % 10 === 9) c.r = rng.range(50, 200);
          w.room.interest!.aim(s, c.x, c.y, c.r);
        });
        const frame = w.step();
        specs.forEach((s, i) => {
          const c = cams[i];
          const was = prev.get(s) ?? new Set<number>();
          const want = new Set<number>();
          for (let k = 0; k < frame.count; k++) {
            const e = frame.ids[k];
            const dx = q(w.ctx.c.Pos.x[e]) - c.x;
            const dy = q(w.ctx.c.Pos.y[e]) - c.y;
            const d2 = dx * dx + dy * dy;
            const leave = c.r * 1.5;
            if (others.indexOf(e) % 40 === 0 || d2 <= c.r * c.r || (d2 <= leave * leave && was.has(e))) want.add(e);
          }
          const got = w.viewIds(s);
          expect(got).toEqual(sorted([...want]));
          prev.set(s, new Set(got));
        });
      }
    }
  });

  it('waits for the byte budget like a player, and a removed spectator is forgotten', () => {
    const w = viewRoom(1);
    const rng = new Rng(2);
    const crowd = Array.from({ length: 30 }, () => w.spawn(500 + rng.range(-60, 60), 500 + rng.range(-60, 60)));
    const s = w.spectator(100);
    w.room.interest!.aim(s, 500, 500, 100);
    const seen = new Set<number>();
    for (let k = 0; k < 40; k++) {
      const frame = w.step();
      w.room.encoder.begin(frame, w.room.history);
      w.room.encoder.encodeFor(s, () => undefined);
      s.ackedTick = frame.tick;
      s.ackedBits = 0xffffffff;
      const ids = w.viewIds(s);
      if (k === 0) expect(ids.length).toBeLessThan(crowd.length);
      for (const id of ids) seen.add(id);
    }
    expect(w.room.interest!.stats.deferred).toBeGreaterThan(0);
    for (const e of crowd) expect(seen.has(e), `entity ${e}`).toBe(true);
    expect(w.room.interest!.watching).toBe(1);
    w.room.removeSpectator(s, 0);
    expect(w.room.interest!.watching).toBe(0);
    expect(w.room.interest!.peek(s)).toBeUndefined();
    expect(w.room.interest!.aim(s, 1, 1, 100)).toBe(false);
  });
});

describe('spectator views: the server', () => {
  it('every frame a panning spectator decodes is exactly the server state of its view, under loss, duplication and reordering', async () => {
    let now = 0;
    const nowMs = (): number => now;
    const config = loadServerConfig({}, { webrtc: false, logLevel: 'silent', resumeGraceMs: 0, game: 'arena-v2', roomCapacity: 16, gameParams: { npcs: 600 } });
    const server = new TickwireServer(config, { game: arenaV2, clock: { nowMs }, autoTick: false });
    const link = { ...defaultLinkSettings(), enabled: true, delayMs: 30, jitterMs: 25, lossPct: 10, duplicatePct: 3, reorderPct: 10 };
    const transport = new LoopbackTransport({ reliable: true, manual: true, nowMs, link, lossyDatagrams: true });
    server.startInProcess(transport);
    const rng = new Rng(9);
    const conn = (i: number, room?: string): Connection => new Connection(arenaV2, loopbackClientIO(transport, undefined, { nowMs, remoteAddress: `10.0.1.${i}` }), { url: 'http://loopback', name: `c${i}`, transport: 'ws', ...(room ? { room, spectate: true } : {}) });
    const players = Array.from({ length: 4 }, (_, i) => ({ conn: conn(i), dir: 0 }));
    for (const p of players) p.conn.connect();
    const specs: { conn: Connection; x: number; y: number; checked: number; bad: number; far: number; centred: number; centres: Map<number, [number, number]> }[] = [];
    const live: { room?: Room } = {};
    const playerOf = (c: Connection): Player | undefined => live.room?.spectators.find((p) => p.id === c.welcome?.sessionId);
    const tick = (n: number, each?: (t: number) => void): void => {
      for (let t = 0; t < n; t++) {
        const room = live.room;
        now += 1000 / 60;
        each?.(t);
        for (const p of players) {
          if (t % 20 === 0) p.dir = rng.int(9);
          if (p.conn.state === 'active') p.conn.sendInput({ dir: p.dir }, (room?.ctx.tick ?? 0) + 1);
        }
        transport.pump();
        server.frame({ run: 1, skipped: 0 });
        if (room) {
          for (const s of specs) {
            const p = playerOf(s.conn);
            const view = p && room.interest!.peek(p);
            if (view?.placed && view.newest >= 0 && view.ticks[view.newest] === room.ctx.tick) s.centres.set(room.ctx.tick, [view.camX, view.camY]);
          }
        }
        transport.pump();
      }
    };
    tick(5);
    const room = (live.room = server.rooms.list[0]);
    tick(55);
    expect(room.players.length).toBe(4);
    const xf = room.schema.fields.findIndex((f) => f.component === 'Position' && f.field === 'x');
    const yf = room.schema.fields.findIndex((f) => f.component === 'Position' && f.field === 'y');
    for (let i = 0; i < 3; i++) specs.push({ conn: conn(10 + i, room.name), x: 1000 + 3000 * i, y: 4096, checked: 0, bad: 0, far: 0, centred: 0, centres: new Map() });
    for (const s of specs) {
      s.conn.events.onSnapshot = (frame) => {
        if (!frame.complete) return;
        const p = playerOf(s.conn);
        if (!p) return;
        const ok = viewFrameMatches(room.history, room.interest, p, frame);
        if (ok === undefined) return;
        s.checked++;
        if (!ok) s.bad++;
        // nothing beyond the leave radius of the camera point the view of that tick was centred on
        const c = s.centres.get(frame.tick);
        if (!c) return;
        s.centred++;
        for (let i = 0; i < frame.count; i++) {
          const dx = frame.values[i * frame.fieldCount + xf] / 16 - c[0];
          const dy = frame.values[i * frame.fieldCount + yf] / 16 - c[1];
          if (Math.hypot(dx, dy) > ARENA_V2_LEAVE_RADIUS + 0.1) s.far++;
        }
      };
      s.conn.connect();
    }
    // pan: each spectator's camera moves 300 units a second to the right, sent as it moves
    const down0 = { s: 0, p: players.reduce((a, p) => a + p.conn.counters.bytesDown, 0), up: 0 };
    tick(60, () => {
      for (const s of specs) if (s.conn.state === 'active') s.conn.setCamera(s.x, s.y, 0, -1, now);
    });
    down0.s = specs.reduce((a, s) => a + s.conn.counters.bytesDown, 0);
    down0.up = specs.reduce((a, s) => a + s.conn.counters.bytesUp, 0);
    tick(60 * 8, () => {
      for (const s of specs) {
        s.x = Math.min(ARENA_V2_WORLD_SIZE - 1, s.x + 5);
        if (s.conn.state === 'active') s.conn.setCamera(s.x, s.y, 0, -1, now);
      }
    });
    expect(room.spectators.length).toBe(3);
    const perSpec = (specs.reduce((a, s) => a + s.conn.counters.bytesDown, 0) - down0.s) / specs.length / 8;
    const upSpec = (specs.reduce((a, s) => a + s.conn.counters.bytesUp, 0) - down0.up) / specs.length / 8;
    const perPlayer = (players.reduce((a, p) => a + p.conn.counters.bytesDown, 0) - down0.p) / players.length / 9;
    console.log(`panning spectator ${perSpec.toFixed(0)} B/s down, ${upSpec.toFixed(0)} B/s up (acks and cameras); a player ${perPlayer.toFixed(0)} B/s down (arena-v2, 600 NPCs, 10% loss)`);
    const cams = server.stats.spectatorCameras;
    expect(cams.applied).toBeGreaterThan(3 * 40);
    for (const s of specs) {
      expect(s.checked, 'frames checked').toBeGreaterThan(80);
      expect(s.bad).toBe(0);
      expect(s.centred, 'frames checked against their camera point').toBeGreaterThan(80);
      expect(s.far).toBe(0);
      // the view is where the camera is now, and holds the entities near it (no budget crowding out 600 NPCs spread thin)
      const p = playerOf(s.conn)!;
      const view = room.interest!.peek(p)!;
      expect(view.camX).toBeGreaterThan(s.x - 300);
      const frame = s.conn.receiver!.latest()!;
      expect(frame.count).toBeGreaterThan(0);
      let near = 0;
      const truth = room.history.get(frame.tick)!;
      for (let i = 0; i < truth.count; i++) {
        const d = Math.hypot(truth.values[i * truth.fieldCount + xf] / 16 - view.camX, truth.values[i * truth.fieldCount + yf] / 16 - view.camY);
        if (d < ARENA_V2_VIEW_RADIUS - 100) {
          near++;
          expect(frame.indexOf(truth.ids[i]), `entity ${truth.ids[i]} near the camera`).toBeGreaterThanOrEqual(0);
        }
      }
      expect(near).toBeGreaterThan(0);
    }
    // the views followed the pan: entities entered and left them
    expect(server.stats.interest.left).toBeGreaterThan(30);
    for (const c of [...players, ...specs]) c.conn.close();
    transport.pump();
    await server.stop();
  }, 60_000);
});

describe('spectator cameras: hostile and excess messages at the real server', () => {
  it('decodes and counts bad ones, ignores a player\'s, caps the radius, rate-limits a flood, and disconnects past maxBadMessages', async () => {
    const srv = await startTestServer({ game: 'arena-v2', gameParams: { npcs: 50 }, resumeGraceMs: 0, cameraPerSec: 10, spectatorMaxViewRadius: 1500, maxBadMessages: 20 }, { game: arenaV2 });
    try {
      const player = new Connection(arenaV2, nodeClientIO({ webrtc: false }), { url: urlOf(srv), name: 'p', room: 'hostile', transport: 'ws' });
      player.connect();
      await waitFor(() => player.state === 'active', 5000, 'player welcome');
      const room = srv.rooms.get('hostile')!;
      const ws = new WebSocket(`${urlOf(srv).replace('http', 'ws')}/ws`);
      const msgs: ServerControl[] = [];
      let closeCode = 0;
      ws.on('message', (d: Buffer) => d[0] === 1 && msgs.push(decodeServerControl(new Uint8Array(d))));
      ws.on('close', (code) => (closeCode = code));
      await new Promise((r) => ws.once('open', r));
      ws.send(encodeControl({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arenaV2), name: 'watcher', room: 'hostile', spectate: true }));
      await waitFor(() => msgs.some((m) => m.t === 'welcome'), 5000, 'spectator welcome');
      expect(msgs.find((m) => m.t === 'welcome')).toMatchObject({ spectator: true });
      const spectator = room.spectators[0];
      const cams = srv.stats.spectatorCameras;
      // a player's camera is decoded and ignored
      player.sendUnreliable(writeCamera(new Uint8Array(CAMERA_BYTES), 100, 100, 0).slice());
      await waitFor(() => cams.ignored >= 1, 3000, 'player camera ignored');
      // a radius past the cap is capped; a point outside the world clamped
      ws.send(writeCamera(new Uint8Array(CAMERA_BYTES), 1e8, -5, 1e8).slice());
      await waitFor(() => cams.applied >= 1, 3000, 'camera applied');
      expect(room.interest!.peek(spectator)).toMatchObject({ camX: ARENA_V2_WORLD_SIZE, camY: 0, camRadius: 1500, placed: true });
      // a flood: at most a second's worth (10) applied, the rest dropped and counted
      for (let i = 0; i < 40; i++) ws.send(writeCamera(new Uint8Array(CAMERA_BYTES), 200 + i, 300, 0).slice());
      await waitFor(() => cams.applied + cams.rate_limited >= 41, 3000, 'flood handled');
      expect(cams.rate_limited).toBeGreaterThanOrEqual(25);
      expect(room.interest!.peek(spectator)!.camRadius).toBe(ARENA_V2_VIEW_RADIUS);
      // hostile bytes: wrong lengths, NaN, infinities, a negative radius, each counted, the server unharmed
      const bad: Uint8Array[] = [new Uint8Array([6]), new Uint8Array(CAMERA_BYTES + 1).fill(6, 0, 1), new Uint8Array(CAMERA_BYTES - 1).fill(6, 0, 1)];
      const put = (at: number, v: number): Uint8Array => {
        const b = writeCamera(new Uint8Array(CAMERA_BYTES), 1, 1, 1).slice();
        new DataView(b.buffer).setFloat32(at, v, true);
        return b;
      };
      bad.push(put(1, NaN), put(5, Infinity), put(9, -1), put(9, -Infinity), put(1, 3e9));
      const before = srv.stats.decodeErrors.camera;
      for (const b of bad) ws.send(b);
      await waitFor(() => srv.stats.decodeErrors.camera >= before + bad.length, 3000, 'bad cameras counted');
      expect(room.interest!.peek(spectator)!.camX).toBeLessThan(300);
      expect(room.spectators.length).toBe(1);
      for (let i = 0; i < 20; i++) ws.send(put(5, NaN));
      await waitFor(() => closeCode !== 0, 5000, 'disconnected for bad messages');
      expect(closeCode).toBe(4100 + CloseCode.TooManyBadMessages);
      await waitFor(() => room.spectators.length === 0, 3000, 'spectator gone');
      // the room and the player carry on
      expect(room.players.length).toBe(1);
      const text = await (await fetch(`${urlOf(srv)}/metrics`)).text();
      for (const outcome of ['applied', 'rate_limited', 'ignored']) expect(text).toMatch(new RegExp(`tickwire_spectator_cameras_total\\{outcome="${outcome}"\\} [1-9]`));
      expect(text).toMatch(/tickwire_decode_errors_total\{message="camera"\} [1-9]/);
      player.close();
    } finally {
      await srv.stop();
    }
  });
});

describe('spectator cameras: bots', () => {
  it('--spectate --camera-pan moves each bot\'s camera across the world, and the server centres its view there', async () => {
    expect(() => parseBotsArgs(['--url', 'http://127.0.0.1:1', '--room', 'r', '--camera-pan', '100'])).toThrow(/--camera-pan .* needs --spectate/);
    expect(parseBotsArgs(['--url', 'http://127.0.0.1:1', '--room', 'r', '--spectate', '--camera-pan', '100']).cameraPanUnitsPerSec).toBe(100);
    const srv = await startTestServer({ game: 'arena-v2', gameParams: { npcs: 200 }, clientRoomParams: { npcs: 200 }, resumeGraceMs: 0 }, { game: arenaV2 });
    const player = new Connection(arenaV2, nodeClientIO({ webrtc: false }), { url: urlOf(srv), name: 'p', room: 'panned', transport: 'ws' });
    try {
      player.connect();
      await waitFor(() => player.state === 'active', 5000, 'player welcome');
      const room = srv.rooms.get('panned')!;
      const seen = new Map<number, number[]>();
      const sample = setInterval(() => {
        for (const p of room.spectators) {
          const v = room.interest!.peek(p);
          if (v?.placed) seen.set(p.id, [...(seen.get(p.id) ?? []), v.camX + v.camY]);
        }
      }, 100);
      const result = await runBots({ ...parseBotsArgs(['--url', urlOf(srv), '--room', 'panned', '--spectate', '--camera-pan', '1000', '--count', '2', '--seconds', '2']), inProcess: true });
      clearInterval(sample);
      expect(result.summary.errors).toBe(0);
      expect(seen.size).toBe(2);
      for (const [id, track] of seen) {
        expect(track.length, `samples of spectator ${id}`).toBeGreaterThan(5);
        expect(Math.max(...track) - Math.min(...track), `camera travel of spectator ${id}`).toBeGreaterThan(500);
      }
      expect(srv.stats.spectatorCameras.applied).toBeGreaterThan(20);
      expect(srv.stats.spectatorCameras.rate_limited).toBe(0);
      expect(room.players.length).toBe(1);
    } finally {
      player.close();
      await srv.stop();
    }
  }, 30_000);
});

describe('recording a room with views', () => {
  it('records the whole world: played back, every frame is the room\'s whole quantized state at that tick', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tickwire-speccam-replay-'));
    try {
      const schema = compileSchema(arenaV2);
      const stats = newReplayStats();
      const recorders = replayRecorders(true, { dir, keyframeSec: 1, maxBytes: 1 << 30 }, arenaV2, configHash(arenaV2), stats, pino({ level: 'silent' }))!;
      const room = new Room('rec', arenaV2, schema, makeNetConfig({}), 8, 3, { npcs: 300 }, (s2, n, st, i) => new ViewSnapshotEncoder(s2, i!, n, st), 0, newEncoderStats());
      expect(room.interest!.phases).toBe(3);
      room.recorder = recorders(room);
      const rng = new Rng(4);
      const value = new Uint32Array(1);
      const bots = Array.from({ length: 3 }, (_, i) => {
        const p = new Player(i + 1, `bot-${i + 1}`, 1, 8);
        room.addPlayer(p);
        p.send = (bytes) => {
          const tick = (bytes[2] | (bytes[3] << 8) | (bytes[4] << 16) | (bytes[5] << 24)) >>> 0;
          if (tick > p.ackedTick && bytes[8] === bytes[9] - 1) p.ackedTick = tick;
        };
        return { p, seq: 0, dir: 0 };
      });
      const truth = new Map<number, SnapshotFrame>();
      const host = { drainNetEvents: () => undefined, rooms: [room] };
      for (let t = 0; t < 60 * 4; t++) {
        for (const b of bots) {
          if (t % 30 === 0) b.dir = rng.int(9);
          value[0] = b.dir;
          b.p.inputs.offer(b.seq, value, 0);
          b.seq = (b.seq + 1) & 0xffff;
        }
        runTick(host);
        const f = room.history.get(room.ctx.tick)!;
        const copy = new SnapshotFrame(schema, f.count);
        copy.copyFrom(f);
        truth.set(f.tick, copy);
      }
      // the interest counters are the clients' views: the recording's whole-world view is not among them
      expect(room.interest!.stats.views).toBe(bots.length * (240 / 3));
      await room.recorder!.finish();
      expect(room.interest!.watching).toBe(0);
      const file = readdirSync(dir).find((f) => f.endsWith('.twr'))!;
      const bytes = new Uint8Array(readFileSync(join(dir, file)));
      const replay = parseReplay(bytes);
      expect(replay.finished).toBe(true);
      // one snapshot per interval, on the recording's tick phase
      const st = replay.snapshotTicks;
      expect(st.length).toBeGreaterThan(70);
      for (let i = 1; i < st.length; i++) expect(st[i] - st[i - 1]).toBe(3);
      expect(summarizeReplay(replay).keyframes).toBeGreaterThanOrEqual(3);
      const { frames } = playAll(arenaV2, bytes);
      expect(frames.size).toBe(st.length);
      for (const [tick, f] of frames) {
        const want = truth.get(tick)!;
        expect(f.count, `entities at tick ${tick}`).toBe(want.count);
        expect(f.count).toBe(300 + 3);
        expect(Array.from(f.ids.subarray(0, f.count))).toEqual(Array.from(want.ids.subarray(0, want.count)));
        expect(Array.from(f.values.subarray(0, f.count * f.fieldCount)), `values at tick ${tick}`).toEqual(Array.from(want.values.subarray(0, want.count * want.fieldCount)));
        expect(Array.from(f.rates.subarray(0, f.count * f.rateCount)), `rates at tick ${tick}`).toEqual(Array.from(want.rates.subarray(0, want.count * want.rateCount)));
        expect(Array.from(f.masks.subarray(0, f.count))).toEqual(Array.from(want.masks.subarray(0, want.count)));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
