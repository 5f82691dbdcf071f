// Who is in the room, told to a player entering it: `roster` messages of up to MAX_ROSTER_PLAYERS
// players when its hello asks for them (every client of this release does), else one `joined` per
// player (a client of an earlier release); everyone already there hears of the newcomers of one
// inbox drain together, in one `roster` (or a `joined` each), and of an arrival before a departure.
import { afterEach, describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { Connection } from '../netcode/connection.ts';
import { configHash, PROTOCOL_VERSION } from '../shared/config.ts';
import { decodeServerControl, encodeControl, MAX_ROSTER_PLAYERS, type ClientControl, type ServerControl } from '../shared/protocol/control.ts';
import { MsgType } from '../shared/protocol/ids.ts';
import { loadServerConfig } from '../server/config.ts';
import { LoopbackTransport, loopbackClientIO } from '../server/net/loopback.ts';
import { TickwireServer } from '../server/server.ts';
import { Roster as PageRoster } from '../client/roster.ts';

type Roster = Extract<ServerControl, { t: 'roster' }>;
type Joined = Extract<ServerControl, { t: 'joined' }>;

/** A server on a fake clock with a manual loopback, and clients of this release or raw ones of an earlier release. */
interface Rig {
  server: TickwireServer;
  clock: { now: number };
  reliable: LoopbackTransport;
  /** Each client's control messages, in order. */
  controls: Map<Connection, ServerControl[]>;
  /** A client of this release (its hello asks for rosters) named `${prefix}${i}`, from its own address. */
  connect(i: number): Connection;
  /** A raw client saying hello as `name`, with `roster` as given (false: a client of an earlier release). */
  raw(address: string, name: string, roster: boolean): { peer: ReturnType<LoopbackTransport['connect']>; seen: ServerControl[]; id(): number | undefined };
}

let srv: TickwireServer | undefined;
afterEach(async () => {
  await srv?.stop();
  srv = undefined;
});

function rig(o: { room: string; prefix: string; net: number; seed: number; capacity: number; resumeGraceMs?: number }): Rig {
  const clock = { now: 0 };
  const nowMs = (): number => clock.now;
  const config = loadServerConfig({}, {
    webrtc: false, logLevel: 'silent', roomCapacity: o.capacity, maxSessions: o.capacity + 50, gameParams: { npcs: 0 }, clientRoomParams: { npcs: 0 },
    ...(o.resumeGraceMs !== undefined ? { resumeGraceMs: o.resumeGraceMs } : {}),
  });
  const server = new TickwireServer(config, { game: arena, clock: { nowMs }, autoTick: false });
  srv = server;
  const reliable = new LoopbackTransport({ reliable: true, seed: o.seed, manual: true, nowMs });
  server.startInProcess(reliable);
  const controls = new Map<Connection, ServerControl[]>();
  return {
    server, clock, reliable, controls,
    connect: (i) => {
      const io = loopbackClientIO(reliable, undefined, { nowMs, remoteAddress: `10.${o.net}.${i >> 8}.${i & 255}` });
      const c = new Connection(arena, io, { url: 'http://loopback', name: `${o.prefix}${i}`, room: o.room, transport: 'ws' });
      const seen: ServerControl[] = [];
      controls.set(c, seen);
      c.events.onControl = (m) => void seen.push(m);
      c.connect();
      return c;
    },
    raw: (address, name, roster) => {
      const peer = reliable.connect({ remoteAddress: address });
      const seen: ServerControl[] = [];
      peer.onmessage = (ev) => {
        const bytes = ev.data as Uint8Array;
        if (bytes[0] === MsgType.Control) seen.push(decodeServerControl(bytes));
      };
      const hello: ClientControl = { t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arena), name, room: o.room, wsOnly: true, ...(roster ? { roster: true } : {}) };
      peer.onopen = () => peer.send(encodeControl(hello));
      return { peer, seen, id: () => seen.find((m): m is Extract<ServerControl, { t: 'welcome' }> => m.t === 'welcome')?.sessionId };
    },
  };
}

