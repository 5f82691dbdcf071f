// One Tickwire server process: wiring (config, rooms, sessions, transports, inbound and outbound
// sides, metrics) and the frame (Quake III's sv_main.c): run the ticks the loop says are due, then
// once a second the housekeeping. What a client sends is inbound.ts; what the server sends is
// outbound.ts; one tick is tick.ts.
import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { configHash } from '../shared/config.ts';
import type { ServerControl } from '../shared/protocol/control.ts';
import { CloseCode, type CloseCodeId } from '../shared/protocol/ids.ts';
import { compileSchema, type NetSchema } from '../shared/protocol/schema.ts';
import { validateGame } from '../shared/sim/validate.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import type { ServerConfig } from './config.ts';
import type { ServerApi } from './hooks.ts';
import type { AttachableTransport, ServerOptions, ServerState, TransportStarter } from './options.ts';
import { withAdminRoutes } from './admin.ts';
import { AgonesLifecycle } from './agones.ts';
import { FleetHost } from './fleet/host.ts';
import { httpRoutes, type RouteSources } from './http.ts';
import { Inbound, type TransportRef } from './inbound.ts';
import { FixedStepLoop, startScheduler, systemClock, type Clock, type LoopStep, type Scheduler } from './loop.ts';
import { createRegistry, renderMetrics, ServerStats } from './metrics.ts';
import { TransportConditioner, type ConditionerTotals } from './net/conditioned.ts';
import { signalingPortOf, type DatagramTransport, type Transport } from './net/transport.ts';
import type { UwsServer } from './net/uws.ts';
import { Outbound } from './outbound.ts';
import { RoomManager } from './rooms.ts';
import { replayRecorders } from './replay-recorder.ts';
import { ConnTable, SessionTable, type Session } from './sessions.ts';
import { DeltaSnapshotEncoder } from './snapshots.ts';
import { ViewSnapshotEncoder } from './interest.ts';
import { SendQueue } from './send-queue.ts';
import { runTimedTick, type TickPhases } from './timed-tick.ts';

export type { AuthResult, ServerApi, ServerHooks } from './hooks.ts';
export type { AttachableTransport, ServerOptions, ServerState, TransportStarter } from './options.ts';

/** One Tickwire server process. */
export class TickwireServer implements ServerApi {
  readonly game: AnyGame;
  readonly schema: NetSchema;
  readonly hash: number;
  readonly stats = new ServerStats();
  readonly sessions = new SessionTable();
  readonly conns = new ConnTable();
  readonly rooms: RoomManager;
  readonly log: Logger;
  readonly clock: Clock;
  readonly loop: FixedStepLoop;
  readonly registry: Registry;
  readonly out: Outbound;
  readonly inbound: Inbound;
  /** This process's fleet: a fleet of one in memory, or a member of a fleet on Redis (config.redisUrl). */
  readonly fleet: FleetHost;
  readonly agones: AgonesLifecycle;
  state: ServerState = 'starting';
  /** The reliable transport (the WebSocket, or a loopback in tests). */
  reliable: Transport | undefined;
  /** The uWebSockets.js server when it is the reliable transport (HTTP routes, port). */
  http: UwsServer | undefined;
  /** The datagram transport (WebRTC), when it runs. */
  rtc: DatagramTransport | undefined;
  private scheduler: Scheduler | undefined;
  private readonly startedMs: number;
  private lastHousekeepingMs = 0;
  private readonly tickHost: { drainNetEvents: () => void; rooms: TickwireServer['rooms']['list']; nowMs: () => number; phases: TickPhases };
  private readonly conditioner: TransportConditioner | undefined;
  private readonly routeSources: RouteSources;

