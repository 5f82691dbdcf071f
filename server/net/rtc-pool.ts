// The WebRTC side as several supervised processes: each runs its own geckos signaling server on its
// own port and its own slice of the UDP range, and restarts on its own after a crash (a crash drops
// only the sessions it carried to the WebSocket). New sessions are spread over the processes that
// are up, round robin, through the signaling port their welcome names.
import { cpus } from 'node:os';
import type { RtcProcessTransport } from './rtc-process.ts';
import type { ProcessMemory, SendResult, TransportEvents } from './transport.ts';

/** Most WebRTC processes the automatic default picks. */
export const MAX_AUTO_WEBRTC_PROCESSES = 4;

/**
 * How many WebRTC processes `webrtcProcesses` asks for: the number itself, or for 0 (auto) half
 * the cores, at least 1 and at most MAX_AUTO_WEBRTC_PROCESSES: the server's tick thread, the
 * native threads node-datachannel runs in each process and the kernel's network work need the
 * rest (measured on 2 cores, one process already shares them with the server: 1).
 */
export function webrtcProcessCount(configured: number, cores = cpus().length): number {
  if (configured > 0) return configured;
  return Math.max(1, Math.min(MAX_AUTO_WEBRTC_PROCESSES, Math.floor(cores / 2)));
}

/** UDP port range of process `i` of `n`: the configured range cut into n equal slices. */
export function udpSlice(min: number, max: number, i: number, n: number): { udpPortMin: number; udpPortMax: number } {
  const size = Math.floor((max - min + 1) / n);
  return { udpPortMin: min + i * size, udpPortMax: i === n - 1 ? max : min + (i + 1) * size - 1 };
}

/** Several supervised WebRTC processes behind one datagram transport. */
export interface RtcPoolTransport extends RtcProcessTransport {
  /** The processes, in start order. */
  readonly processes: readonly RtcProcessTransport[];
  /** The signaling port of the process a new session should use: round robin over those up (the first process's when none is). */
  signalingPortFor(sessionId: number): number;
  /** Index of the process carrying connection `connId`, or -1. */
  processOf(connId: number): number;
}

/**
 * Starts `n` processes with `start(i, events)` (each given events that record which process owns
 * each connection) and returns them as one transport: sends and closes go to the owning process,
 * counts and memory are summed.
 */
export async function startRtcPool(
  n: number,
  events: TransportEvents,
  start: (i: number, events: TransportEvents) => Promise<RtcProcessTransport>,
): Promise<RtcPoolTransport> {
  const owner = new Map<number, RtcProcessTransport>();
  const index = new Map<RtcProcessTransport, number>();
  const eventsFor = (box: { t: RtcProcessTransport | undefined }): TransportEvents => ({
    admit: (req) => {
      const bind = (id: number): number => {
        if (id > 0 && box.t) owner.set(id, box.t);
        return id;
      };
      const r = events.admit(req);
      return typeof r === 'number' ? bind(r) : r.then(bind);
    },
    onOpen: (connId) => events.onOpen(connId),
    onMessage: (connId, bytes) => events.onMessage(connId, bytes),
    onClose: (connId) => {
      owner.delete(connId);
      events.onClose(connId);
    },
  });
  const boxes = Array.from({ length: n }, () => ({ t: undefined as RtcProcessTransport | undefined }));
  const started = await Promise.allSettled(boxes.map((box, i) => start(i, eventsFor(box)).then((t) => (box.t = t))));
  const failed = started.find((r) => r.status === 'rejected');
  const processes = boxes.map((b) => b.t).filter((t): t is RtcProcessTransport => t !== undefined);
  if (failed) {
    await Promise.allSettled(processes.map((p) => p.stop()));
    throw (failed as PromiseRejectedResult).reason;
  }
  processes.forEach((p, i) => index.set(p, i));
  let next = 0;
  const first = processes[0];
  const pool: RtcPoolTransport = {
    kind: 'webrtc',
    reliable: false,
    processes,
    get signalingPort() {
      return (processes.find((p) => p.isUp()) ?? first).signalingPort;
    },
    get restarts() {
      return processes.reduce((s, p) => s + p.restarts, 0);
    },
    signalingPortFor() {
      for (let k = 0; k < processes.length; k++) {
        const p = processes[(next + k) % processes.length];
        if (p.isUp()) {
          next = (next + k + 1) % processes.length;
          return p.signalingPort;
        }
      }
      // none up: name one anyway (as a single process does); the client falls back to the WebSocket and retries
      return first.signalingPort;
    },
    processOf(connId) {
      const p = owner.get(connId);
      return p ? (index.get(p) ?? -1) : -1;
    },
    send(connId, bytes): SendResult {
      const p = owner.get(connId);
      return p ? p.send(connId, bytes) : 'closed';
    },
    close(connId, code, reason) {
      owner.get(connId)?.close(connId, code, reason);
    },
    bufferedAmount(connId) {
      return owner.get(connId)?.bufferedAmount(connId) ?? 0;
    },
    connectionCount() {
      return processes.reduce((s, p) => s + p.connectionCount(), 0);
    },
    processMemory(): ProcessMemory | undefined {
      let sum: ProcessMemory | undefined;
      for (const p of processes) {
        const m = p.processMemory?.();
        if (!m) continue;
        sum ??= { rss: 0, heapUsed: 0, heapTotal: 0, external: 0 };
        sum.rss += m.rss;
        sum.heapUsed += m.heapUsed;
        sum.heapTotal += m.heapTotal;
        sum.external += m.external;
      }
      return sum;
    },
    isUp: () => processes.some((p) => p.isUp()),
    pid: () => first.pid(),
    crash: () => first.crash(),
    whenUp: async (timeoutMs) => (await Promise.all(processes.map((p) => p.whenUp(timeoutMs)))).every(Boolean),
    async stop() {
      await Promise.allSettled(processes.map((p) => p.stop()));
    },
  };
  return pool;
}
