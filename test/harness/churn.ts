// Connect/disconnect churn against a server process: N join-and-leave cycles over the WebSocket
// or WebRTC, then checks that the server's memory, sessions, peers and timers return to baseline.
// `npm run churn -- --cycles 1000 --transport ws|webrtc [--warmup N] [--concurrency 20] [--remeasure-above MiB] [--json]`
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { descendants, readProcSample } from '../../tools/measure/proc.ts';
import { ServerProcess } from '../../tools/measure/server-proc.ts';
import type { ChurnBatch, ChurnReport } from './churn-clients.ts';

/** Result of a churn run. */
export interface ChurnResult {
  transport: 'ws' | 'webrtc';
  cycles: number;
  failed: number;
  /** Warm-up cycles run before the measured ones. */
  warmupCycles: number;
  /** The warm-up ended on three steady blocks (false: it ran to its cap, or a fixed `warmup` was asked for). */
  warmupSteady: boolean;
  seconds: number;
  /** Server RSS (plus its WebRTC worker's) at start, after warm-up and at the end, MiB. */
  rssMiBAtStart: number;
  rssMiBAfterWarmup: number;
  rssMiBEnd: number;
  /** Growth over the measured cycles (end - after warm-up). */
  rssGrowthMiB: number;
  /** Growth over warm-up and measured cycles together (end - start), for reference. */
  rssGrowthSinceStartMiB: number;
  /** The same split: the server process alone, and its WebRTC worker alone. */
  serverRssGrowthMiB: number;
  workerRssGrowthMiB: number;
  /** Gauges after warm-up and at the end (sessions, peers, active timers/handles). */
  baseline: Record<string, number>;
  end: Record<string, number>;
  /** Deaths of the clients' process (a native abort in the WebRTC client library), each as its signal or exit code; the run went on in a fresh process. */
  clientAborts: string[];
  /** Measured rounds of `cycles`: 2 when the first grew RSS by `remeasureAboveMiB` or more; the growth and gauges above are the last round's. */
  rounds: number;
  /** RSS growth over the first measured round (the same as `rssGrowthMiB` when `rounds` is 1). */
  firstRoundRssGrowthMiB: number;
}

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Current RSS of a process in KiB; 0 when it is gone. */
function rssKiB(pid: number): number {
  try {
    return readProcSample(pid).status.vmRssKiB;
  } catch {
    return 0;
  }
}

/** RSS of the server and of its WebRTC worker (every descendant), MiB. */
function rssSplitMiB(pid: number): { server: number; worker: number } {
  return { server: rssKiB(pid) / 1024, worker: descendants(pid).reduce((s, c) => s + rssKiB(c), 0) / 1024 };
}