describe('the players in the room, told to a player entering it', { timeout: 60_000 }, () => {
  it('come in roster messages of at most 256 players, or as a joined each for a hello without roster', async () => {
    const N = MAX_ROSTER_PLAYERS + 44;
    const { server, clock, reliable, controls, connect, raw } = rig({ room: 'big', prefix: 'p', net: 1, seed: 1, capacity: N + 2 });
    const run = async (ms: number): Promise<void> => {
      for (let t = 0; t < ms; t++) {
        clock.now += 1;
        reliable.pump();
        if (t % 16 === 0) server.tickOnce();
        reliable.pump();
        await Promise.resolve();
      }
    };
    const first = Array.from({ length: N }, (_, i) => connect(i));
    await run(400);
    const room = server.rooms.get('big');
    expect(room?.players.length).toBe(N);

    // A client of this release: its netcode's hello asks for the roster.
    const late = connect(N);
    await run(200);
    expect(room?.players.length).toBe(N + 1);
    const got = controls.get(late) as ServerControl[];
    const rosters = got.filter((m): m is Roster => m.t === 'roster');
    expect(rosters.map((m) => m.players.length)).toEqual([MAX_ROSTER_PLAYERS, N - MAX_ROSTER_PLAYERS]);
    expect(got.filter((m) => m.t === 'joined')).toEqual([]);
    const others = (room?.players ?? []).filter((p) => p.name !== `p${N}`).map((p) => ({ sessionId: p.id, name: p.name, eid: p.eid }));
    expect(rosters.flatMap((m) => m.players)).toEqual(others);
    // everyone already there hears of the newcomer once, in a roster of one
    for (const c of first) {
      const seen = controls.get(c) as ServerControl[];
      const told = seen.filter((m): m is Roster => m.t === 'roster' && m.players.some((p) => p.name === `p${N}`));
      expect(told.map((m) => m.players.length)).toEqual([1]);
      expect(seen.filter((m) => m.t === 'joined')).toEqual([]);
    }
    // and every client, of the first ones too (entering in bursts), holds each other player once
    for (const c of [...first, late]) expect(heldBy(controls.get(c) as ServerControl[])).toEqual(othersOf(room?.players ?? [], c.welcome?.sessionId));

    // A hello without roster (a client of an earlier release): a joined per player, as before.
    const { seen: old } = raw('10.2.0.1', 'old', false);
    await run(200);
    expect(old.some((m) => m.t === 'welcome')).toBe(true);
    expect(old.filter((m) => m.t === 'roster')).toEqual([]);
    const joined = old.filter((m): m is Joined => m.t === 'joined').map((m) => ({ sessionId: m.sessionId, name: m.name, eid: m.eid }));
    expect(joined).toEqual((room?.players ?? []).filter((p) => p.name !== 'old').map((p) => ({ sessionId: p.id, name: p.name, eid: p.eid })));
  });
});

/** The players a client's control messages say are in the room (session ids, ascending); a second arrival of one already held, or a departure of one never held, fails. */
function heldBy(seen: readonly ServerControl[]): number[] {
  const held = new Set<number>();
  const arrive = (id: number): void => {
    if (held.has(id)) throw new Error(`session ${id} announced twice`);
    held.add(id);
  };
  const depart = (id: number): void => {
    if (!held.delete(id)) throw new Error(`session ${id} left before it was announced`);
  };
  for (const m of seen) {
    if (m.t === 'joined') arrive(m.sessionId);
    else if (m.t === 'roster') {
      for (const p of m.players) arrive(p.sessionId);
      for (const id of m.left ?? []) depart(id);
    } else if (m.t === 'left') depart(m.sessionId);
  }
  return [...held].sort((a, b) => a - b);
}

function othersOf(players: readonly { id: number }[], self: number | undefined): number[] {
  return players.map((p) => p.id).filter((id) => id !== self).sort((a, b) => a - b);
}

