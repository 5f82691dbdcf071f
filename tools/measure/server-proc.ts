// Starts a Tickwire server in its own process for a benchmark (node --import tsx server/main.ts,
// so the child PID is the server itself), waits until it is healthy, and stops exactly that PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { descendants, processAlive } from './proc.ts';

/** How the benchmark server is started. */
export interface ServerProcessOptions {
  /** Repository root (cwd of the server). */
  root: string;
  /** Offer WebRTC (TICKWIRE_WEBRTC). */
  webrtc: boolean;
  /** arena-v1 NPC count (TICKWIRE_GAME_PARAMS). */
  npcs: number;
  /** Players per room (TICKWIRE_ROOM_CAPACITY); at most 1024. */
  roomCapacity: number;
  /** Game (TICKWIRE_GAME). Default 'arena-v1'. */
  game?: string;
  /** Simulation seed (TICKWIRE_SEED). Default 1. */
  seed?: number;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Milliseconds to wait for /healthz. Default 30000. */
  startTimeoutMs?: number;
  /**
   * Start the server (and its WebRTC worker, which inherits the environment) with --expose-gc and
   * bench/lib/gc-signal.mjs preloaded, so collectGarbage() can make both run a full collection
   * before memory is read. Default false.
   */
  gcOnSignal?: boolean;
  /**
   * Semi-space size of the server's young generation, MiB (V8's --min- and --max-semi-space-size).
   * V8 starts the young generation small and doubles it under allocation pressure, up to 2 x 16 MiB
   * on 64-bit: a memory check that fixes it at its full size sees growth that repeated use costs,
   * not the young generation reaching its ceiling at some point of the run. Default: V8's own.
   */
  semiSpaceMiB?: number;
}

/** Finds a free TCP port on 127.0.0.1 (the OS picks it; it is released before returning). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => ok(port));
    });
  });
}

/** A running benchmark server. */
export class ServerProcess {
  /** Recent output lines (for error messages). */
  readonly output: string[] = [];
  exited = false;
  exitCode: number | null = null;

  private constructor(
    readonly child: ChildProcess,
    /** PID of the node process running server/main.ts (the one to measure). */
    readonly pid: number,
    readonly url: string,
    readonly port: number,
    readonly signalingPort: number,
    /** Started with gcOnSignal (collectGarbage() works). */
    readonly gcOnSignal: boolean,
  ) {}

  /** Starts the server and waits until GET /healthz answers 200. */
  static async start(o: ServerProcessOptions): Promise<ServerProcess> {
    const port = await freePort();
    let signalingPort = await freePort();
    while (signalingPort === port) signalingPort = await freePort();
    // a UDP range of its own for WebRTC, away from the defaults other servers use
    const udpMin = 30000 + ((port * 7) % 300) * 100;
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      PORT: String(port), HOST: '127.0.0.1', TICKWIRE_SIGNALING_PORT: String(signalingPort), TICKWIRE_WEBRTC: o.webrtc ? '1' : '0',
      TICKWIRE_GAME: o.game ?? 'arena-v1', TICKWIRE_GAME_PARAMS: JSON.stringify({ npcs: o.npcs }), TICKWIRE_SEED: String(o.seed ?? 1),
      TICKWIRE_ROOM_CAPACITY: String(Math.min(1024, Math.max(1, o.roomCapacity))), TICKWIRE_MAX_SESSIONS: '5000',
      // every bot of a benchmark connects from 127.0.0.1: the per-address limits must not be what is measured
      TICKWIRE_MAX_SESSIONS_PER_ADDRESS: '5000', TICKWIRE_MAX_HANDSHAKES_PER_ADDRESS: '512', TICKWIRE_MAX_PENDING_PEERS_PER_ADDRESS: '128',
      TICKWIRE_UDP_PORT_MIN: String(udpMin), TICKWIRE_UDP_PORT_MAX: String(udpMin + 99), LOG_LEVEL: 'warn',
      ...(o.env ?? {}),
      ...(o.gcOnSignal ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc --import ${pathToFileURL(join(o.root, 'tools/measure/gc-signal.mjs')).href}`.trim() } : {}),
    };
    const child = spawn(process.execPath, [...(o.semiSpaceMiB ? [`--min-semi-space-size=${o.semiSpaceMiB}`, `--max-semi-space-size=${o.semiSpaceMiB}`] : []), '--import', 'tsx', 'server/main.ts'], { cwd: o.root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) throw new Error('server process did not start');
    const sp = new ServerProcess(child, child.pid, `http://127.0.0.1:${port}`, port, signalingPort, o.gcOnSignal === true);
    const keep = (buf: Buffer): void => {
      for (const line of buf.toString('utf8').split('\n')) if (line.trim()) sp.output.push(line.slice(0, 500));
      if (sp.output.length > 50) sp.output.splice(0, sp.output.length - 50);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', (code) => {
      sp.exited = true;
      sp.exitCode = code;
    });
    const deadline = Date.now() + (o.startTimeoutMs ?? 30_000);
    while (Date.now() < deadline) {
      if (sp.exited) throw new Error(`server exited with code ${sp.exitCode} during start:\n${sp.output.join('\n')}`);
      try {
        const res = await fetch(`${sp.url}/healthz`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) {
          sp.checkCommand();
          return sp;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await sp.stop();
    throw new Error(`server did not become healthy in time:\n${sp.output.join('\n')}`);
  }

  /** Makes sure the PID runs server/main.ts (so the CPU and memory read are the server's). */
  private checkCommand(): void {
    const cmd = readFileSync(`/proc/${this.pid}/cmdline`, 'utf8').split('\0').join(' ');
    if (!cmd.includes('server/main.ts')) throw new Error(`PID ${this.pid} is not the server (${cmd})`);
  }

  /**
   * Makes the server and its WebRTC worker run a full garbage collection (SIGUSR2; only for servers
   * started with gcOnSignal, which handle it) and waits `settleMs` for it to finish.
   */
  async collectGarbage(settleMs = 500): Promise<void> {
    if (!this.gcOnSignal) throw new Error('collectGarbage() needs a server started with gcOnSignal');
    if (this.exited) return;
    let pids = [this.pid];
    try {
      pids = pids.concat(descendants(this.pid));
    } catch {
      // /proc unreadable: the server alone
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGUSR2');
      } catch {
        // gone meanwhile
      }
    }
    await new Promise((r) => setTimeout(r, settleMs));
  }

  /**
   * SIGINT (stop now, not drain), then SIGKILL after `graceMs`; resolves once the process has exited. Children the
   * server started (its WebRTC worker) that outlive it by 3 s are killed too, by PID.
   */
  async stop(graceMs = 8000): Promise<void> {
    if (this.exited) return;
    let children: number[] = [];
    try {
      children = descendants(this.pid);
    } catch {
      // /proc unreadable: nothing more to clean up
    }
    await this.stopRoot(graceMs);
    const deadline = Date.now() + 3000;
    while (children.some(processAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const pid of children.filter(processAlive)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }

  private async stopRoot(graceMs: number): Promise<void> {
    const done = new Promise<void>((r) => this.child.once('exit', () => r()));
    try {
      process.kill(this.pid, 'SIGINT');
    } catch {
      return;
    }
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs));
    if ((await Promise.race([done, timer])) === 'timeout' && !this.exited) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      await done;
    }
  }
}
