// One live-handoff run, for test/handoff.test.ts and bench/handoff.ts: two fleet members on a real
// redis-server (started here unless one is given), players with the whole client netcode joined
// through the matchmaker into rooms on the first, then the first drained with handoff. Measures
// what the players saw: sessions and entities kept, chat (reliable) lost, duplicated or
// reordered, the gap from the old owner's last snapshot to the new owner's first, prediction
// corrections, and the bytes each room took.
import { loadavg } from 'node:os';
import { arena } from '../../games/arena.ts';
import { requestSeat } from '../../netcode/matchmake.ts';
import { ClientNetcode } from '../../netcode/netcode.ts';
import { conditionClientIO } from '../../netcode/conditioned-io.ts';
import type { ClientIO } from '../../netcode/connection.ts';
import { defaultLinkSettings } from '../../shared/net/link-conditioner.ts';
import { nodeClientIO } from '../node-client/io.ts';
import type { AdminRoomsReply, AdminSession } from '../../shared/protocol/admin.ts';
import { parsePromText } from './prom.ts';
import { startRedis, type TestRedis } from './redis-server.ts';
import { ServerProcess } from './server-proc.ts';
import { seqDiff } from '../../shared/sequence.ts';
import { percentile, round } from './stats.ts';

/** What a run does. */
export interface HandoffRunOptions {
  /** Repository root (the servers' cwd). */
  root: string;
  /** Players in all, spread evenly over `rooms` rooms on the first member. Default 40 and 4. */
  players?: number;
  rooms?: number;
  /** A redis-server to use (redis://...); default: one started for the run. */
  redisUrl?: string;
  /** Link conditions every client applies to its own traffic (one-way delay, datagram loss on the WebSocket's binary messages). */
  link?: { delayMs: number; lossPct: number };
  /** The second member hosts this game instead (a member that must refuse the rooms). */
  targetGame?: string;
  /** Fleet lease, ms. Default 3000. */
  leaseMs?: number;
  /** Spectators watching each room (seats from the matchmaker with spectate), all through the move. Default 0. */
  spectatorsPerRoom?: number;
  /** Chat messages each player sends per second, all through the move. Default 2. */
  chatPerSec?: number;
  seed?: number;
  /** Progress lines (stderr in the benchmark). */
  log?: (line: string) => void;
}

