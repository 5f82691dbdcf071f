// The churn run's clients, in a process of their own: joins and leaves a server over the WebSocket
// or WebRTC as the parent asks, and reports each cycle's start and end over IPC. A native abort in
// the WebRTC client library (node-datachannel) then ends this process, not the run measuring the
// server: the parent counts it and goes on in a fresh one.
import { arena } from '../../games/arena.ts';
import { Connection } from '../../netcode/connection.ts';
import { nodeClientIO } from '../../tools/node-client/io.ts';

/** Parent to clients: run `n` cycles numbered from `from`, `concurrency` at a time. */
export interface ChurnBatch {
  t: 'run';
  url: string;
  transport: 'ws' | 'webrtc';
  from: number;
  n: number;
  concurrency: number;
}

/** Clients to parent: cycle `i` started, cycle `i` ended (`ok`: welcomed, and on WebRTC if asked), the batch is done. */
export type ChurnReport = { t: 'start'; i: number } | { t: 'cycle'; i: number; ok: boolean } | { t: 'end' };

/** One join + leave. Resolves true when the client got its welcome (and WebRTC, if asked). */
async function cycle(url: string, transport: 'ws' | 'webrtc', i: number): Promise<boolean> {
  const c = new Connection(arena, nodeClientIO({ webrtc: transport === 'webrtc' }), { url, name: `churn${i}`, room: 'churn', transport: transport === 'ws' ? 'ws' : 'webrtc', webrtcTimeoutMs: 5000 });
  c.connect();
  const deadline = Date.now() + 8000;
  const want = (): boolean => c.state === 'active' && (transport === 'ws' || c.transport === 'webrtc');
  while (!want() && c.state !== 'closed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const ok = want();
  c.close();
  return ok;
}

async function run(b: ChurnBatch, report: (m: ChurnReport) => void): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < b.n) {
      const i = b.from + next++;
      report({ t: 'start', i });
      report({ t: 'cycle', i, ok: await cycle(b.url, b.transport, i) });
    }
  };
  await Promise.all(Array.from({ length: b.concurrency }, worker));
  report({ t: 'end' });
}

if (process.send) {
  const report = (m: ChurnReport): void => {
    process.send?.(m);
  };
  process.on('message', (raw: unknown) => {
    const m = raw as Partial<ChurnBatch>;
    if (m.t === 'run') void run(m as ChurnBatch, report);
  });
  process.on('disconnect', () => process.exit(0));
}
