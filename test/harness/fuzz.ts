// Long fuzz runs: `npm run fuzz -- --seconds S [--seed K] [--target all|control|input|ack|snapshot|server|http]`
// feeds every decoder and the live server mutated corpus inputs until the time is up, prints
// inputs/s and the slowest input, saves failing inputs to test/corpus/<target>/crash-<hash>.bin and
// exits non-zero on any failure. `--save` stores the run's figures in bench/results/fuzz.json;
// `--write-seeds` regenerates the seed files of the corpus.
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { deriveSeed } from '../../shared/sim/rng.ts';
import type { RtcProcessTransport } from '../../server/net/rtc-process.ts';
import {
  buildSeeds, decoderTargets, fuzzDecoder, inputsPerSec, loadCorpus, newReport, saveCrash, summarize, writeSeeds,
  type DecoderTarget, type FuzzFailure, type FuzzReport,
} from './fuzz-targets.ts';
import {
  fuzzHttp, fuzzWebRtc, fuzzWebSocket, healthy, InboxFuzzer, serverCorpus, SignalingPeers, startFuzzServer,
  summarizeHttp, summarizeLive, type FuzzServer, type HttpReport, type LiveReport,
} from './fuzz-live.ts';
import { captureSnapshotStream, snapshotTargets, streamSeeds } from './fuzz-snapshot.ts';

const GROUPS = ['control', 'input', 'ack', 'snapshot', 'server', 'http'] as const;
type Group = (typeof GROUPS)[number];

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string' },
    target: { type: 'string', default: 'all' },
    'write-seeds': { type: 'boolean', default: false },
    save: { type: 'boolean', default: false },
  },
});

if (args['write-seeds']) {
  const stream = await captureSnapshotStream({ snapshots: 24 });
  for (const path of writeSeeds({ ...buildSeeds(), [`snapshot-${stream.game.name}`]: streamSeeds(stream) })) console.log(`wrote ${path}`);
  process.exit(0);
}

const seconds = Number(args.seconds);
const seed = args.seed !== undefined ? Number(args.seed) : Date.now() % 0xffffffff;
const wanted = args.target.split(',').map((t) => t.trim());
if (!Number.isFinite(seconds) || seconds <= 0 || !Number.isInteger(seed) || seed < 0) {
  console.error('usage: npm run fuzz -- --seconds S [--seed K] [--target all|control|input|ack|snapshot|server|http[,...]] [--write-seeds]');
  process.exit(2);
}
for (const t of wanted) {
  if (t !== 'all' && !(GROUPS as readonly string[]).includes(t)) {
    console.error(`unknown target ${t}; one of all, ${GROUPS.join(', ')}`);
    process.exit(2);
  }
}
const groups: Group[] = wanted.includes('all') ? [...GROUPS] : (wanted as Group[]);

