// The Agones game-server lifecycle (config.agones, TICKWIRE_AGONES=1), through the official Node
// SDK (@google-cloud/agones-sdk), which talks gRPC to the sidecar on localhost:$AGONES_SDK_GRPC_PORT:
// Ready() once the server serves, Health() pings every agonesHealthMs (a broken health stream is
// logged, counted and replaced at the next ping), the GameServer followed through WatchGameServer
// (its state logged and exposed; Shutdown starts Tickwire's drain), labels for rooms and players
// when they change (at most once a second), and Shutdown() once the server has stopped.
import type { Logger } from 'pino';
import type AgonesSDK from '@google-cloud/agones-sdk';
import type { ServerConfig } from './config.ts';

/** GameServer states (Agones's lifecycle), one gauge sample each. */
export const AGONES_STATES = ['Scheduled', 'RequestReady', 'Ready', 'Reserved', 'Allocated', 'Shutdown', 'Unhealthy', 'Error'] as const;

/** Label keys set on the GameServer (Agones prefixes them with `agones.dev/sdk-`). */
export const AGONES_LABELS = { rooms: 'tickwire-rooms', players: 'tickwire-players' } as const;

/** Least time between two label updates, ms. */
export const AGONES_LABEL_INTERVAL_MS = 1000;

/** How often rooms and players are compared with the labels sent, ms. */
const LABEL_POLL_MS = 100;

/** Wait before watching again after the watch stream failed, ms. */
const WATCH_RETRY_MS = 1000;

/**
 * Longest wait for the sidecar's answer to Shutdown() while stopping, ms: within the 500 ms that
 * server/signals.ts allows past shutdownMs (the sidecar is on localhost and answers in milliseconds).
 */
const SHUTDOWN_WAIT_MS = 400;

/** Counters of the lifecycle (tickwire_agones_* metrics). */
export interface AgonesStats {
  /** Health pings written to the health stream. */
  healthPings: number;
  /** Streams found broken, by stream. */
  readonly streamFailures: { health: number; watch: number };
  /** SetLabel calls that succeeded. */
  labelUpdates: number;
}

/** What the lifecycle reads from and does to its server. */
export interface AgonesSources {
  readonly config: ServerConfig;
  readonly log: Logger;
  rooms(): number;
  players(): number;
  /** Starts the server's drain (FleetHost.drain). */
  drain(reason: string): void;
}

/** The SDK's health stream (a gRPC client stream the SDK keeps in `healthStream`, not in its typings). */
interface HealthStream {
  on(event: 'error', listener: (err: Error) => void): unknown;
  /** The call's end: a client stream's failure arrives here (and in the SDK's ignored callback), not as 'error'. */
  on(event: 'status', listener: (status: { code: number; details: string }) => void): unknown;
}
type SdkInternals = { healthStream: HealthStream | undefined };

/** A gRPC error's fields worth a log line. */
function grpcError(err: unknown): { err: string; code?: number } {
  const e = err as { message?: unknown; code?: unknown };
  return { err: typeof e?.message === 'string' ? e.message : String(err), ...(typeof e?.code === 'number' ? { code: e.code } : {}) };
}

/** The lifecycle of one server process on Agones; does nothing unless config.agones. */
export class AgonesLifecycle {
  readonly stats: AgonesStats = { healthPings: 0, streamFailures: { health: 0, watch: 0 }, labelUpdates: 0 };
  /** The GameServer's state, as the watch last told it (undefined before the first update). */
  state: string | undefined;
  private sdk: AgonesSDK | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly watchedHealth = new WeakSet<HealthStream>();
  private sent = { rooms: -1, players: -1 };
  private lastLabelMs = -Infinity;
  private labelling = false;
  private stopped = false;
  private drainAsked = false;

  /** The SDK module, loading from construction (gRPC takes a few hundred ms to load) so Ready() is not later than it must be. */
  private readonly sdkModule: Promise<typeof import('@google-cloud/agones-sdk')> | undefined;

  constructor(private readonly src: AgonesSources) {
    if (src.config.agones) {
      this.sdkModule = import('@google-cloud/agones-sdk');
      this.sdkModule.catch(() => undefined); // start() reports it
    }
  }

  /** The current state and the counters, for the registry. */
  metrics(): { state: string | undefined; stats: AgonesStats } | undefined {
    return this.src.config.agones ? { state: this.state, stats: this.stats } : undefined;
  }

  /**
   * Connects to the sidecar (the SDK waits up to 30 s for it), says Ready, and starts the health
   * pings, the watch and the labels. Call once the server serves. Throws when the sidecar is not there.
   */
  async start(): Promise<void> {
    if (!this.sdkModule || this.sdk || this.stopped) return;
    const { default: AgonesSDKClass } = await this.sdkModule;
    const sdk = new AgonesSDKClass();
    const t0 = performance.now();
    try {
      await sdk.connect();
      await sdk.ready();
    } catch (err) {
      sdk.close();
      throw new Error(`Agones SDK server on localhost:${sdk.port} (AGONES_SDK_GRPC_PORT) did not answer: ${grpcError(err).err}`);
    }
    this.sdk = sdk;
    this.src.log.info({ sdkPort: Number(sdk.port), ms: Math.round(performance.now() - t0), healthMs: this.src.config.agonesHealthMs }, 'agones: Ready sent');
    this.watch();
    this.ping();
    this.timers.push(setInterval(() => this.ping(), this.src.config.agonesHealthMs));
    this.updateLabels();
    this.timers.push(setInterval(() => this.updateLabels(), LABEL_POLL_MS));
  }

