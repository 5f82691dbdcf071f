// Runs the WebRTC transport in a child process and restarts it when it dies, so a native abort in
// node-datachannel cannot end a match: while it is down, sessions fall back to the WebSocket.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { GeckosTransportOptions, TransportLog } from './geckos.ts';
import { decodeRecords, IpcBatcher, type ParentToWorker, type WorkerToParent } from './rtc-ipc.ts';
import type { DatagramTransport, ProcessMemory, SendResult, TransportEvents } from './transport.ts';

/** Options of the supervised WebRTC process. */
export interface RtcProcessOptions {
  /** Options handed to the geckos transport inside the worker. */
  geckos: GeckosTransportOptions;
  /** First restart delay after a crash, ms; doubles per crash up to maxRestartDelayMs. Default 250. */
  restartDelayMs?: number;
  /** Longest restart delay, ms. Default 10000. */
  maxRestartDelayMs?: number;
  /** How long to wait for the worker to come up, ms. Default 15000. */
  startTimeoutMs?: number;
}

/** The supervised transport: a DatagramTransport plus its supervision state. */
export interface RtcProcessTransport extends DatagramTransport {
  /** Worker restarts after crashes since start. */
  readonly restarts: number;
  /** True while the worker runs and serves. */
  isUp(): boolean;
  /** PID of the current worker, if any. */
  pid(): number | undefined;
  /** Makes the worker abort as a native crash would (tests and drills). */
  crash(): void;
  /** Resolves when the worker is up again (or now, if it is). */
  whenUp(timeoutMs: number): Promise<boolean>;
}

