// A real redis-server for a test or a benchmark: started on a free loopback port with persistence off, stopped
// (by PID) afterwards; it can be paused (SIGSTOP), resumed, stopped and started again on the same
// port to test outages and partitions.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './server-proc.ts';

/** A running test Redis. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** PID of the current redis-server. */
  pid(): number | undefined;
  /** Stops the server (SIGTERM, then SIGKILL after 2 s). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** Freezes it (SIGSTOP) or lets it continue (SIGCONT). */
  pause(): void;
  resume(): void;
  /** Stops it for good and removes its directory. */
  dispose(): Promise<void>;
}


/** Starts redis-server on a free port; resolves once it answers PING. */
export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tickwire-redis-'));
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'], { stdio: 'ignore' });
    child = c;
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 10_000;
      const tick = (): void => {
        const sock = createConnection(port);
        sock.once('data', (d) => {
          sock.destroy();
          if (d.toString().startsWith('+PONG')) resolve();
          else retry();
        });
        sock.once('error', () => {
          sock.destroy();
          retry();
        });
        sock.write('PING\r\n');
      };
      const retry = (): void => {
        if (c.exitCode !== null) return reject(new Error(`redis-server exited with ${c.exitCode}`));
        if (Date.now() > deadline) return reject(new Error('redis-server did not answer PING in 10 s'));
        setTimeout(tick, 50);
      };
      tick();
    });
  };
  await launch();
  const r: TestRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: () => child?.pid,
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      c.kill('SIGCONT');
      c.kill('SIGTERM');
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          c.kill('SIGKILL');
          resolve();
        }, 2000);
        c.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
    },
    start: launch,
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    dispose: async () => undefined,
  };
  r.dispose = async () => {
    await r.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return r;
}
