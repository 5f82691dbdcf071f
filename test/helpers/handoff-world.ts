// Two fleet members in one process on one fake clock, for counting what a live handoff does to
// each client: the real servers (inbound, tick, snapshot encoder, server/fleet/handoff.ts) over
// the loopback transport, each a member of a fleet on a real redis-server (RedisFleet: the
// matchmaker's seats, the fenced TRANSFER), the offer passed by a direct call instead of HTTP
// (directChannel), and ClientNetcode clients through seeded link conditioners. Time moves only
// when the world runs; the awaits on Redis happen with the clock stopped (the old owner's freeze
// is given in fake ms by the offer).
import { arena } from '../../games/arena.ts';
import { ClientNetcode } from '../../netcode/netcode.ts';
import { conditionClientIO, type ConditionedIO } from '../../netcode/conditioned-io.ts';
import type { ClientIO } from '../../netcode/connection.ts';
import { loadServerConfig } from '../../server/config.ts';
import { directChannel } from '../../server/fleet/handoff.ts';
import type { MatchResult } from '../../server/fleet/fleet.ts';
import { LoopbackTransport } from '../../server/net/loopback.ts';
import { TickwireServer } from '../../server/server.ts';
import type { ServerControl } from '../../shared/protocol/control.ts';
import { defaultLinkSettings, type LinkSettings } from '../../shared/net/link-conditioner.ts';
import { DEFAULT_NET_CONFIG } from '../../shared/config.ts';

/** One member: a server on the loopback transport, joined to the fleet on Redis. */
export interface WorldMember {
  readonly id: string;
  readonly url: string;
  readonly server: TickwireServer;
  readonly transport: LoopbackTransport;
  nextTickMs: number;
}

/** One client and what the world saw of it. */
export interface WorldClient {
  readonly name: string;
  nc: ClientNetcode;
  readonly link: ConditionedIO;
  readonly spectator: boolean;
  input: Record<string, number>;
  nextFrameMs: number;
  /** Time `moved` arrived (NaN before), corrections then, and each correction after it: its time, size (world units) and the input acknowledged. */
  movedAtMs: number;
  correctionsAtMove: number;
  readonly afterMove: { ms: number; units: number; ack: number }[];
  /** Snapshots received after `moved` (from the new owner), and control messages received. */
  snapshotsAfterMove: number;
  /** Largest snapshot loss the client measured after `moved`, percent (netcode stats.lossPct). */
  maxLossPctAfterMove: number;
  readonly controls: ServerControl[];
}

/** Settings of the world. */
export interface HandoffWorldOptions {
  redisUrl: string;
  /** Players per room, rooms. Default 10 and 2. */
  roomCapacity?: number;
  /** Link of every client, both directions. Default 20 ms one way, 2 ms jitter, no loss. */
  link?: Partial<LinkSettings>;
  /** Client frame rate, Hz (frames are spread over the interval by client index). Default 60. */
  frameHz?: number;
  seed?: number;
  /** The game of both members. Default arena-v1 (games/arena.ts). */
  game?: typeof arena;
}

const FRAME_STEP_MS = 0.5;

/** Two members (a and b) and their clients. */
export class HandoffWorld {
  nowMs = 0;
  readonly members: WorldMember[] = [];
  readonly clients: WorldClient[] = [];
  private readonly timers: { at: number; fn: () => void; id: number }[] = [];
  private timerIds = 0;
  private readonly tickMs = 1000 / DEFAULT_NET_CONFIG.tickRateHz;
  private readonly prefix = `tw-hw-${process.pid}-${Date.now()}:`;

  private readonly game: typeof arena;

  constructor(private readonly o: HandoffWorldOptions) {
    this.game = o.game ?? arena;
  }

  /** Starts a member `id` (its fleet on Redis joined before this resolves). */
  async addMember(id: string): Promise<WorldMember> {
    const url = `http://${id}.loopback`;
    const config = loadServerConfig({}, {
      webrtc: false, logLevel: 'silent', seed: this.o.seed ?? 1, roomCapacity: this.o.roomCapacity ?? 10, gameParams: { npcs: 20 },
      redisUrl: this.o.redisUrl, fleetPrefix: this.prefix, memberId: id, publicUrl: url, resumeGraceMs: 10_000, drainMs: 60_000,
    });
    const server = new TickwireServer(config, { game: this.game, clock: { nowMs: () => this.nowMs }, autoTick: false });
    const transport = new LoopbackTransport({ reliable: true, manual: true, nowMs: () => this.nowMs });
    server.startInProcess(transport);
    await server.fleet.start();
    const m: WorldMember = { id, url, server, transport, nextTickMs: this.nowMs + 3.3 + 5 * this.members.length };
    this.members.push(m);
    return m;
  }

  /** Offers of `from` go to the other members by a direct call; the world runs `freezeMs` while the room is frozen before the target takes it. */
  connectMembers(from: WorldMember, to: WorldMember, freezeMs: number): void {
    const direct = directChannel(to.server.fleet.handoff);
    from.server.fleet.handoff.channel = {
      warm: () => Promise.resolve(),
      offer: (target, bytes) => {
        this.run(this.nowMs + freezeMs);
        return direct.offer(target, bytes);
      },
    };
  }

