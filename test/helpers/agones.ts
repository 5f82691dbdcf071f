// A stand-in for the Agones SDK sidecar (sdk-server), in this process: a real gRPC server that
// implements the SDK's service from the package's own generated definitions
// (@google-cloud/agones-sdk/lib/sdk_grpc_pb.js, messages from lib/sdk_pb.js), on 127.0.0.1:0. It
// records every call with its time, sends the GameServer down each watch stream (at once, then at
// each change), and can break the health or the watch stream.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// the gRPC library the SDK itself uses (a dependency of the SDK, resolved from its folder)
const grpc = createRequire(require.resolve('@google-cloud/agones-sdk'))('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
const services = require('@google-cloud/agones-sdk/lib/sdk_grpc_pb.js') as Record<string, import('@grpc/grpc-js').ServiceDefinition>;
const messages = require('@google-cloud/agones-sdk/lib/sdk_pb.js') as SdkMessages;

interface Msg {
  serializeBinary(): Uint8Array;
}
interface SdkMessages {
  Empty: new () => Msg;
  GameServer: (new () => Msg & { setObjectMeta(m: unknown): void; setStatus(s: unknown): void }) & {
    ObjectMeta: new () => { setName(n: string): void };
    Status: new () => { setState(s: string): void };
  };
  KeyValue: unknown;
}

/** One call the SDK made: its name (the RPC, or `ping` for a message on a health stream), time (epoch ms) and detail. */
export interface SdkCall {
  name: string;
  atMs: number;
  detail?: string;
}

type Callback = (err: { code: number; details: string } | null, value?: Msg) => void;
interface HealthCall {
  on(event: 'data' | 'end' | 'error', listener: (...args: unknown[]) => void): unknown;
}
interface WatchCall {
  write(m: Msg): boolean;
  emit(event: 'error', err: { code: number; details: string }): boolean;
  on(event: 'cancelled', listener: () => void): unknown;
}

/** The fake sidecar. */
export class FakeAgones {
  readonly calls: SdkCall[] = [];
  readonly labels = new Map<string, string>();
  /** Runs inside the Ready handler before it answers (e.g. probe the server). */
  onReady: (() => Promise<void>) | undefined;
  /** Runs inside the Shutdown handler before it answers. */
  onShutdown: (() => Promise<void>) | undefined;
  private health: { call: HealthCall; callback: Callback } | undefined;
  private readonly watches = new Set<WatchCall>();
  private state = 'Scheduled';

  private constructor(private readonly server: import('@grpc/grpc-js').Server, readonly port: number) {}

  static async start(): Promise<FakeAgones> {
    const server = new grpc.Server();
    const port = await new Promise<number>((ok, fail) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? fail(err) : ok(p))));
    const fake = new FakeAgones(server, port);
    server.addService(services['agones.dev.sdk.SDK'], fake.handlers());
    return fake;
  }

  /** Calls named `name`. */
  named(name: string): SdkCall[] {
    return this.calls.filter((c) => c.name === name);
  }

  /** Sets the GameServer's state and sends it down every watch stream. */
  setState(state: string): void {
    this.state = state;
    for (const w of this.watches) w.write(this.gameServer());
  }

  /** Ends the current health stream with an error status (as a sidecar that lost the pod would). */
  failHealth(): boolean {
    const h = this.health;
    if (!h) return false;
    this.health = undefined;
    h.callback({ code: grpc.status.UNAVAILABLE, details: 'fake sidecar: health stream broken' });
    return true;
  }

  /** Ends every watch stream with an error status. */
  failWatch(): number {
    const n = this.watches.size;
    for (const w of this.watches) w.emit('error', { code: grpc.status.UNAVAILABLE, details: 'fake sidecar: watch broken' });
    this.watches.clear();
    return n;
  }

  close(): void {
    // the SDK's watch streams may still be open: end every call now
    this.server.forceShutdown();
  }

  private record(name: string, detail?: string): void {
    this.calls.push({ name, atMs: Date.now(), ...(detail === undefined ? {} : { detail }) });
  }

  private gameServer(): Msg {
    const gs = new messages.GameServer();
    const meta = new messages.GameServer.ObjectMeta();
    meta.setName('tickwire-test-gs');
    const status = new messages.GameServer.Status();
    status.setState(this.state);
    gs.setObjectMeta(meta);
    gs.setStatus(status);
    return gs;
  }

  private handlers(): import('@grpc/grpc-js').UntypedServiceImplementation {
    const empty = (name: string, before?: () => (() => Promise<void>) | undefined, after?: () => void) => (_call: unknown, cb: Callback): void => {
      this.record(name);
      const hook = before?.();
      void (hook ? hook() : Promise.resolve()).then(() => {
        after?.();
        cb(null, new messages.Empty());
      });
    };
    return {
      ready: empty('ready', () => this.onReady, () => this.setState('Ready')),
      allocate: empty('allocate', undefined, () => this.setState('Allocated')),
      shutdown: empty('shutdown', () => this.onShutdown, () => this.setState('Shutdown')),
      reserve: empty('reserve'),
      health: (call: HealthCall, cb: Callback) => {
        this.record('health');
        const entry = { call, callback: cb };
        this.health = entry;
        call.on('data', () => this.record('ping'));
        call.on('error', () => undefined);
        call.on('end', () => {
          if (this.health === entry) {
            this.health = undefined;
            cb(null, new messages.Empty());
          }
        });
      },
      getGameServer: (_call: unknown, cb: Callback) => {
        this.record('getGameServer');
        cb(null, this.gameServer());
      },
      watchGameServer: (call: WatchCall) => {
        this.record('watchGameServer');
        // as the sidecar does: the current GameServer first, then every change
        call.write(this.gameServer());
        this.watches.add(call);
        call.on('cancelled', () => this.watches.delete(call));
      },
      setLabel: (call: { request: { getKey(): string; getValue(): string } }, cb: Callback) => {
        const k = call.request.getKey();
        const v = call.request.getValue();
        this.record('setLabel', `${k}=${v}`);
        this.labels.set(k, v);
        cb(null, new messages.Empty());
      },
      setAnnotation: (call: { request: { getKey(): string; getValue(): string } }, cb: Callback) => {
        this.record('setAnnotation', `${call.request.getKey()}=${call.request.getValue()}`);
        cb(null, new messages.Empty());
      },
    };
  }
}