/** What a run measured. */
export interface HandoffRunResult {
  players: number;
  rooms: number;
  /** Players whose session moved and resumed on the second member (same session id, same entity). */
  resumed: number;
  /** Players that ended without their session or entity (not resumed, a new session id or a new entity). */
  lostEntities: number;
  /** Chat messages (every receiver, every sender) never delivered, delivered twice, delivered out of order. */
  reliableLost: number;
  reliableDuplicated: number;
  reliableReordered: number;
  reliableSent: number;
  reliableExpected: number;
  /** Last snapshot from the old owner to the first from the new, over every moved player, ms. */
  gapMs: { p50: number; p99: number; max: number };
  /** Prediction corrections per player from the drain to the end, and in a window as long before it. */
  correctionsPerPlayer: number;
  correctionsPerPlayerBefore: number;
  /** Corrections per player in a window as long after that (the move over). */
  correctionsPerPlayerAfter: number;
  /** Largest of (corrections from the drain on) less (corrections in the window before) over the players. */
  correctionsExtraMax: number;
  /** The median player's (corrections from the drain on) less (corrections in the window before). */
  correctionsExtraP50: number;
  /** Per player, the inputs it had sent and the old owner had not acknowledged applied when `moved` came: median and largest. */
  inputsUnappliedAtMove: { p50: number; max: number };
  /** Inputs each player resent to the new owner after the move, mean (Connection counters.inputsResent). */
  inputsResentPerPlayer: number;
  /** The new owner's input counters per player at the end (tickwire_inputs_total): never applied (outcome "lost": skipped or evicted), and ticks that repeated (or stood) for want of one. */
  newOwnerInputsDroppedPerPlayer: number;
  newOwnerInputsRepeatedPerPlayer: number;
  /** Medians of the gap's parts: last snapshot to `moved`, `moved` to `resumed`, `resumed` to the first snapshot, ms. */
  phasesP50Ms: { lastSnapshotToMovedMs: number; movedToResumedMs: number; resumedToSnapshotMs: number };
  /** Per moved room, from the freeze to the `moved` messages on the old owner, ms (its log). */
  frozenMs: number[];
  senderLog: string[];
  /** Bytes the new owner received per room (saved room plus sessions). */
  bytesPerRoom: number;
  /** Rooms the second member lists as its own at the end, and rooms still on the first. */
  roomsMoved: number;
  /** Rooms the new owner counted as received (tickwire_fleet_rooms_received_total). */
  roomsReceived: number;
  roomsStayed: number;
  /** Refusals counted by the first and second member (tickwire_fleet_handoffs_refused_total). */
  refusedBySender: number;
  refusedByTarget: number;
  /** Rooms the first member counted as handed off (tickwire_fleet_rooms_handed_off_total, its last read before it exited: may miss the last room). */
  handedOff: number;
  /** Rooms the first member logged as moved. */
  movedLogged: number;
  /** Spectators in all, those that got `moved` and watched on at the new owner (same session, active, snapshots from it), and those sent away (`bye`). */
  spectators: number;
  spectatorsMoved: number;
  spectatorsSentAway: number;
  /** Per player, what its move did to its inputs and its prediction (see PlayerMove), in player order. */
  perPlayer: PlayerMove[];
  /** Over the moved players: median and largest of corrections after `moved`, of their size (units), and of the new owner's never-applied inputs. */
  moveCorrections: { p50: number; max: number; maxUnits: number; total: number };
  /**
   * Per player, the corrections at the old owner from the drain to `moved` (its room still playing
   * there while the rooms before it moved): median, largest, total. With moveCorrections they
   * make up the drain window's corrections (correctionsPerPlayer).
   */
  drainCorrections: { p50: number; max: number; total: number };
  /** The same, counting a correction again for the same acknowledged input and the same error once (how clients before the predictor's fix counted them). */
  moveCorrectionsDistinct: { p50: number; max: number };
  newOwnerLost: { p50: number; max: number };
  /** The first member exited by itself after its rooms left, and how. */
  senderExited: boolean;
  senderExitCode: number | null;
  /** 1-minute load average at the start and at the end. */
  load: { start: number; end: number };
}

const ADMIN = 'handoff-run-admin-token-0123456789';

/** One player's move, measured on both sides. */
export interface PlayerMove {
  name: string;
  /** Inputs the client sent from the old owner's last snapshot to `moved` (the freeze), and resent to the new owner. */
  sentDuringFreeze: number;
  resent: number;
  /** The new owner's input counters of this session when the drain window closed (GET /admin/rooms). */
  applied: number;
  lost: number;
  late: number;
  repeated: number;
  /** Prediction corrections from `moved` to the end of the drain window: when (ms after `moved`), how large (world units), and the input acknowledged. */
  corrections: { ms: number; units: number; ack: number }[];
  /** When the input clock restarted at the new owner: the label of its next new input less the new owner's tick as the client estimated it, ticks (the resend's inputs come first). */
  restartLeadTicks: number;
  /** Label shifts (ticks) the input clock made from its restart to the end of the window: the tick it predicted at against the tick the new owner applied at. */
  relabelTicksAfter: number;
  /** Starvations and skips the client's input clock counted from `moved` to the end of the window. */
  starvedAfter: number;
  skippedAfter: number;
}

interface Player {
  nc: ClientNetcode;
  name: string;
  sessionBefore: number;
  eidBefore: number;
  lastSnapMs: number;
  movedAtMs: number;
  resumedAtMs: number;
  snapBeforeMoveMs: number;
  gapMs: number;
  /** Newest input acknowledged applied (snapshot headers), and inputs unacknowledged when `moved` came. */
  lastAck: number;
  unappliedAtMove: number;
  /** Per sender: the chat numbers received, in order of arrival. */
  heard: Map<string, number[]>;
  sent: number;
  /** Inputs sent when the last snapshot before `moved` arrived, and when `moved` came. */
  inputsAtSnap: number;
  sentDuringFreeze: number;
  /** Corrections seen so far, and those after `moved`. */
  correctionsSeen: number;
  afterMove: { ms: number; units: number; ack: number }[];
  /** Corrections from the drain to `moved`. */
  beforeMove: number;
  /** The input clock's counters when `moved` came, and its first label and estimate of the server's tick when it restarted. */
  clockAtMove: { relabelTicks: number; starvations: number; skipped: number };
  restartLeadTicks: number;
  relabelAtRestart: number;
}