  /** A client with a seat from the fleet's matchmaker (a spectator's with `spectate`); it connects at once. */
  async addClient(name: string, via: WorldMember, spectate = false): Promise<WorldClient> {
    const seat = await via.server.fleet.fleet.matchmake({ name, game: this.game.name, addressKey: '127.0.0.1', ...(spectate ? { spectate: true } : {}) });
    if (!seat.ok) throw new Error(`no seat for ${name}: ${seat.reason}`);
    const k = this.clients.length;
    const settings: LinkSettings = { ...defaultLinkSettings(), enabled: true, delayMs: 20, jitterMs: 2, ...this.o.link };
    const inner: ClientIO = {
      nowMs: () => this.nowMs,
      openWebSocket: (wsUrl) => this.memberOf(wsUrl).transport.connect({ remoteAddress: '127.0.0.1' }),
    };
    const link = conditionClientIO(inner, { settings, seed: (this.o.seed ?? 1) * 1000 + k, timers: { nowMs: () => this.nowMs } });
    const io: ClientIO = { ...link.io, setTimeout: (fn, ms) => this.setTimer(fn, ms), clearTimeout: (h) => this.clearTimer(h as number) };
    const c: WorldClient = {
      name, link, spectator: spectate, input: { dir: 0 }, nextFrameMs: this.nowMs + (k % 16), movedAtMs: NaN, correctionsAtMove: 0,
      afterMove: [], snapshotsAfterMove: 0, maxLossPctAfterMove: 0, controls: [],
      nc: undefined as unknown as ClientNetcode,
    };
    const s = seat as MatchResult;
    let seen = 0;
    c.nc = new ClientNetcode(this.game, io, { url: s.url, name, room: s.room, seat: s.seat, transport: 'ws', ...(spectate ? { spectate: true } : {}) }, {
      events: {
        onSnapshot: (_frame, header) => {
          const n = c.nc.corrections();
          if (n !== seen && !Number.isNaN(c.movedAtMs)) c.afterMove.push({ ms: this.nowMs - c.movedAtMs, units: c.nc.predictor.lastErrorUnits, ack: header.inputAck });
          seen = n;
          if (!Number.isNaN(c.movedAtMs)) {
            c.snapshotsAfterMove++;
            c.maxLossPctAfterMove = Math.max(c.maxLossPctAfterMove, c.nc.stats.lossPct);
          }
        },
        onControl: (m) => {
          c.controls.push(m);
          if (m.t === 'moved') {
            c.movedAtMs = this.nowMs;
            c.correctionsAtMove = c.nc.corrections();
          }
        },
      },
    });
    c.nc.connect();
    this.clients.push(c);
    return c;
  }

  private memberOf(wsUrl: string): WorldMember {
    const m = this.members.find((x) => wsUrl.startsWith(x.url.replace(/^http/, 'ws')));
    if (!m) throw new Error(`no member at ${wsUrl}`);
    return m;
  }

  private setTimer(fn: () => void, ms: number): number {
    const id = ++this.timerIds;
    this.timers.push({ at: this.nowMs + Math.max(0, ms), fn, id });
    return id;
  }

  private clearTimer(id: number): void {
    const i = this.timers.findIndex((t) => t.id === id);
    if (i >= 0) this.timers.splice(i, 1);
  }

  /**
   * Runs the world until `untilMs` in 0.5 ms steps: links pumped, each member's due ticks, each
   * client's due frames (`beforeFrame` sets its input), the clients' timers. Synchronous: nothing
   * waiting on Redis moves meanwhile, and no heartbeat renews a lease (runFor for long runs).
   */
  run(untilMs: number, beforeFrame?: (c: WorldClient, nowMs: number) => void): void {
    while (this.nowMs < untilMs) {
      this.nowMs += FRAME_STEP_MS;
      this.pump();
      for (const m of this.members) {
        while (this.nowMs >= m.nextTickMs) {
          if (m.server.state === 'running') m.server.tickOnce();
          m.nextTickMs += this.tickMs;
        }
      }
      this.pump();
      for (const t of this.timers.filter((x) => x.at <= this.nowMs)) {
        this.clearTimer(t.id);
        t.fn();
      }
      const frameMs = 1000 / (this.o.frameHz ?? 60);
      for (const c of this.clients) {
        if (this.nowMs < c.nextFrameMs) continue;
        c.nextFrameMs += frameMs;
        beforeFrame?.(c, this.nowMs);
        c.nc.frame(this.nowMs, c.input);
      }
    }
  }

  /** Runs the world for `ms` in steps of `stepMs`, letting the event loop turn between them (the members' heartbeats to Redis keep their leases). */
  async runFor(ms: number, beforeFrame?: (c: WorldClient, nowMs: number) => void, stepMs = 10): Promise<void> {
    const end = this.nowMs + ms;
    while (this.nowMs < end) {
      this.run(Math.min(end, this.nowMs + stepMs), beforeFrame);
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Runs the world in steps of `stepMs`, letting the event loop turn between them (claims and other Redis calls complete), until `done` or `limitMs` of fake time. */
  async runUntil(done: () => boolean, limitMs: number, beforeFrame?: (c: WorldClient, nowMs: number) => void, stepMs = 5): Promise<void> {
    const end = this.nowMs + limitMs;
    while (!done()) {
      if (this.nowMs >= end) throw new Error(`the world did not get there in ${limitMs} ms of its time`);
      this.run(this.nowMs + stepMs, beforeFrame);
      await new Promise((r) => setImmediate(r));
    }
  }

  private pump(): void {
    for (const m of this.members) m.transport.pump();
    for (const c of this.clients) c.link.pump();
    for (const m of this.members) m.transport.pump();
  }

  /** Stops every member (their fleet records leave Redis). */
  async stop(): Promise<void> {
    for (const c of this.clients) c.nc.close();
    for (const m of this.members) if (m.server.state === 'running') await m.server.stop('test over').catch(() => undefined);
  }
}
