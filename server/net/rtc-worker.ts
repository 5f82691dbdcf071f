// The WebRTC side in its own process: runs the geckos.io transport and relays peers, messages and
// token checks to the server over IPC. node-datachannel can abort a process from native code; here
// that ends only this process, which the server restarts while clients continue on the WebSocket.
import { startGeckosTransport, type GeckosTransport, type GeckosTransportOptions } from './geckos.ts';
import { decodeOutgoing, IpcBatcher, type ParentToWorker, type WorkerToParent } from './rtc-ipc.ts';

let transport: GeckosTransport | undefined;
const pendingAuth = new Map<number, (connId: number) => void>();
let nextAuthId = 1;

const send = (msg: WorkerToParent): void => {
  if (process.connected) process.send?.(msg);
};
const inbound = new IpcBatcher((packed) => send({ t: 'in', packed }));

const log = {
  info: (o: object, msg?: string) => send({ t: 'log', level: 'info', o: safe(o), msg: msg ?? '' }),
  warn: (o: object, msg?: string) => send({ t: 'log', level: 'warn', o: safe(o), msg: msg ?? '' }),
  error: (o: object, msg?: string) => send({ t: 'log', level: 'error', o: safe(o), msg: msg ?? '' }),
};

function safe(o: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = v instanceof Error ? { message: v.message, stack: v.stack } : typeof v === 'object' && v !== null ? String(v) : v;
  return out;
}

async function start(opts: GeckosTransportOptions): Promise<void> {
  transport = await startGeckosTransport(
    opts,
    {
      admit: ({ token, remoteAddress }) =>
        new Promise<number>((resolve) => {
          const id = nextAuthId++;
          const timer = setTimeout(() => {
            pendingAuth.delete(id);
            resolve(0);
          }, 2000);
          pendingAuth.set(id, (connId) => {
            clearTimeout(timer);
            resolve(connId);
          });
          send({ t: 'auth', id, token: token ?? '', remoteAddress });
        }),
      onOpen: (connId) => inbound.push(1, connId),
      onMessage: (connId, bytes) => inbound.push(2, connId, bytes),
      onClose: (connId) => inbound.push(3, connId),
    },
    log,
  );
  send({ t: 'ready', signalingPort: transport.signalingPort });
  reportMemory();
  setInterval(reportMemory, MEMORY_REPORT_MS).unref();
}

/** How often the worker reports its memory to the server (exported as metrics there). */
const MEMORY_REPORT_MS = 2000;

function reportMemory(): void {
  const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
  send({ t: 'mem', memory: { rss, heapUsed, heapTotal, external } });
}

process.on('message', (raw: unknown) => {
  const msg = raw as ParentToWorker;
  try {
    switch (msg.t) {
      case 'start':
        start(msg.opts).catch((err: unknown) => {
          send({ t: 'fatal', message: (err as Error)?.message ?? String(err) });
          process.exit(1);
        });
        break;
      case 'authr': {
        const answer = pendingAuth.get(msg.id);
        pendingAuth.delete(msg.id);
        if (answer) answer(msg.connId);
        // Answered after this side gave up: the connection was admitted but will never open.
        else if (msg.connId > 0) inbound.push(3, msg.connId);
        break;
      }
      case 'out':
        if (transport) decodeOutgoing(msg.packed, (connId, bytes) => transport!.send(connId, bytes));
        break;
      case 'close':
        transport?.close(msg.connId);
        break;
      case 'crash':
        // Drill hook: die at once, as a native abort would (no cleanup, no exit handlers, no core file).
        process.kill(process.pid, 'SIGKILL');
        break;
      case 'stop':
        Promise.resolve(transport?.stop()).finally(() => {
          inbound.flush();
          process.exit(0);
        });
        break;
    }
  } catch (err) {
    log.error({ err }, 'webrtc worker: message handling failed');
  }
});

// The server went away: nothing left to serve.
process.on('disconnect', () => process.exit(0));

// A signal sent to the whole process group (Ctrl-C in a terminal, systemd's default KillMode, a
// supervisor that signals the group) reaches this process along with the server. The server owns
// this process's lifetime: SIGTERM starts its drain, during which WebRTC players keep their
// datachannels, and SIGINT its graceful stop; either ends with 'stop' here, or with the IPC channel
// closing if the server dies. Dying at the signal would drop every datachannel mid-drain and have
// the server log a crash and restart this process while it shuts down.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => undefined);