describe('the newcomers of one drain, told to the players in the room', { timeout: 60_000 }, () => {
  it('go in one roster per player and drain, each heard of once, an arrival always before its departure', async () => {
    const { server, clock, reliable, controls, connect, raw } = rig({ room: 'burst', prefix: 'q', net: 3, seed: 2, capacity: 200, resumeGraceMs: 0 });
    // the transport pumped without a tick between: every hello of a burst lands in one drain
    const settle = async (ticks: number): Promise<void> => {
      for (let t = 0; t < ticks; t++) {
        for (let k = 0; k < 16; k++) {
          clock.now += 1;
          reliable.pump();
          await Promise.resolve();
        }
        server.tickOnce();
        reliable.pump();
      }
    };
    const early = Array.from({ length: 19 }, (_, i) => connect(i));
    // and a client of an earlier release (no roster in its hello): a joined and a left each
    const { seen: old, id: oldId } = raw('10.4.0.1', 'old', false);
    await settle(20);
    const room = server.rooms.get('burst');
    expect(room?.players.length).toBe(20);
    expect(old.some((m) => m.t === 'roster')).toBe(false);
    const before = early.map((c) => (controls.get(c) as ServerControl[]).length);

    // a burst of 30: each of the 20 hears of them in as few messages as drains took them
    const burst = Array.from({ length: 30 }, (_, i) => connect(20 + i));
    await settle(20);
    expect(room?.players.length).toBe(50);
    const hellosPerDrain = new Set<number>();
    for (let i = 0; i < early.length; i++) {
      const news = (controls.get(early[i]) as ServerControl[]).slice(before[i]).filter((m) => m.t === 'roster' || m.t === 'joined');
      expect(news.every((m) => m.t === 'roster')).toBe(true);
      expect(news.flatMap((m) => (m as Roster).players.map((p) => p.name)).sort()).toEqual(burst.map((_, k) => `q${20 + k}`).sort());
      hellosPerDrain.add(news.length);
    }
    // the burst's hellos came in a few drains, not one message per newcomer
    expect(Math.max(...hellosPerDrain)).toBeLessThan(10);

    // one newcomer a tick for 12 ticks: each player hears of them once a snapshot interval (3 ticks), not once a tick
    const steadyMarks = early.map((c) => (controls.get(c) as ServerControl[]).length);
    const steady: Connection[] = [];
    for (let k = 0; k < 12; k++) {
      steady.push(connect(60 + k));
      await settle(1);
    }
    await settle(10);
    expect(room?.players.length).toBe(62);
    for (let i = 0; i < early.length; i++) {
      const news = (controls.get(early[i]) as ServerControl[]).slice(steadyMarks[i]).filter((m): m is Roster => m.t === 'roster');
      expect(news.flatMap((m) => m.players.map((p) => p.name)).sort()).toEqual(steady.map((_, k) => `q${60 + k}`).sort());
      expect(news.length).toBeLessThanOrEqual(6);
    }
    for (const c of steady) c.close('steady done');
    await settle(10);

    // a burst in which some leave again before the next tick: those heard of them joining first
    const quickMark = (controls.get(early[0]) as ServerControl[]).length;
    const quick = Array.from({ length: 10 }, (_, i) => connect(50 + i));
    for (let k = 0; k < 40; k++) {
      clock.now += 1;
      reliable.pump();
      await Promise.resolve();
    }
    for (const c of quick.slice(0, 5)) c.close('gone again');
    await settle(20);
    expect(room?.players.length).toBe(55);
    // the five did enter (in the drain that took their departure too): everyone heard them leave, in one roster
    const departures = (controls.get(early[0]) as ServerControl[]).slice(quickMark).filter((m): m is Roster => m.t === 'roster' && m.left !== undefined);
    expect(departures.map((m) => m.left?.length)).toEqual([5]);
    for (const c of [...early, ...burst, ...quick.slice(5)]) expect(heldBy(controls.get(c) as ServerControl[])).toEqual(othersOf(room?.players ?? [], c.welcome?.sessionId));
    expect(heldBy(old)).toEqual(othersOf(room?.players ?? [], oldId()));

    // the burst leaves at once: each player left hears of it in one roster, the old client in a left each
    const marks = early.map((c) => (controls.get(c) as ServerControl[]).length);
    const oldMark = old.length;
    for (const c of burst) c.close('all gone');
    await settle(10);
    expect(room?.players.length).toBe(25);
    for (let i = 0; i < early.length; i++) {
      const news = (controls.get(early[i]) as ServerControl[]).slice(marks[i]).filter((m) => m.t === 'roster' || m.t === 'left');
      expect(news.map((m) => (m as Roster).left?.length)).toEqual([30]);
    }
    expect(old.slice(oldMark).filter((m) => m.t === 'left')).toHaveLength(30);
    expect(old.slice(oldMark).filter((m) => m.t === 'roster')).toEqual([]);
    for (const c of [...early, ...quick.slice(5)]) expect(heldBy(controls.get(c) as ServerControl[])).toEqual(othersOf(room?.players ?? [], c.welcome?.sessionId));
    expect(heldBy(old)).toEqual(othersOf(room?.players ?? [], oldId()));
  });
});