/** A spectator of the run. */
interface Watcher {
  nc: ClientNetcode;
  session: number;
  /** `moved` came, `bye` came, snapshots received after `moved`. */
  moved: boolean;
  bye: boolean;
  snapsAfter: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, timeoutMs: number, probe: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve(probe()).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  return parsePromText(text).filter((s) => s.name === name).reduce((n, s) => n + s.value, 0);
}

/** Corrections of one move, a repeat (same acknowledged input, same error as the one before) not counted. */
function distinctCorrections(m: PlayerMove): number {
  return m.corrections.filter((c, i) => i === 0 || c.ack !== m.corrections[i - 1].ack || c.units !== m.corrections[i - 1].units).length;
}

/** The sessions a member hosts, by id (GET /admin/rooms). */
async function adminSessions(url: string): Promise<Map<number, AdminSession>> {
  const res = await fetch(`${url}/admin/rooms`, { headers: { authorization: `Bearer ${ADMIN}` }, signal: AbortSignal.timeout(3000) });
  const body = (await res.json()) as AdminRoomsReply;
  return new Map(body.rooms.flatMap((r) => r.sessions.map((s) => [s.sessionId, s] as const)));
}

async function roomsOf(url: string): Promise<{ name: string; owner: string; players: number }[]> {
  const res = await fetch(`${url}/rooms`, { signal: AbortSignal.timeout(3000) });
  return ((await res.json()) as { rooms: { name: string; owner: string; players: number }[] }).rooms;
}