async function gauges(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const pick = (re: RegExp): number => text.split('\n').filter((l) => re.test(l)).reduce((s, l) => s + Number(l.split(' ').pop()), 0);
  return {
    sessions: pick(/^tickwire_sessions\{/),
    webrtcPeers: pick(/^tickwire_webrtc_peers /),
    timers: pick(/^tickwire_active_resources\{type="Timeout"\}/),
    handles: pick(/^tickwire_active_resources\{/),
    rooms: pick(/^tickwire_rooms /),
    serverHeapMiB: pick(/^tickwire_nodejs_heap_size_used_bytes /) / 1048576,
    serverExternalMiB: pick(/^tickwire_nodejs_external_memory_bytes /) / 1048576,
    serverHeapTotalMiB: pick(/^tickwire_nodejs_heap_space_size_total_bytes\{/) / 1048576,
    workerHeapMiB: pick(/^tickwire_webrtc_process_memory_bytes\{kind="heap_used"\}/) / 1048576,
    workerHeapTotalMiB: pick(/^tickwire_webrtc_process_memory_bytes\{kind="heap_total"\}/) / 1048576,
    workerExternalMiB: pick(/^tickwire_webrtc_process_memory_bytes\{kind="external"\}/) / 1048576,
    workerRssMiB: pick(/^tickwire_webrtc_process_memory_bytes\{kind="rss"\}/) / 1048576,
  };
}

/**
 * The clients' process (test/harness/churn-clients.ts), started once per run and again after it dies
 * in a batch. A cycle it started and never ended counts as failed; the cycles it never started run
 * in the next process. More than MAX_CLIENT_ABORTS deaths in one run end the run with an error.
 */
export class ChurnClients {
  private proc: ChildProcess | undefined;
  /** Deaths of the clients' process in a batch, and how each ended (signal or exit code). */
  readonly aborts: string[] = [];

  private spawn(): ChildProcess {
    return fork(fileURLToPath(new URL('./churn-clients.ts', import.meta.url)), [], { cwd: root, execArgv: ['--import', 'tsx'], stdio: ['ignore', 2, 'inherit', 'ipc'] }); // its stdout to our stderr: ours carries the JSON
  }

  /** Runs `n` cycles numbered from `from`; resolves with the number that failed. */
  async run(url: string, transport: 'ws' | 'webrtc', n: number, concurrency: number, from: number): Promise<number> {
    let failed = 0;
    let done = 0;
    while (done < n) {
      const r = await this.batch({ t: 'run', url, transport, from: from + done, n: n - done, concurrency });
      failed += r.failed;
      done += r.started;
      if (r.abort === undefined) continue;
      this.aborts.push(r.abort);
      if (this.aborts.length > MAX_CLIENT_ABORTS) throw new Error(`the churn clients' process died ${this.aborts.length} times (${this.aborts.join(', ')})`);
    }
    return failed;
  }

  /** One batch in the current process (a fresh one if there is none): how many cycles started and failed, and how the process died, if it did. */
  private batch(b: ChurnBatch): Promise<{ started: number; failed: number; abort?: string }> {
    const proc = (this.proc ??= this.spawn());
    return new Promise((resolve) => {
      const running = new Set<number>();
      let started = 0;
      let failed = 0;
      const finish = (abort?: string): void => {
        proc.off('message', onMessage);
        proc.off('exit', onExit);
        resolve({ started, failed: failed + running.size, abort });
      };
      const onMessage = (raw: unknown): void => {
        const m = raw as ChurnReport;
        if (m.t === 'start') {
          started++;
          running.add(m.i);
        } else if (m.t === 'cycle') {
          running.delete(m.i);
          if (!m.ok) failed++;
        } else if (m.t === 'end') finish();
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        this.proc = undefined;
        finish(signal ?? `exit ${code}`);
      };
      proc.on('message', onMessage);
      proc.on('exit', onExit);
      proc.send(b);
    });
  }

  /** PID of the clients' process, while one runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Ends the clients' process without running its exit path (node-datachannel's threads may still be up). */
  stop(): void {
    this.proc?.kill('SIGKILL');
    this.proc = undefined;
  }
}

/** Deaths of the clients' process a run tolerates (node-datachannel aborted once in many CI runs, on the client side). */
const MAX_CLIENT_ABORTS = 2;

async function settle(server: ServerProcess): Promise<Record<string, number>> {
  const url = server.url;
  // Let closes propagate (WebRTC closes are asynchronous) before reading the gauges.
  const end = Date.now() + 10_000;
  let g = await gauges(url);
  while ((g.sessions > 0 || g.webrtcPeers > 0) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    g = await gauges(url);
  }
  // Memory is read after a full collection in the server and its WebRTC worker: growth then means
  // memory still referenced (a leak) or kept by the allocator, not garbage awaiting collection.
  await server.collectGarbage(2500);
  return gauges(url);
}

/**
 * Warm-up block size; the process counts as warm after at least WARM_MIN cycles and 3 blocks in a
 * row that grew RSS by less than 2 MiB each. The WebRTC worker's native memory (node-datachannel's
 * threads and pools) steps up once, by 15-18 MiB, somewhere between 1,000 and 1,500 cycles, after
 * a plateau that can pass for steady; from there it stays within 2 MiB for at least 6,500 more
 * (16 blocks of 500 on one server: worker RSS 100, 100, 115, 118, then 116-120 MiB).
 */
const WARM_BLOCK = 250;
const WARM_MIN = 2000;
const WARM_STEADY_MIB = 2;
const WARM_STEADY_BLOCKS = 3;

/**
 * Runs the cycles against a fresh server process after a warm-up. RSS first climbs while V8's heap,
 * the allocator's arenas and (WebRTC) node-datachannel's native pools reach their working size, then
 * levels off; growth measured from there is what repeated use costs. Without `warmup` the warm-up
 * runs blocks of 250 cycles, at least 2,000 cycles and until three in a row each grow RSS by less
 * than 2 MiB (at most `maxWarmup` cycles, default 6000); with `warmup` it runs exactly that many. Growth since the server started is reported
 * too. Memory is read after a full collection in the server and its worker. The server's young
 * generation is fixed at its full size (2 x 16 MiB) from the start: V8 otherwise doubles it from
 * 16 to 32 MiB at some point of the run, after the warm-up or not, and those 16 MiB of RSS are
 * neither a leak nor a cost of churn.
 */
export async function runChurn(o: { cycles: number; transport: 'ws' | 'webrtc'; concurrency?: number; warmup?: number; maxWarmup?: number; remeasureAboveMiB?: number }): Promise<ChurnResult> {
  const server = await ServerProcess.start({ root, webrtc: o.transport === 'webrtc', npcs: 50, roomCapacity: 1024, gcOnSignal: true, semiSpaceMiB: 16, env: { TICKWIRE_RESUME_GRACE_MS: '0', TICKWIRE_ROOM_GRACE_MS: '600000' } });
  const sum = (r: { server: number; worker: number }): number => r.server + r.worker;
  const clients = new ChurnClients();
  try {
    const conc = o.concurrency ?? (o.transport === 'webrtc' ? 10 : 20);
    await server.collectGarbage(500);
    const rssStart = sum(rssSplitMiB(server.pid));
    let warm = 0;
    let failed = 0;
    let steady = false;
    if (o.warmup !== undefined) {
      failed += await clients.run(server.url, o.transport, o.warmup, conc, 0);
      warm = o.warmup;
    } else {
      const max = o.maxWarmup ?? 6000;
      let prev = rssStart;
      let steadyBlocks = 0;
      while (warm < max && (warm < WARM_MIN || steadyBlocks < WARM_STEADY_BLOCKS)) {
        failed += await clients.run(server.url, o.transport, WARM_BLOCK, conc, warm);
        warm += WARM_BLOCK;
        await server.collectGarbage(300);
        const now = sum(rssSplitMiB(server.pid));
        steadyBlocks = now - prev < WARM_STEADY_MIB ? steadyBlocks + 1 : 0;
        prev = now;
      }
      steady = steadyBlocks >= WARM_STEADY_BLOCKS;
    }
    // A round: the cycles from a settled baseline to a settled end. A second round runs when the
    // first grew RSS by `remeasureAboveMiB` or more: a leak grows again by as much, while a process
    // still reaching its working size (seen once under a loaded suite: the server's RSS stepped up
    // 25 MiB in the measured cycles after a steady warm-up, its heaps flat) does not.
    let warmed = warm;
    const round = async (): Promise<{ baseline: Record<string, number>; end: Record<string, number>; rss0: { server: number; worker: number }; rss1: { server: number; worker: number }; seconds: number }> => {
      const baseline = await settle(server);
      const rss0 = rssSplitMiB(server.pid);
      const t0 = performance.now();
      failed += await clients.run(server.url, o.transport, o.cycles, conc, warmed);
      warmed += o.cycles;
      const seconds = (performance.now() - t0) / 1000;
      const end = await settle(server);
      return { baseline, end, rss0, rss1: rssSplitMiB(server.pid), seconds };
    };
    const first = await round();
    const firstGrowth = sum(first.rss1) - sum(first.rss0);
    const last = o.remeasureAboveMiB !== undefined && firstGrowth >= o.remeasureAboveMiB ? await round() : first;
    const { baseline, end, rss0, rss1, seconds } = last;
    return {
      transport: o.transport, cycles: o.cycles, warmupCycles: warm, warmupSteady: steady, failed, seconds, rssMiBAtStart: rssStart, rssMiBAfterWarmup: sum(first.rss0), rssMiBEnd: sum(rss1),
      rssGrowthMiB: sum(rss1) - sum(rss0), rssGrowthSinceStartMiB: sum(rss1) - rssStart,
      serverRssGrowthMiB: rss1.server - rss0.server, workerRssGrowthMiB: rss1.worker - rss0.worker, baseline, end, clientAborts: clients.aborts,
      rounds: last === first ? 1 : 2, firstRoundRssGrowthMiB: firstGrowth,
    };
  } finally {
    clients.stop();
    await server.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, dflt: string): string => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const transport = arg('transport', 'ws') === 'webrtc' ? 'webrtc' : 'ws';
  runChurn({ cycles: Number(arg('cycles', '1000')), remeasureAboveMiB: process.argv.includes('--remeasure-above') ? Number(arg('remeasure-above', '20')) : undefined, warmup: process.argv.includes('--warmup') ? Number(arg('warmup', '0')) : undefined, transport, concurrency: Number(arg('concurrency', transport === 'webrtc' ? '10' : '20')) }).then(
    (r) => {
      console.log(process.argv.includes('--json') ? JSON.stringify(r) : JSON.stringify(r, null, 2));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
