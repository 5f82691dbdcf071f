// `npm run bench:http`: autocannon against the server's HTTP endpoints (/healthz, /metrics, /rooms)
// and the WebRTC signaling route, with the server in its own process; requests/s and latency.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ServerProcess } from '../tools/measure/server-proc.ts';
import { commitId, compareResults, formatDifferences, machineInfo, markdownTable, type MachineInfo } from '../tools/measure/report.ts';
import { round } from '../tools/measure/stats.ts';
import { BotPool, REPO_ROOT } from '../tools/bots/pool.ts';

/** The subset of autocannon's options used here. */
interface AutocannonOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  duration: number;
}

/** The subset of autocannon's result used here. */
interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; max: number; average: number };
  throughput: { average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats?: Record<string, { count: number }>;
}

type Autocannon = (o: AutocannonOptions) => Promise<AutocannonResult>;

/** One endpoint's figures. */
export interface EndpointResult {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  /** What a request gets (status code) in this run. */
  expectedStatus: number;
  requestsPerSec: number;
  latencyMs: { p50: number; p99: number; max: number };
  throughputBytesPerSec: number;
  errors: number;
  timeouts: number;
  /** Responses whose status was not the expected one. */
  unexpectedStatus: number;
}

/** Stored result of the HTTP benchmark. */
export interface HttpBenchResult {
  connections: number;
  secondsPerEndpoint: number;
  botsConnected: number;
  endpoints: EndpointResult[];
  machine: MachineInfo;
  commit: string;
  command: string;
  note: string;
  at: string;
}

/** Figures of one autocannon run. */
export function endpointFigures(name: string, method: 'GET' | 'POST', path: string, expectedStatus: number, r: AutocannonResult): EndpointResult {
  const codes = r.statusCodeStats ?? {};
  const expected = codes[String(expectedStatus)]?.count ?? 0;
  const answered = Object.values(codes).reduce((s, c) => s + c.count, 0);
  return {
    name, method, path, expectedStatus,
    requestsPerSec: round(r.requests.average, 1),
    latencyMs: { p50: round(r.latency.p50, 3), p99: round(r.latency.p99, 3), max: round(r.latency.max, 3) },
    throughputBytesPerSec: round(r.throughput.average, 0),
    errors: r.errors, timeouts: r.timeouts, unexpectedStatus: answered - expected,
  };
}

const RESULT_FILE = join(REPO_ROOT, 'bench/results/http.json');

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '10' }, bots: { type: 'string', default: '10' },
      npcs: { type: 'string', default: '500' }, json: { type: 'boolean', default: false }, save: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const botCount = Number(values.bots);
  const npcs = Number(values.npcs);
  if (![seconds, connections, botCount, npcs].every((v) => Number.isInteger(v) && v >= 0) || seconds < 1 || connections < 1) throw new Error('--seconds, --connections >= 1 and --bots, --npcs >= 0 must be integers');
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const log = (l: string): void => {
    process.stderr.write(`${l}\n`);
  };
  const server = await ServerProcess.start({ root: REPO_ROOT, webrtc: true, npcs, roomCapacity: Math.max(8, botCount + 8) });
  let pool: BotPool | undefined;
  try {
    // a few bots so /rooms and /metrics have something to report
    if (botCount > 0) {
      pool = await BotPool.start({ url: server.url, count: botCount, transport: 'ws', rampPerSec: 50, fullBots: 0 });
      await new Promise((r) => setTimeout(r, 2500 + (botCount * 1000) / 50));
    }
    const connected = pool ? (await pool.read()).active : 0;
    const signaling = `http://127.0.0.1:${server.signalingPort}`;
    const targets: { name: string; method: 'GET' | 'POST'; base: string; path: string; status: number; headers?: Record<string, string>; body?: string }[] = [
      { name: 'health', method: 'GET', base: server.url, path: '/healthz', status: 200 },
      { name: 'metrics', method: 'GET', base: server.url, path: '/metrics', status: 200 },
      { name: 'rooms', method: 'GET', base: server.url, path: '/rooms', status: 200 },
      // an unknown session token: the refusal path every unauthenticated peer hits (a valid token admits one peer only)
      { name: 'webrtc signaling (unknown token)', method: 'POST', base: signaling, path: '/.wrtc/v2/connections', status: 401, headers: { authorization: 'not-a-session-token', 'content-type': 'application/json' }, body: '{}' },
    ];
    const endpoints: EndpointResult[] = [];
    for (const t of targets) {
      log(`autocannon ${t.method} ${t.path} (${connections} connections, ${seconds} s)`);
      const r = await autocannon({ url: `${t.base}${t.path}`, method: t.method, connections, duration: seconds, ...(t.headers ? { headers: t.headers } : {}), ...(t.body ? { body: t.body } : {}) });
      const e = endpointFigures(t.name, t.method, t.path, t.status, r);
      endpoints.push(e);
      log(`  ${e.requestsPerSec} req/s, latency p50 ${e.latencyMs.p50} ms p99 ${e.latencyMs.p99} ms max ${e.latencyMs.max} ms, ${e.unexpectedStatus} unexpected statuses, ${e.errors} errors`);
    }
    const result: HttpBenchResult = {
      connections, secondsPerEndpoint: seconds, botsConnected: connected, endpoints, machine: machineInfo(), commit: commitId(REPO_ROOT),
      command: `npm run bench:http -- ${process.argv.slice(2).join(' ')}`.trim(),
      note: 'autocannon runs on the same 2-core machine as the server (shared with other work): preliminary figures.',
      at: new Date().toISOString(),
    };
    if (existsSync(RESULT_FILE)) {
      try {
        const prev = JSON.parse(readFileSync(RESULT_FILE, 'utf8')) as HttpBenchResult;
        for (const e of endpoints) {
          const old = prev.endpoints.find((p) => p.name === e.name);
          if (old) log(`${e.name} compared with the stored result (${prev.at}):\n${formatDifferences(compareResults(e, old, ['requestsPerSec', 'latencyMs.p50', 'latencyMs.p99']))}`);
        }
      } catch {
        log('stored result unreadable; not compared');
      }
    }
    if (values.save) {
      mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
      writeFileSync(RESULT_FILE, JSON.stringify(result, null, 2) + '\n');
      const md = `# HTTP endpoints\n\n${result.note}\n\nCommand: \`${result.command}\` (${result.machine.cores} cores, ${result.machine.cpuModel}, ${result.at}).\n\n` +
        markdownTable(['endpoint', 'method', 'path', 'status', 'requests/s', 'latency p50 ms', 'latency p99 ms', 'latency max ms', 'errors'], endpoints.map((e) => [e.name, e.method, e.path, e.expectedStatus, e.requestsPerSec, e.latencyMs.p50, e.latencyMs.p99, e.latencyMs.max, e.errors + e.timeouts + e.unexpectedStatus])) + '\n';
      writeFileSync(join(REPO_ROOT, 'bench/results/http.md'), md);
      log(`wrote ${RESULT_FILE}`);
    }
    console.log(values.json ? JSON.stringify(result) : markdownTable(['endpoint', 'requests/s', 'p50 ms', 'p99 ms', 'max ms'], endpoints.map((e) => [e.name, e.requestsPerSec, e.latencyMs.p50, e.latencyMs.p99, e.latencyMs.max])));
  } finally {
    await pool?.stop().catch(() => pool?.kill());
    await server.stop();
  }
}

if (process.argv[1] && /http-bench\.ts$/.test(process.argv[1])) {
  main().catch((err: unknown) => {
    console.error(`bench:http failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