const workerPath = fileURLToPath(new URL('./rtc-worker.ts', import.meta.url));
const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Starts the worker and resolves once it serves signaling; rejects if the first start fails. */
export function startRtcProcess(o: RtcProcessOptions, events: TransportEvents, log: TransportLog): Promise<RtcProcessTransport> {
  const baseDelay = o.restartDelayMs ?? 250;
  const maxDelay = o.maxRestartDelayMs ?? 10_000;
  /** Connections the worker admitted and has not closed: open (true) or still connecting (false). */
  const admitted = new Map<number, boolean>();
  let child: ChildProcess | undefined;
  let up = false;
  let stopping = false;
  let restarts = 0;
  let delay = baseDelay;
  let upSinceMs = 0;
  let signalingPort = o.geckos.signalingPort;
  let upWaiters: (() => void)[] = [];
  let memory: ProcessMemory | undefined;

  const post = (msg: ParentToWorker): void => {
    try {
      if (child?.connected) child.send(msg);
    } catch {
      // worker gone; the exit handler cleans up
    }
  };
  const outbound = new IpcBatcher((packed) => post({ t: 'out', packed }));

  const dropAll = (): void => {
    for (const connId of [...admitted.keys()]) {
      admitted.delete(connId);
      try {
        events.onClose(connId);
      } catch (err) {
        log.error({ err, conn: connId }, 'webrtc supervisor: onClose threw');
      }
    }
  };

  const spawnWorker = (onReady: (port: number) => void, onFail: (err: Error) => void): void => {
    const c = fork(workerPath, [], {
      cwd: projectRoot,
      execArgv: ['--import', 'tsx'],
      // node-datachannel runs several native threads per peer; with glibc's default of up to 8
      // malloc arenas per core each keeps its high-water mark, and RSS climbs for thousands of
      // connections before it levels off. Two arenas keep it flat (an operator's value wins).
      env: { MALLOC_ARENA_MAX: '2', ...process.env },
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child = c;
    const forward = (stream: NodeJS.ReadableStream | null): void => {
      stream?.on('data', (d: Buffer) => {
        for (const line of d.toString().split('\n')) if (line.trim()) log.warn({ worker: line.slice(0, 500) }, 'webrtc worker output');
      });
    };
    forward(c.stdout);
    forward(c.stderr);
    let ready = false;
    c.on('message', (raw: unknown) => {
      const msg = raw as WorkerToParent;
      try {
        switch (msg.t) {
          case 'ready':
            ready = true;
            up = true;
            upSinceMs = Date.now();
            onReady(msg.signalingPort);
            for (const w of upWaiters) w();
            upWaiters = [];
            break;
          case 'auth': {
            const worker = c;
            const answer = (connId: number): void => {
              // A worker that died meanwhile will never report this connection: close it here.
              if (connId > 0 && child !== worker) return events.onClose(connId);
              if (connId > 0) admitted.set(connId, false);
              post({ t: 'authr', id: msg.id, connId });
            };
            Promise.resolve(events.admit({ remoteAddress: msg.remoteAddress, token: msg.token })).then(answer, () => answer(0));
            break;
          }
          case 'in':
            decodeRecords(msg.packed, (kind, connId, bytes) => {
              const state = admitted.get(connId);
              if (state === undefined) return;
              if (kind === 1) {
                if (state) return;
                admitted.set(connId, true);
                events.onOpen(connId);
              } else if (kind === 2) {
                if (state) events.onMessage(connId, bytes);
              } else if (kind === 3) {
                admitted.delete(connId);
                events.onClose(connId);
              }
            });
            break;
          case 'log':
            log[msg.level]({ ...msg.o, component: 'webrtc-worker' }, msg.msg);
            break;
          case 'mem':
            memory = msg.memory;
            break;
          case 'fatal':
            log.error({ message: msg.message }, 'webrtc worker failed to start');
            break;
        }
      } catch (err) {
        log.error({ err }, 'webrtc supervisor: handling a worker message failed');
      }
    });
    c.on('exit', (code, signal) => {
      if (child === c) child = undefined;
      memory = undefined;
      const wasUp = up;
      up = false;
      dropAll();
      if (!ready) onFail(new Error(`webrtc worker exited before it was ready (code ${code}, signal ${signal})`));
      if (stopping) return;
      if (wasUp && Date.now() - upSinceMs > 30_000) delay = baseDelay;
      log.error({ code, signal, restartInMs: delay, restarts }, 'webrtc worker died; sessions continue on the WebSocket');
      const wait = delay;
      delay = Math.min(maxDelay, delay * 2);
      setTimeout(() => {
        if (stopping) return;
        restarts++;
        spawnWorker(
          () => log.info({ restarts, signalingPort }, 'webrtc worker restarted'),
          (err) => log.error({ err: err.message }, 'webrtc worker restart failed'),
        );
        post({ t: 'start', opts: { ...o.geckos, signalingPort } });
      }, wait).unref();
    });
    c.on('error', (err) => log.error({ err }, 'webrtc worker process error'));
  };

  const transport: RtcProcessTransport = {
    get signalingPort() {
      return signalingPort;
    },
    get restarts() {
      return restarts;
    },
    kind: 'webrtc',
    reliable: false,
    send(connId, bytes): SendResult {
      if (!up || admitted.get(connId) !== true) return 'closed';
      outbound.push(0, connId, bytes);
      return 'sent';
    },
    close(connId) {
      if (up && admitted.has(connId)) post({ t: 'close', connId });
    },
    // The datachannel's queue lives in the worker; the IPC batch is flushed every event-loop turn.
    bufferedAmount: () => 0,
    connectionCount: () => {
      let n = 0;
      for (const isOpen of admitted.values()) if (isOpen) n++;
      return n;
    },
    processMemory: () => memory,
    isUp: () => up,
    pid: () => child?.pid,
    crash() {
      post({ t: 'crash' });
    },
    whenUp(timeoutMs) {
      if (up) return Promise.resolve(true);
      return new Promise((res) => {
        const t = setTimeout(() => res(false), timeoutMs);
        upWaiters.push(() => {
          clearTimeout(t);
          res(true);
        });
      });
    },
    async stop() {
      stopping = true;
      const c = child;
      if (!c) return;
      outbound.flush();
      post({ t: 'stop' });
      await new Promise<void>((res) => {
        const t = setTimeout(() => {
          c.kill('SIGKILL');
          res();
        }, 3000);
        c.once('exit', () => {
          clearTimeout(t);
          res();
        });
      });
      dropAll();
    },
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child?.kill('SIGKILL');
      reject(new Error('webrtc worker did not start in time'));
    }, o.startTimeoutMs ?? 15_000);
    spawnWorker(
      (port) => {
        clearTimeout(timer);
        signalingPort = port;
        resolve(transport);
      },
      (err) => {
        clearTimeout(timer);
        stopping = true;
        reject(err);
      },
    );
    post({ t: 'start', opts: o.geckos });
  });

}