/** Runs one handoff: bounded in players (given), in time (every wait has a limit) and to 127.0.0.1. */
export async function runHandoff(o: HandoffRunOptions): Promise<HandoffRunResult> {
  const playersWanted = o.players ?? 40;
  const roomsWanted = o.rooms ?? 4;
  const leaseMs = o.leaseMs ?? 3000;
  const chatEveryMs = 1000 / (o.chatPerSec ?? 2);
  const log = o.log ?? (() => undefined);
  const loadStart = loadavg()[0];
  let redis: TestRedis | undefined;
  const procs: ServerProcess[] = [];
  const players: Player[] = [];
  const watchers: Watcher[] = [];
  let frameTimer: NodeJS.Timeout | undefined;
  /** When the drain was asked for (performance.now()), -1 before. */
  let drainedAtMs = -1;
  let chatTimer: NodeJS.Timeout | undefined;
  try {
    if (!o.redisUrl) redis = await startRedis();
    const redisUrl = o.redisUrl ?? redis!.url;
    const prefix = `tw-handoff-${process.pid}-${Date.now()}:`;
    const member = (id: string, game?: string): Promise<ServerProcess> =>
      ServerProcess.start({
        root: o.root, webrtc: false, npcs: 20, roomCapacity: Math.ceil(playersWanted / roomsWanted), ...(game ? { game } : {}),
        env: {
          TICKWIRE_REDIS_URL: redisUrl, TICKWIRE_FLEET_PREFIX: prefix, TICKWIRE_MEMBER_ID: id, TICKWIRE_FLEET_LEASE_MS: String(leaseMs),
          TICKWIRE_MATCHMAKE_PER_SEC: '10000', TICKWIRE_ADMIN_TOKEN: ADMIN, TICKWIRE_RESUME_GRACE_MS: '10000', TICKWIRE_DRAIN_MS: '60000', LOG_LEVEL: id === 'a' ? 'info' : 'warn',
        },
      });
    const a = await member('a');
    procs.push(a);
    log(`member a at ${a.url} (redis ${redisUrl})`);

    // Players, all on a (the only member yet), each with the whole client netcode.
    for (let i = 0; i < playersWanted; i++) {
      const name = `p${i}`;
      const seat = await requestSeat(a.url, { name, game: arena.name });
      let io: ClientIO = nodeClientIO({ webrtc: false });
      if (o.link) {
        io = conditionClientIO(io, {
          settings: { ...defaultLinkSettings(), enabled: true, delayMs: o.link.delayMs, lossPct: o.link.lossPct },
          seed: (o.seed ?? 1) * 1000 + i, timers: { nowMs: () => performance.now(), setTimer: (fn, ms) => setTimeout(fn, ms) }, lossyWebSocket: true,
        }).io;
      }
      const p: Player = { name, nc: undefined as unknown as ClientNetcode, sessionBefore: -1, eidBefore: -1, lastSnapMs: NaN, movedAtMs: NaN, resumedAtMs: NaN, snapBeforeMoveMs: NaN, gapMs: NaN, lastAck: -1, unappliedAtMove: NaN, heard: new Map(), sent: 0,
        inputsAtSnap: 0, sentDuringFreeze: NaN, correctionsSeen: 0, afterMove: [], beforeMove: 0, clockAtMove: { relabelTicks: 0, starvations: 0, skipped: 0 }, restartLeadTicks: NaN, relabelAtRestart: NaN };
      p.nc = new ClientNetcode(arena, io, { url: seat.url, name, room: seat.room, seat: seat.seat, transport: 'ws' }, {
        events: {
          onSnapshot: (_frame, header) => {
            const now = performance.now();
            if (header.hasInputAck) p.lastAck = header.inputAck;
            const corr = p.nc.corrections();
            if (corr !== p.correctionsSeen && Number.isNaN(p.movedAtMs) && drainedAtMs >= 0) p.beforeMove += corr - p.correctionsSeen;
            if (corr !== p.correctionsSeen && !Number.isNaN(p.movedAtMs)) p.afterMove.push({ ms: Math.round(now - p.movedAtMs), units: round(p.nc.predictor.lastErrorUnits, 2), ack: header.inputAck });
            p.correctionsSeen = corr;
            if (Number.isNaN(p.movedAtMs)) p.inputsAtSnap = p.nc.connection.counters.inputsSent;
            if (!Number.isNaN(p.movedAtMs) && Number.isNaN(p.gapMs) && p.nc.connection.state === 'active') p.gapMs = now - p.lastSnapMs;
            p.lastSnapMs = now;
          },
          onControl: (m) => {
            if (m.t === 'moved') {
              p.movedAtMs = performance.now();
              p.snapBeforeMoveMs = p.lastSnapMs;
              p.unappliedAtMove = p.lastAck < 0 ? NaN : seqDiff(p.nc.connection.nextInputSeq - 1, p.lastAck);
              p.sentDuringFreeze = p.nc.connection.counters.inputsSent - p.inputsAtSnap;
              const ic = p.nc.inputClock;
              p.clockAtMove = { relabelTicks: ic.relabelTicks, starvations: ic.starvations, skipped: ic.skipped };
            }
            else if (m.t === 'resumed' && !Number.isNaN(p.movedAtMs)) p.resumedAtMs = performance.now();
            else if (m.t === 'chat') {
              const [from, k] = m.text.split(':');
              let list = p.heard.get(from);
              if (!list) p.heard.set(from, (list = []));
              list.push(Number(k));
            }
          },
        },
      });
      p.nc.connect();
      players.push(p);
    }
    const t0 = performance.now();
    frameTimer = setInterval(() => {
      const now = performance.now();
      for (const w of watchers) w.nc.frame(now, {});
      for (let i = 0; i < players.length; i++) {
        const p = players[i];
        const restarting = !Number.isNaN(p.movedAtMs) && Number.isNaN(p.restartLeadTicks) && p.nc.inputClock.state === 'idle';
        p.nc.frame(now, { dir: (i + Math.floor((now - t0) / 700)) % 9 });
        if (restarting && p.nc.inputClock.state === 'running') {
          // the input clock restarted at the new owner in this frame: its labels against the tick it estimates there
          p.restartLeadTicks = round(p.nc.inputClock.nextTarget - p.nc.serverClock.serverTick(now), 2);
          p.relabelAtRestart = p.nc.inputClock.relabelTicks;
        }
      }
    }, 1000 / 30);
    await until(`${playersWanted} players active`, 60_000, () => players.every((p) => p.nc.connection.state === 'active'));
    for (const p of players) {
      p.sessionBefore = p.nc.connection.welcome!.sessionId;
      p.eidBefore = p.nc.connection.eid;
    }
    const before = await roomsOf(a.url);
    log(`${players.length} players in ${before.length} rooms on a`);
    // Spectators of each room, with the whole client netcode, following the room as the players do.
    for (const r of before) {
      for (let k = 0; k < (o.spectatorsPerRoom ?? 0); k++) {
        const name = `s${watchers.length}`;
        const seat = await requestSeat(a.url, { name, game: arena.name, room: r.name, spectate: true });
        const w: Watcher = { nc: undefined as unknown as ClientNetcode, session: -1, moved: false, bye: false, snapsAfter: 0 };
        w.nc = new ClientNetcode(arena, nodeClientIO({ webrtc: false }), { url: seat.url, name, room: seat.room, seat: seat.seat, transport: 'ws', spectate: true }, {
          events: {
            onSnapshot: () => void (w.moved && w.snapsAfter++),
            onControl: (m) => {
              if (m.t === 'moved') w.moved = true;
              else if (m.t === 'bye') w.bye = true;
            },
          },
        });
        w.nc.connect();
        watchers.push(w);
      }
    }
    await until(`${watchers.length} spectators active`, 30_000, () => watchers.every((w) => w.nc.connection.state === 'active'));
    for (const w of watchers) w.session = w.nc.connection.welcome!.sessionId;

    // Everyone chats from now to the end: every receiver must get every message of its room once, in order.
    chatTimer = setInterval(() => {
      for (const p of players) {
        if (p.nc.connection.state === 'closed') continue;
        p.sent++;
        p.nc.connection.sendControl({ t: 'chat', text: `${p.name}:${p.sent}` });
      }
    }, chatEveryMs);
    const b = await member('b', o.targetGame);
    procs.push(b);
    await until('b in the fleet', 10_000, async () => {
      const res = await fetch(`${a.url}/fleet`);
      return ((await res.json()) as { members: { id: string }[] }).members.some((m) => m.id === 'b');
    });
    const window = 3000;
    const correctionsAt = (): number[] => players.map((p) => p.nc.corrections());
    // The window before the drain starts once the second member's start-up (tsx, a cold JIT) is past and the clients' input clocks settled since they joined.
    await sleep(2000);
    const c0 = correctionsAt();
    await sleep(window);
    const c1 = correctionsAt();

    log('draining a with handoff');
    drainedAtMs = performance.now();
    const res = await fetch(`${a.url}/admin/drain`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ handoff: true, reason: 'handoff run' }) });
    if (res.status !== 202) throw new Error(`POST /admin/drain answered ${res.status}`);
    const drainedAt = Date.now();
    let handedOff = 0;
    let refusedBySender = 0;
    const readSender = async (): Promise<void> => {
      handedOff = Math.max(handedOff, await metric(a.url, 'tickwire_fleet_rooms_handed_off_total'));
      refusedBySender = Math.max(refusedBySender, await metric(a.url, 'tickwire_fleet_handoffs_refused_total'));
    };
    // a's counters, read every 250 ms until it exits (it leaves within a second of its last room)
    let polling = true;
    const poller = (async (): Promise<void> => {
      while (polling && !a.exited) {
        await readSender().catch(() => undefined);
        // every 250 ms: each read renders a's /metrics, work its tick loop waits for
        await sleep(250);
      }
    })();
    if (o.targetGame) {
      // a refusing target: the rooms stay; give the offers time to be made and refused
      await until('every room offered and refused', 20_000, async () => {
        await readSender();
        return refusedBySender >= before.length;
      });
      await sleep(1000);
    } else {
      await until('every player moved and resumed', 30_000, async () => {
        await readSender().catch(() => undefined);
        return players.every((p) => p.nc.connection.state === 'active' && !Number.isNaN(p.gapMs));
      });
    }
    const settle = Math.max(0, window - (Date.now() - drainedAt));
    await sleep(settle);
    const c2 = correctionsAt();
    const windowEnd = performance.now();
    const clockAtEnd = players.map((p) => ({ relabelTicks: p.nc.inputClock.relabelTicks, starvations: p.nc.inputClock.starvations, skipped: p.nc.inputClock.skipped }));
    const sessionsOnB = o.targetGame ? new Map<number, AdminSession>() : await adminSessions(b.url);
    const perPlayer: PlayerMove[] = players.map((p, i) => {
      const s = sessionsOnB.get(p.sessionBefore);
      return {
        name: p.name, sentDuringFreeze: p.sentDuringFreeze, resent: p.nc.connection.counters.inputsResent,
        applied: s?.inputs.applied ?? NaN, lost: s?.inputs.lost ?? NaN, late: s?.inputs.late ?? NaN, repeated: s?.inputs.repeated ?? NaN,
        corrections: p.afterMove.filter((c) => c.ms <= windowEnd - p.movedAtMs),
        restartLeadTicks: p.restartLeadTicks, relabelTicksAfter: clockAtEnd[i].relabelTicks - (Number.isNaN(p.relabelAtRestart) ? p.clockAtMove.relabelTicks : p.relabelAtRestart),
        starvedAfter: clockAtEnd[i].starvations - p.clockAtMove.starvations, skippedAfter: clockAtEnd[i].skipped - p.clockAtMove.skipped,
      };
    });
    await sleep(window);
    const c3 = correctionsAt();
    clearInterval(chatTimer);
    chatTimer = undefined;
    await sleep(1500 + 2 * (o.link?.delayMs ?? 0)); // the last chat delivered everywhere

    // Chat: each receiver hears every sender of its room (itself included) from 1 to what it sent.
    const roomOf = new Map(players.map((p) => [p.name, p.nc.connection.welcome?.room ?? '']));
    let lost = 0;
    let duplicated = 0;
    let reordered = 0;
    let expected = 0;
    for (const p of players) {
      for (const q of players) {
        if (roomOf.get(q.name) !== roomOf.get(p.name)) continue;
        const got = p.heard.get(q.name) ?? [];
        const seen = new Set<number>();
        let last = 0;
        for (const k of got) {
          if (seen.has(k)) duplicated++;
          else if (k < last) reordered++;
          seen.add(k);
          last = Math.max(last, k);
        }
        expected += q.sent;
        for (let k = 1; k <= q.sent; k++) if (!seen.has(k)) lost++;
      }
    }
    const moved = players.filter((p) => !Number.isNaN(p.gapMs));
    const kept = (p: Player): boolean => p.nc.connection.state === 'active' && p.nc.connection.welcome?.sessionId === p.sessionBefore && p.nc.connection.eid === p.eidBefore;
    const resumed = moved.filter(kept).length;
    const lostEntities = players.filter((p) => !kept(p)).length;
    const gaps = moved.map((p) => p.gapMs);
    const phases = {
      lastSnapshotToMovedMs: round(percentile(moved.map((p) => p.movedAtMs - p.snapBeforeMoveMs), 0.5), 1),
      movedToResumedMs: round(percentile(moved.map((p) => p.resumedAtMs - p.movedAtMs), 0.5), 1),
      resumedToSnapshotMs: round(percentile(moved.map((p) => p.snapBeforeMoveMs + p.gapMs - p.resumedAtMs), 0.5), 1),
    };
    const during = players.map((_, i) => c2[i] - c1[i]);
    const beforeDrain = players.map((_, i) => c1[i] - c0[i]);
    const received = await metric(b.url, 'tickwire_fleet_rooms_received_total');
    const bytes = await metric(b.url, 'tickwire_fleet_handoff_bytes_total');
    const refusedByTarget = await metric(b.url, 'tickwire_fleet_handoffs_refused_total');
    const after = await roomsOf(b.url);
    const inputsOf = async (outcome: string): Promise<number> =>
      parsePromText(await (await fetch(`${b.url}/metrics`, { signal: AbortSignal.timeout(2000) })).text()).filter((x) => x.name === 'tickwire_inputs_total' && x.labels.outcome === outcome).reduce((n, x) => n + x.value, 0);
    const droppedOnB = await inputsOf('lost');
    const repeatedOnB = await inputsOf('repeated');
    const unapplied = moved.map((p) => p.unappliedAtMove).filter((v) => Number.isFinite(v));
    if (!o.targetGame) await until('a to exit', 15_000, () => a.exited).catch(() => undefined);
    polling = false;
    await poller;
    const moves: { room: string; to: string; players: number; bytes: number; frozenMs: number; saveMs?: number }[] = [];
    for (const line of a.output) {
      try {
        const j = JSON.parse(line) as { msg?: string; room: string; to: string; players: number; bytes: number; frozenMs: number; saveMs?: number };
        if (j.msg === 'handoff: room moved') moves.push(j);
      } catch {
        // not a log line
      }
    }
    return {
      players: players.length, rooms: before.length, resumed, lostEntities,
      reliableLost: lost, reliableDuplicated: duplicated, reliableReordered: reordered, reliableSent: players.reduce((n, p) => n + p.sent, 0), reliableExpected: expected,
      gapMs: { p50: round(percentile(gaps, 0.5), 1), p99: round(percentile(gaps, 0.99), 1), max: round(gaps.length ? Math.max(...gaps) : NaN, 1) },
      correctionsPerPlayer: round(during.reduce((n, v) => n + v, 0) / players.length, 3), correctionsPerPlayerBefore: round(beforeDrain.reduce((n, v) => n + v, 0) / players.length, 3),
      correctionsPerPlayerAfter: round(players.reduce((n, _, i) => n + c3[i] - c2[i], 0) / players.length, 3),
      correctionsExtraMax: Math.max(...during.map((v, i) => v - beforeDrain[i])), correctionsExtraP50: percentile(during.map((v, i) => v - beforeDrain[i]), 0.5),
      inputsUnappliedAtMove: { p50: percentile(unapplied, 0.5), max: unapplied.length ? Math.max(...unapplied) : NaN },
      inputsResentPerPlayer: round(players.reduce((n, p) => n + ((p.nc.connection.counters as { inputsResent?: number }).inputsResent ?? 0), 0) / players.length, 2),
      newOwnerInputsDroppedPerPlayer: round(droppedOnB / players.length, 2), newOwnerInputsRepeatedPerPlayer: round(repeatedOnB / players.length, 2),
      movedLogged: moves.length, perPlayer,
      spectators: watchers.length, spectatorsSentAway: watchers.filter((w) => w.bye).length,
      spectatorsMoved: watchers.filter((w) => w.moved && w.nc.connection.state === 'active' && w.nc.connection.welcome?.sessionId === w.session && w.snapsAfter > 20).length,
      moveCorrections: {
        p50: percentile(perPlayer.map((m) => m.corrections.length), 0.5), max: Math.max(0, ...perPlayer.map((m) => m.corrections.length)),
        maxUnits: Math.max(0, ...perPlayer.flatMap((m) => m.corrections.map((c) => c.units))), total: perPlayer.reduce((n, m) => n + m.corrections.length, 0),
      },
      drainCorrections: { p50: percentile(players.map((p) => p.beforeMove), 0.5), max: Math.max(0, ...players.map((p) => p.beforeMove)), total: players.reduce((n, p) => n + p.beforeMove, 0) },
      moveCorrectionsDistinct: { p50: percentile(perPlayer.map(distinctCorrections), 0.5), max: Math.max(0, ...perPlayer.map(distinctCorrections)) },
      newOwnerLost: { p50: percentile(perPlayer.map((m) => m.lost), 0.5), max: Math.max(0, ...perPlayer.map((m) => m.lost)) }, phasesP50Ms: phases, frozenMs: moves.map((m) => m.frozenMs), senderLog: moves.map((m) => `${m.room} -> ${m.to}: ${m.players} players, ${m.bytes} bytes, frozen ${m.frozenMs} ms (${m.saveMs ?? NaN} ms of it saving)`),
      bytesPerRoom: received > 0 ? Math.round(bytes / received) : 0, roomsReceived: received,
      roomsMoved: after.filter((r) => r.owner === 'b').length, roomsStayed: after.filter((r) => r.owner === 'a').length,
      refusedBySender, refusedByTarget, handedOff: Math.max(handedOff, moves.length), senderExited: a.exited, senderExitCode: a.exitCode,
      load: { start: round(loadStart, 2), end: round(loadavg()[0], 2) },
    };
  } finally {
    if (frameTimer) clearInterval(frameTimer);
    if (chatTimer) clearInterval(chatTimer);
    for (const p of players) p.nc.connection.close();
    for (const w of watchers) w.nc.connection.close();
    for (const s of procs) await s.stop(3000).catch(() => undefined);
    await redis?.dispose();
  }
}