describe('the players whose resume windows expire together', { timeout: 60_000 }, () => {
  it('are told to those who stay in one roster, by the housekeeping pass that ends them', async () => {
    const { server, clock, reliable, controls, connect, raw } = rig({ room: 'expire', prefix: 'r', net: 5, seed: 3, capacity: 50, resumeGraceMs: 1500 });
    const stay = Array.from({ length: 10 }, (_, i) => connect(i));
    // 20 raw clients whose links will drop without a word (their sessions kept for a resume that never comes)
    const gone = Array.from({ length: 20 }, (_, i) => raw(`10.6.0.${i}`, `g${i}`, true).peer);
    const run = async (ms: number): Promise<void> => {
      for (let t = 0; t < ms; t += 16) {
        clock.now += 16;
        reliable.pump();
        server.frame({ run: 1, skipped: 0 });
        reliable.pump();
        await Promise.resolve();
      }
    };
    await run(3000);
    const room = server.rooms.get('expire');
    expect(room?.players.length).toBe(30);
    const marks = stay.map((c) => (controls.get(c) as ServerControl[]).length);
    // the 20 links drop, at slightly different times
    for (const peer of gone) {
      peer.close();
      await run(16);
    }
    expect(server.sessions.size).toBe(30);
    await run(3000);
    expect(room?.players.length).toBe(10);
    for (let i = 0; i < stay.length; i++) {
      const news = (controls.get(stay[i]) as ServerControl[]).slice(marks[i]).filter((m) => m.t === 'roster' || m.t === 'left');
      expect(news.map((m) => (m as Roster).left?.length)).toEqual([20]);
      expect(heldBy(controls.get(stay[i]) as ServerControl[])).toEqual(othersOf(room?.players ?? [], stay[i].welcome?.sessionId));
    }
  });
});

describe("the page's roster", () => {
  it('takes roster messages as a joined each: names by entity and by session, a later left forgets one', () => {
    const r = new PageRoster();
    r.onControl({ t: 'roster', players: [{ sessionId: 1, name: 'ann', eid: 501 }, { sessionId: 2, name: 'bob', eid: 502 }] });
    r.onControl({ t: 'roster', players: [{ sessionId: 3, name: 'cy', eid: 503 }] });
    r.onControl({ t: 'joined', sessionId: 4, name: 'dee', eid: 504 });
    expect([501, 502, 503, 504].map(r.name)).toEqual(['ann', 'bob', 'cy', 'dee']);
    expect(r.sessionName(2)).toBe('bob');
    r.onControl({ t: 'left', sessionId: 2 });
    expect(r.name(502)).toBeUndefined();
    expect(r.sessionName(2)).toBeUndefined();
    expect(r.name(503)).toBe('cy');
    // a later roster brings who entered and who left since
    r.onControl({ t: 'roster', players: [{ sessionId: 5, name: 'eve', eid: 505 }], left: [1, 4, 99] });
    expect([501, 502, 503, 504, 505].map(r.name)).toEqual([undefined, undefined, 'cy', undefined, 'eve']);
    expect(r.sessionName(1)).toBeUndefined();
  });
});