  constructor(
    readonly config: ServerConfig,
    private readonly opts: ServerOptions,
  ) {
    this.game = validateGame(opts.game);
    this.schema = compileSchema(this.game);
    this.hash = configHash(this.game);
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? pino({ level: config.logLevel, base: { service: 'tickwire' } });
    this.loop = new FixedStepLoop(config.net.tickRateHz, config.maxCatchUpTicks);
    const encoderOptions = { maxSections: config.snapshotMaxSections, fullRetrySnapshots: config.snapshotFullRetrySnapshots };
    this.rooms = new RoomManager({
      game: this.game, schema: this.schema, net: config.net, capacity: config.roomCapacity, maxRooms: config.maxRooms,
      emptyGraceMs: config.roomEmptyGraceMs, unusedGraceMs: config.roomUnusedGraceMs, seed: config.seed, params: config.gameParams, clientRoomParams: config.clientRoomParams,
      onDisposed: (name) => this.fleet.released(name),
      lagComp: { settings: { maxRewindMs: config.lagCompMaxRewindMs, maxInterpMs: config.lagCompMaxInterpMs, toleranceMs: config.lagCompToleranceMs }, stats: this.stats.lagComp },
      encoderFactory: opts.encoderFactory ?? ((schema, net, stats, interest) => (interest ? new ViewSnapshotEncoder(schema, interest, net, stats, encoderOptions) : new DeltaSnapshotEncoder(schema, net, stats, encoderOptions))),
      encoderStats: this.stats.encoder, interestStats: this.stats.interest, viewBudgetBytesPerSec: config.viewBudgetBytesPerSec, recorder: replayRecorders(config.recordRooms, { dir: config.replayDir, keyframeSec: config.replayKeyframeSec, maxBytes: config.replayMaxBytes }, this.game, this.hash, this.stats.replay, this.log),
      onGameEvent: (room, name, data) => {
        for (const p of room.players) {
          const s = this.sessions.get(p.id);
          if (s) this.out.sendControl(s, { t: 'event', name, data });
        }
      },
    });
    this.startedMs = this.clock.nowMs();
    this.registry = createRegistry(this.stats, {
      rooms: () => this.rooms.size, sessions: (t) => this.sessions.countOn(t), rtcPeers: () => this.rtc?.connectionCount() ?? 0,
      rtcProcessMemory: () => this.rtc?.processMemory?.(), queueBytes: () => this.inbound.inbox.usedBytes(),
      pendingPeers: () => this.inbound.pendingDatagrams(), handshakes: () => this.inbound.handshakes,
      fleet: () => ({ state: this.fleet.fleet.state(), stats: this.fleet.fleet.stats }), agones: () => this.agones.metrics(),
    });
    this.fleet = new FleetHost({
      config, gameName: this.game.name, log: this.log, rooms: this.rooms, matchmakeSeconds: this.stats.matchmakeSeconds, sessionCount: () => this.sessions.size,
      httpPort: () => this.http?.port ?? config.port, signalingPort: () => this.rtc?.signalingPort ?? 0, closeRoom: (name, reason) => this.inbound.closeRoom(name, reason), game: this.game, server: () => this,
    });
    this.agones = new AgonesLifecycle({ config, log: this.log, rooms: () => this.rooms.size, players: () => this.sessions.size, drain: (reason) => this.fleet.drain(reason) });
    this.out = new Outbound(this.stats, config.sendsAfterTick ? new SendQueue() : undefined);
    this.inbound = new Inbound(
      {
        config, schema: this.schema, hash: this.hash, gameName: this.game.name, stats: this.stats, log: this.log, clock: this.clock,
        sessions: this.sessions, conns: this.conns, rooms: this.rooms, out: this.out, hooks: opts.hooks, api: this,
        running: () => this.state === 'running', datagramPort: (sessionId) => signalingPortOf(this.rtc, sessionId), seats: this.fleet, draining: () => this.fleet.draining,
      },
      this.stats.inputs,
    );
    this.tickHost = { drainNetEvents: () => this.inbound.drain(), rooms: this.rooms.awake, nowMs: () => this.clock.nowMs(), phases: { encodeMs: 0 } };
    const c = opts.conditioner;
    this.conditioner = c ? new TransportConditioner(c.settings, c.seed, () => this.clock.nowMs(), (err, conn) => this.log.error({ err, conn }, 'bug in a conditioned delivery')) : undefined;
    this.routeSources = {
      config, gameName: this.game.name, hash: this.hash, stats: this.stats, registry: this.registry, rooms: this.rooms, sessions: this.sessions,
      status: () => (this.state !== 'running' ? this.state : this.fleet.draining ? 'draining' : 'ok'), uptimeSec: () => Math.round((this.clock.nowMs() - this.startedMs) / 1000),
      datagramPort: () => this.rtc?.signalingPort ?? 0, fleet: this.fleet,
    };
  }

  /** Starts the transports (default: the WebSocket with HTTP, and WebRTC when config.webrtc) and the loop. */
  async start(): Promise<void> {
    const c = this.config;
    const defaults = await import('./transports.ts');
    const routes = withAdminRoutes(httpRoutes(this.routeSources), { ...this.routeSources, log: this.log, clock: this.clock, actions: this.inbound });
    const uws: TransportStarter = async (events) => (this.http = await defaults.startUws(c, events, routes));
    this.reliable = await this.startTransport(this.opts.reliableTransport ?? uws);
    if (c.webrtc) {
      try {
        this.rtc = await this.startTransport(this.opts.datagramTransport ?? ((events) => defaults.startWebRtc(c, events, this.log)));
      } catch (err) {
        this.log.error({ err }, 'WebRTC transport failed to start; clients will use the WebSocket');
      }
    }
    await this.fleet.start();
    this.running();
    await this.agones.start();
  }