// Anything that escapes is a failure of the run, not a crash of it.
const escaped: string[] = [];
process.on('uncaughtException', (err) => escaped.push(`uncaught exception: ${err.stack ?? String(err)}`));
process.on('unhandledRejection', (err) => escaped.push(`unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));

/** One fuzzing job: runs a slice of about `ms` and folds what it found into its totals. */
interface Job {
  readonly name: string;
  /** Corpus directory failing inputs are saved to. */
  readonly corpusDir: string;
  slice(ms: number, sliceSeed: number): Promise<void>;
  /** Totals over all slices. */
  readonly total: FuzzReport | HttpReport;
  line(): string;
  failures(): FuzzFailure[];
}

function merge(into: FuzzReport, r: FuzzReport): void {
  into.inputs += r.inputs;
  into.accepted += r.accepted;
  into.rejected += r.rejected;
  into.elapsedMs += r.elapsedMs;
  into.maxMs = Math.max(into.maxMs, r.maxMs);
  into.rawMaxMs = Math.max(into.rawMaxMs, r.rawMaxMs);
  into.retimed += r.retimed;
  into.failureCount += r.failureCount;
  into.failures.push(...r.failures.slice(0, Math.max(0, 50 - into.failures.length)));
  for (const [f, n] of Object.entries(r.fields)) into.fields[f] = (into.fields[f] ?? 0) + n;
}

function decoderJob(target: DecoderTarget, corpus = loadCorpus(target.name).map((e) => e.bytes)): Job {
  const total = newReport(target.name);
  return {
    name: target.name,
    corpusDir: target.name,
    total,
    async slice(ms, s) {
      merge(total, fuzzDecoder(target, corpus, { seed: s, inputs: Number.MAX_SAFE_INTEGER, durationMs: ms }));
    },
    line: () => summarize(total),
    failures: () => total.failures,
  };
}

function liveTotal(target: string): LiveReport {
  return { ...newReport(target), dropped: 0, rejoins: 0, ticks: 0, delivered: 0 };
}

function mergeLive(into: LiveReport, r: LiveReport): void {
  merge(into, r);
  into.dropped += r.dropped;
  into.rejoins += r.rejoins;
  into.ticks += r.ticks;
  into.delivered += r.delivered;
}

/** Servers are started once and fuzzed across slices, so state that builds up over a long run counts too. */
let inbox: InboxFuzzer | undefined;
let wsServer: FuzzServer | undefined;
let rtcServer: FuzzServer | undefined;

function serverJobs(): Job[] {
  const corpus = serverCorpus();
  const inboxTotal = liveTotal('inbox');
  const wsTotal = liveTotal('ws');
  const rtcTotal = liveTotal('rtc');
  const live = (name: string, total: LiveReport, run: (ms: number, s: number) => Promise<LiveReport>): Job => ({
    name,
    corpusDir: 'server',
    total,
    async slice(ms, s) {
      mergeLive(total, await run(ms, s));
    },
    line: () => summarizeLive(total),
    failures: () => total.failures,
  });
  return [
    live('inbox', inboxTotal, async (ms, s) => {
      inbox ??= await InboxFuzzer.start();
      return inbox.run(corpus, { seed: s, inputs: Number.MAX_SAFE_INTEGER, durationMs: ms });
    }),
    live('ws', wsTotal, async (ms, s) => {
      wsServer ??= await startFuzzServer();
      return fuzzWebSocket(wsServer, corpus.player, { seed: s, inputs: Number.MAX_SAFE_INTEGER, durationMs: ms });
    }),
    live('rtc', rtcTotal, async (ms, s) => {
      rtcServer ??= await startFuzzServer({ webrtc: true, webrtcProcess: true });
      const rtc = rtcServer.srv.rtc as RtcProcessTransport;
      const restarts0 = rtc.restarts;
      const recent: Uint8Array[] = [];
      const r = await fuzzWebRtc(rtcServer, corpus.player, {
        seed: s, inputs: Number.MAX_SAFE_INTEGER, durationMs: ms,
        onSend: (b) => {
          recent.push(b.slice());
          if (recent.length > 64) recent.shift();
        },
      });
      if (rtc.restarts > restarts0) {
        // the worker died: one of the last datagrams (or their timing) did it
        for (const input of recent) r.failures.push({ kind: 'exception', message: 'the WebRTC worker died (one of the last 64 datagrams)', input, ms: 0 });
        r.failureCount += recent.length;
        await rtc.whenUp(15_000);
      }
      return r;
    }),
  ];
}

function httpTotal(target: string): HttpReport {
  return { target, sent: 0, responded: 0, statuses: {}, closedWithoutReply: 0, timedOut: 0, maxReplyMs: 0, elapsedMs: 0 };
}

function mergeHttp(into: HttpReport, r: HttpReport): void {
  into.sent += r.sent;
  into.responded += r.responded;
  into.closedWithoutReply += r.closedWithoutReply;
  into.timedOut += r.timedOut;
  into.maxReplyMs = Math.max(into.maxReplyMs, r.maxReplyMs);
  into.elapsedMs += r.elapsedMs;
  for (const [k, v] of Object.entries(r.statuses)) into.statuses[k] = (into.statuses[k] ?? 0) + v;
}

/**
 * HTTP jobs. A failure here is the server no longer answering /healthz, an error logged, or (for
 * signaling, run against the supervised WebRTC process) the worker restarting: then the last
 * requests sent are saved, the culprit among them.
 */
function httpJobs(): Job[] {
  const jobs: Job[] = [];
  const make = (name: string, corpusDir: string, send: (ms: number, s: number, recent: Uint8Array[]) => Promise<{ report: HttpReport; problem?: string }>): Job => {
    const total = httpTotal(name);
    const failures: FuzzFailure[] = [];
    const recent: Uint8Array[] = [];
    return {
      name,
      corpusDir,
      total,
      async slice(ms, s) {
        const { report, problem } = await send(ms, s, recent);
        mergeHttp(total, report);
        if (problem) for (const input of recent) failures.push({ kind: 'exception', message: problem, input, ms: 0 });
      },
      line: () => summarizeHttp(total),
      failures: () => failures,
    };
  };
  const remember = (recent: Uint8Array[]) => (b: Uint8Array): Uint8Array => {
    recent.push(b.slice());
    if (recent.length > 32) recent.shift();
    return b;
  };
  jobs.push(make('http', 'http', async (ms, s, recent) => {
    wsServer ??= await startFuzzServer();
    const fs = wsServer;
    const errors0 = fs.log.lines.length;
    const report = await fuzzHttp(loadCorpus('http').map((e) => e.bytes), { name: 'http', port: fs.srv.http!.port, seed: s, inputs: Number.MAX_SAFE_INTEGER, durationMs: ms, halfCloseMs: 30, prepare: remember(recent) });
    const problem = !(await healthy(fs.srv)) ? 'server stopped answering /healthz' : fs.log.lines.length > errors0 ? `server logged: ${fs.log.lines.at(-1)?.msg}` : undefined;
    return { report, problem };
  }));
  jobs.push(make('signaling', 'signaling', async (ms, s, recent) => {
    rtcServer ??= await startFuzzServer({ webrtc: true, webrtcProcess: true });
    const fs = rtcServer;
    const rtc = fs.srv.rtc as RtcProcessTransport;
    const restarts0 = rtc.restarts;
    const errors0 = fs.log.lines.length;
    const peers = new SignalingPeers(fs.srv, rtc.signalingPort);
    await peers.refresh();
    const prepare = remember(recent);
    const report = await fuzzHttp(loadCorpus('signaling').map((e) => e.bytes), {
      name: 'signaling', port: rtc.signalingPort, seed: s, inputs: Number.MAX_SAFE_INTEGER, durationMs: ms, maxBytes: 20_000, halfCloseMs: 400,
      prepare: (b) => prepare(peers.prepare(b)), onAnswer: peers.onAnswer,
    });
    await peers.closeAll();
    const problem = rtc.restarts > restarts0 ? 'the WebRTC worker died (one of the last 32 requests)'
      : !(await healthy(fs.srv)) ? 'server stopped answering /healthz'
        : fs.log.lines.length > errors0 ? `server logged: ${fs.log.lines.at(-1)?.msg}` : undefined;
    if (rtc.restarts > restarts0) await rtc.whenUp(15_000);
    return { report, problem };
  }));
  return jobs;
}

const jobs: Job[] = [];
for (const g of groups) {
  if (g === 'control') jobs.push(...decoderTargets().filter((t) => t.name.startsWith('control-')).map((t) => decoderJob(t)));
  if (g === 'input') jobs.push(...decoderTargets().filter((t) => t.name.startsWith('input-')).map((t) => decoderJob(t)));
  if (g === 'ack') jobs.push(...decoderTargets().filter((t) => t.name === 'ack' || t.name === 'view').map((t) => decoderJob(t)));
  if (g === 'snapshot') jobs.push(...(await snapshotTargets()).map((s) => decoderJob(s.target, s.corpus)));
  if (g === 'server') jobs.push(...serverJobs());
  if (g === 'http') jobs.push(...httpJobs());
}

console.log(`fuzzing ${jobs.map((j) => j.name).join(', ')} for ${seconds} s with seed ${seed} (replay with --seed ${seed})`);
const endMs = Date.now() + seconds * 1000;
const sliceMs = Math.max(500, Math.min(5000, (seconds * 1000) / jobs.length / 4));
let round = 0;
while (Date.now() < endMs) {
  for (const job of jobs) {
    const left = endMs - Date.now();
    if (left <= 0) break;
    await job.slice(Math.min(sliceMs, left), deriveSeed(seed, round * jobs.length + jobs.indexOf(job)));
  }
  round++;
}

await inbox?.stop();
await wsServer?.srv.stop();
await rtcServer?.srv.stop();

let failed = escaped.length;
const saved: string[] = [];
console.log('');
for (const job of jobs) {
  console.log(job.line());
  for (const f of job.failures()) {
    failed++;
    const path = saveCrash(job.corpusDir, f.input);
    saved.push(path);
    console.log(`  ${f.kind}: ${f.message.split('\n')[0]}\n    saved ${path}`);
  }
}
for (const e of escaped) console.log(e);

const result = {
  seed, seconds, at: new Date().toISOString(), node: process.version,
  note: 'measured on a shared 2-core machine; timings are noisy',
  targets: jobs.map((j) => ({ ...j.total, failures: undefined, inputsPerSec: 'inputs' in j.total ? inputsPerSec(j.total) : undefined })),
  failures: failed, saved, escaped,
};
if (args.save) {
  mkdirSync(new URL('../../bench/results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('../../bench/results/fuzz.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
}
console.log(`\n${failed === 0 ? 'no failures' : `${failed} failure(s)`}${args.save ? '; results in bench/results/fuzz.json' : ' (--save stores the figures in bench/results/fuzz.json)'}`);
process.exit(failed === 0 ? 0 : 1);