  /** After the server stopped: no more pings, Shutdown() (bounded wait), the connection closed. */
  async stop(): Promise<void> {
    const sdk = this.sdk;
    if (!sdk || this.stopped) return;
    this.stopped = true;
    for (const t of this.timers.splice(0)) clearTimeout(t);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([sdk.shutdown(), new Promise((_, fail) => (timer = setTimeout(() => fail(new Error(`no answer within ${SHUTDOWN_WAIT_MS} ms`)), SHUTDOWN_WAIT_MS)))]);
      this.src.log.info({ state: this.state ?? null }, 'agones: Shutdown sent');
    } catch (err) {
      this.src.log.warn(grpcError(err), 'agones: Shutdown failed (Agones will find the process gone)');
    } finally {
      clearTimeout(timer);
      sdk.close();
    }
  }

  /** One health ping; a broken stream (its error, or a failed write) is replaced at the next ping. */
  private ping(): void {
    const sdk = this.sdk;
    if (!sdk || this.stopped) return;
    const internals = sdk as unknown as SdkInternals;
    // the SDK creates the stream inside health(); the write's callback runs later
    const written: { stream?: HealthStream } = {};
    sdk.health((err) => this.healthFailed(written.stream, err));
    const stream = (written.stream = internals.healthStream);
    if (stream && !this.watchedHealth.has(stream)) {
      this.watchedHealth.add(stream);
      stream.on('error', (err) => this.healthFailed(stream, err));
      stream.on('status', (st) => this.healthFailed(stream, { message: st.details || `health stream ended (status ${st.code})`, code: st.code }));
    }
    this.stats.healthPings++;
  }

  private healthFailed(stream: HealthStream | undefined, err: unknown): void {
    const internals = this.sdk as unknown as SdkInternals | undefined;
    if (this.stopped || !internals || stream === undefined || internals.healthStream !== stream) return;
    // the SDK opens its health stream once: forget the broken one so the next ping opens another
    internals.healthStream = undefined;
    this.stats.streamFailures.health++;
    this.src.log.warn({ ...grpcError(err), failures: this.stats.streamFailures.health, retryInMs: this.src.config.agonesHealthMs }, 'agones: health stream failed; a new one opens at the next ping');
  }

  private watch(): void {
    const sdk = this.sdk;
    if (!sdk || this.stopped) return;
    sdk.watchGameServer(
      (gs) => this.observe(gs.status?.state, gs.objectMeta?.name),
      (err) => {
        if (this.stopped) return;
        this.stats.streamFailures.watch++;
        this.src.log.warn({ ...grpcError(err), failures: this.stats.streamFailures.watch, retryInMs: WATCH_RETRY_MS }, 'agones: GameServer watch failed; watching again');
        const t = setTimeout(() => this.watch(), WATCH_RETRY_MS);
        this.timers.push(t);
      },
    );
  }

  /** A GameServer update: log a new state; Shutdown (Agones wants the pod gone) starts the drain. */
  private observe(state: string | undefined, name: string | undefined): void {
    if (this.stopped || !state || state === this.state) return;
    const previous = this.state ?? null;
    this.state = state;
    this.src.log.info({ state, previous, gameServer: name ?? null, rooms: this.src.rooms(), players: this.src.players() }, `agones: GameServer ${state}`);
    if (state === 'Shutdown' && !this.drainAsked) {
      this.drainAsked = true;
      this.src.drain('Agones set the GameServer to Shutdown');
    }
  }

  /** Sends the rooms and players labels when they changed, at most once per AGONES_LABEL_INTERVAL_MS. */
  private updateLabels(): void {
    const sdk = this.sdk;
    const now = performance.now();
    if (!sdk || this.stopped || this.labelling || now - this.lastLabelMs < AGONES_LABEL_INTERVAL_MS) return;
    const next = { rooms: this.src.rooms(), players: this.src.players() };
    const changed = (['rooms', 'players'] as const).filter((k) => next[k] !== this.sent[k]);
    if (changed.length === 0) return;
    this.labelling = true;
    this.lastLabelMs = now;
    Promise.all(changed.map((k) => sdk.setLabel(AGONES_LABELS[k], String(next[k])).then(() => this.stats.labelUpdates++))).then(
      () => {
        this.sent = next;
        this.src.log.debug(next, 'agones: labels set');
      },
      (err: unknown) => this.src.log.warn(grpcError(err), 'agones: SetLabel failed; trying again'),
    ).finally(() => (this.labelling = false));
  }
}