  /**
   * Starts synchronously on in-process transports (the loopback: no sockets, no HTTP), for tests
   * and benchmarks that drive many clients in one process. With autoTick false the caller ticks.
   */
  startInProcess(reliable: AttachableTransport, datagram?: AttachableTransport & DatagramTransport): void {
    const wire = <T extends AttachableTransport>(t: T): T => {
      const ref: TransportRef = { current: t };
      t.attach(this.inbound.eventsFor(ref));
      return t;
    };
    this.reliable = wire(reliable);
    if (datagram) this.rtc = wire(datagram);
    this.running();
  }

  private running(): void {
    const c = this.config;
    this.state = 'running';
    const port = this.http?.port;
    this.log.info({ http: port ? `http://${c.host}:${port}/` : null, monitor: port && c.adminToken ? `http://${c.host}:${port}/monitor` : null, ws: port ? `ws://${c.host}:${port}/ws` : null, reliable: this.reliable?.kind, signalingPort: this.rtc?.signalingPort ?? null, udpPorts: this.rtc ? `${c.udpPortMin}-${c.udpPortMax}` : null, game: this.game.name, tickRateHz: c.net.tickRateHz, snapshotRateHz: c.net.snapshotRateHz }, 'tickwire listening');
    if (this.opts.autoTick !== false) {
      this.scheduler = startScheduler(this.loop, this.clock, (step) => this.frame(step), (err) => this.log.error({ err }, 'tick failed'));
    }
  }

  /** Starts one transport with events into the inbox, through the conditioner when there is one. */
  private async startTransport<T extends Transport>(start: TransportStarter<T>): Promise<T> {
    const ref: TransportRef = { current: undefined };
    const events = this.inbound.eventsFor(ref);
    const t = await start(this.conditioner ? this.conditioner.wrapEvents(events) : events);
    const wrapped = this.conditioner ? this.conditioner.wrap(t) : t;
    ref.current = wrapped;
    return wrapped;
  }

  /** The /metrics body (Prometheus text), also without HTTP. */
  metricsText(): Promise<string> {
    return renderMetrics(this.registry, this.stats);
  }

  /** Runs the ticks the loop says are due, timing each; then, once a second, the housekeeping. */
  frame(step: LoopStep): void {
    if (step.skipped > 0) {
      this.stats.skippedTicks += step.skipped;
      this.log.warn({ skipped: step.skipped, skippedTotal: this.loop.skippedTotal }, 'loop stalled: ticks skipped');
    }
    for (let i = 0; i < step.run; i++) this.tickOnce();
    const now = this.clock.nowMs();
    if (now - this.lastHousekeepingMs >= 1000) {
      this.lastHousekeepingMs = now;
      this.inbound.housekeeping(now);
      for (const name of this.rooms.disposeIdle(now)) this.log.info({ room: name }, 'room disposed');
      if (this.fleet.drainCheck(Date.now()) === 'done' && this.state === 'running') void this.stop('drained', CloseCode.Drained);
    }
    this.inbound.runDeferred();
  }

  /** One timed tick of every room, then the hand-off of its snapshot packets (server/timed-tick.ts). */
  tickOnce(): void {
    runTimedTick(this.tickHost, this.stats, this.flushQueued);
  }
  private readonly flushQueued = (): number => this.out.flushQueued();

  sendControl(s: Session, msg: ServerControl): void {
    this.out.sendControl(s, msg);
  }

  disconnect(s: Session, code: CloseCodeId, reason: string): void {
    this.inbound.disconnect(s, code, reason);
  }

  /** Datagrams the server-end conditioner dropped, duplicated and reordered (zeros without ServerOptions.conditioner). */
  conditionerTotals(): ConditionerTotals {
    return this.conditioner?.totals() ?? { dropped: 0, duplicated: 0, reordered: 0 };
  }

  /**
   * Graceful stop: refuse new clients, tell connected ones, finish the current tick, close the
   * transports, and resolve within shutdownMs.
   */
  async stop(reason = 'server shutting down', code: CloseCodeId = CloseCode.Shutdown): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    this.http?.stopListening();
    this.scheduler?.stop();
    const deadline = Date.now() + this.config.shutdownMs;
    this.inbound.disconnectAll(code, code === CloseCode.Drained ? 'server drained: join again through the matchmaker' : reason);
    const left = this.fleet.stop();
    // Let the close frames flush.
    while (this.reliable && this.reliable.connectionCount() > 0 && Date.now() < deadline - 500) await new Promise((r) => setTimeout(r, 20));
    const until = (ms: number): Promise<unknown> => new Promise((r) => setTimeout(r, Math.max(0, ms)));
    for (const t of [this.rtc, this.reliable]) {
      try {
        await Promise.race([t?.stop(), until(deadline - Date.now() - 200)]);
      } catch (err) {
        this.log.warn({ err, transport: t?.kind }, 'transport stop failed');
      }
    }
    await Promise.race([left, until(Math.max(0, deadline - Date.now()))]);
    await Promise.all([this.agones.stop(), this.rooms.finishRecordings()]);
    this.state = 'stopped';
    this.log.info({ reason }, 'tickwire stopped');
  }
}
