// What clients that stop reading cost everyone else. Starts the server in its own process with P
// WebSocket bots, then alternates windows without and with K "slow readers" (clients that finish
// the handshake and never read a byte again, so the server's sends to them pile up), and compares
// the server's tick p50/p99 between the two kinds of window. A slow reader the server drops is
// replaced at once, so K of them are connected through every "with" window.
// `npm run bench:slow-reader -- [--players 50] [--npcs 500] [--slow 1] [--rounds 3] [--seconds 12] [--json] [--save]`
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BotPool, REPO_ROOT } from '../tools/bots/pool.ts';
import { histogramDelta, histogramQuantile, promHistogram, promValue, scrapeMetrics, type PromHistogram } from '../tools/measure/prom.ts';
import { joinWithoutReading } from '../tools/node-client/raw-ws.ts';
import { ServerProcess } from '../tools/measure/server-proc.ts';

/** Options of a run. */
export interface SlowReaderOptions {
  players: number;
  npcs: number;
  /** Slow readers connected during each "with" window. */
  slow: number;
  /** Pairs of windows (without, with). */
  rounds: number;
  /** Length of each window, s. */
  seconds: number;
}

/** Result of a run. */
export interface SlowReaderResult extends SlowReaderOptions {
  scenario: 'arena-v1';
  /** Tick duration over all "without" windows and over all "with" windows, ms. */
  tickMsWithout: { p50: number; p99: number; ticks: number };
  tickMsWith: { p50: number; p99: number; ticks: number };
  /** p99 with / p99 without - 1 (0.1 = 10% higher). */
  p99Rise: number;
  /** Slow readers opened, and dropped by the server (tickwire_client_timeouts_total) during the run. */
  slowOpened: number;
  slowDropped: number;
  /** Seconds from a slow reader's hello to the server dropping it, as seen by 250 ms polls of /metrics (p50, max). */
  dropAfterSec: { p50: number; max: number };
  /** Bots connected at the end, out of `players`. */
  botsConnected: number;
  /** Snapshots per bot per second over the "with" windows (the others kept getting theirs). */
  botSnapshotsPerSecWith: number;
  cores: number;
  at: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A client that joins and then never reads (counted from its hello; drops come from the server's metrics). */
class SlowReader {
  readonly welcomedAt = performance.now();
  private sock: Socket | undefined;
  private destroyed = false;

  constructor(port: number, name: string) {
    joinWithoutReading(port, name).then(
      (sock) => {
        this.sock = sock;
        if (this.destroyed) sock.destroy();
      },
      () => {},
    );
  }

  destroy(): void {
    this.destroyed = true;
    this.sock?.destroy();
  }
}

async function tickHistogram(url: string): Promise<{ h: PromHistogram; snapshots: number; timeouts: number }> {
  const samples = await scrapeMetrics(`${url}/metrics`);
  const h = promHistogram(samples, 'tickwire_tick_duration_seconds');
  if (!h) throw new Error('no tick histogram in /metrics');
  return { h, snapshots: promValue(samples, 'tickwire_snapshots_total'), timeouts: promValue(samples, 'tickwire_client_timeouts_total') };
}

async function timeoutsNow(url: string): Promise<number> {
  return promValue(await scrapeMetrics(`${url}/metrics`), 'tickwire_client_timeouts_total');
}

function merge(a: PromHistogram | undefined, b: PromHistogram): PromHistogram {
  if (!a) return b;
  return { bounds: b.bounds, cumulative: b.cumulative.map((c, i) => c + a.cumulative[i]), sum: a.sum + b.sum, count: a.count + b.count };
}

const ms = (h: PromHistogram, q: number): number => +(histogramQuantile(h, q) * 1000).toFixed(3);

/** Runs the comparison against a fresh server process. */
export async function runSlowReader(o: SlowReaderOptions, progress: (line: string) => void = () => {}): Promise<SlowReaderResult> {
  const server = await ServerProcess.start({ root: REPO_ROOT, webrtc: false, npcs: o.npcs, roomCapacity: o.players + o.slow + 8 });
  const slow: SlowReader[] = [];
  let pool: BotPool | undefined;
  try {
    pool = await BotPool.start({ url: server.url, count: o.players, transport: 'ws', fullBots: 0, rampPerSec: 100 });
    for (let t = Date.now() + 30_000; Date.now() < t; await sleep(200)) {
      const r = await pool.read();
      if (r.active >= o.players) break;
    }
    progress(`${o.players} bots connected; warming up 3 s`);
    await sleep(3000);
    let without: PromHistogram | undefined;
    let withSlow: PromHistogram | undefined;
    let snapshotsWith = 0;
    let secondsWith = 0;
    let seq = 0;
    const dropAfter: number[] = [];
    for (let round = 0; round < o.rounds; round++) {
      const a0 = await tickHistogram(server.url);
      await sleep(o.seconds * 1000);
      const a1 = await tickHistogram(server.url);
      without = merge(without, histogramDelta(a1.h, a0.h));
      for (let i = 0; i < o.slow; i++) slow.push(new SlowReader(server.port, `slow${seq++}`));
      // let them join before the window opens
      await sleep(500);
      const b0 = await tickHistogram(server.url);
      const t0 = performance.now();
      const end = t0 + o.seconds * 1000;
      // live slow readers, oldest first: the server drops them in the order they joined
      const live = slow.slice(-o.slow);
      let seen = b0.timeouts;
      while (performance.now() < end) {
        await sleep(250);
        const now = await timeoutsNow(server.url);
        for (; seen < now; seen++) {
          const gone = live.shift();
          if (gone) {
            dropAfter.push((performance.now() - gone.welcomedAt) / 1000);
            gone.destroy();
          }
          const fresh = new SlowReader(server.port, `slow${seq++}`);
          slow.push(fresh);
          live.push(fresh);
        }
      }
      const b1 = await tickHistogram(server.url);
      secondsWith += (performance.now() - t0) / 1000;
      withSlow = merge(withSlow, histogramDelta(b1.h, b0.h));
      snapshotsWith += b1.snapshots - b0.snapshots;
      for (const r of live) r.destroy();
      await sleep(500);
      progress(`round ${round + 1}/${o.rounds}: without p99 ${ms(without, 0.99)} ms, with p99 ${ms(withSlow, 0.99)} ms`);
    }
    const totals = await pool.read();
    const drops = [...dropAfter].sort((x, y) => x - y);
    const w = without!;
    const s = withSlow!;
    return {
      scenario: 'arena-v1', ...o,
      tickMsWithout: { p50: ms(w, 0.5), p99: ms(w, 0.99), ticks: w.count },
      tickMsWith: { p50: ms(s, 0.5), p99: ms(s, 0.99), ticks: s.count },
      p99Rise: +(ms(s, 0.99) / Math.max(1e-9, ms(w, 0.99)) - 1).toFixed(3),
      slowOpened: slow.length, slowDropped: drops.length,
      dropAfterSec: { p50: +(drops[Math.floor(drops.length / 2)] ?? 0).toFixed(2), max: +(drops[drops.length - 1] ?? 0).toFixed(2) },
      botsConnected: totals.active,
      botSnapshotsPerSecWith: +(snapshotsWith / Math.max(1, o.players + o.slow) / Math.max(1e-9, secondsWith)).toFixed(2),
      cores: (await import('node:os')).cpus().length,
      at: new Date().toISOString(),
    };
  } finally {
    for (const s of slow) s.destroy();
    await pool?.stop();
    await server.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, dflt: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    const v = i > 0 ? Number(process.argv[i + 1]) : dflt;
    if (!Number.isFinite(v) || v <= 0) {
      console.error(`--${name} must be a positive number`);
      process.exit(2);
    }
    return v;
  };
  const o: SlowReaderOptions = { players: arg('players', 50), npcs: arg('npcs', 500), slow: arg('slow', 1), rounds: arg('rounds', 3), seconds: arg('seconds', 12) };
  const json = process.argv.includes('--json');
  runSlowReader(o, (line) => console.error(`[slow-reader] ${line}`)).then(
    (r) => {
      console.log(json ? JSON.stringify(r) : JSON.stringify(r, null, 2));
      if (process.argv.includes('--save')) {
        const dir = join(REPO_ROOT, 'bench/results');
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'slow-reader.json'), JSON.stringify({ command: `npm run bench:slow-reader -- ${process.argv.slice(2).join(' ')}`, ...r }, null, 2) + '\n');
      }
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
