// `npm run bots`: runs N headless bots against a Tickwire server, shows progress on a terminal and
// prints a summary (or one JSON object with --json).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BotPool, fullSampleSize, type BotRunOptions } from './pool.ts';
import { diffTotals, emptyTotals, type BotTotals } from '../measure/totals.ts';
import { progressLine, summarizeBots, type BotSummary } from '../measure/summary.ts';
import { scriptNames } from './scripts.ts';
import { GAMES } from '../../games/index.ts';

const USAGE = `usage: npm run bots -- --url http://127.0.0.1:PORT --count N --seconds S --transport webrtc|ws
         [--ramp PER_SEC] [--script NAME] [--script-module PATH] [--seed K] [--full N]
         [--latency-ms L] [--jitter-ms J] [--loss-pct X] [--input-packet-hz H] [--nice N] [--room NAME] [--spectate] [--camera-pan U] [--origin URL] [--games PATH] [--json]

  --url          server base URL (HTTP port; the WebSocket is at /ws)         required
  --count        number of bots                                               default 10
  --seconds      run time after the last bot started connecting               default 10
  --transport    webrtc (datachannel, WebSocket fallback) or ws               default ws
  --ramp         connects started per second                                  default 50
  --script       behaviour script                                             default: the game's (arena-v1: arena-v1)
  --script-module  module that registers more scripts (repeatable), loaded before --script is checked
  --seed         run seed (every bot's PRNG derives from it)                  default 1
  --full         bots running the full client netcode (rest run thin)         default 1 per 25 bots, 1..8
  --latency-ms   one-way delay added by the bots' link conditioner, each way  default 0
  --jitter-ms    each message's delay varies by uniform -J..+J around it      default 0
  --loss-pct     datagrams dropped each way, percent (WebRTC channel)         default 0
  --input-packet-hz  input packets per second per bot, 1..tick rate           default the netcode's (30)
  --nice         run the bot processes at nice N, 0..19 (every thread): on the server's machine
                 they then yield the cores to it, as bots on other machines would     default not set
  --room         room to join (created if missing); default matchmaking
  --matchmake    a fleet member's URL: each bot gets a seat from its POST /matchmake and connects
                 wherever the seat is, and joins again through it when it loses its server
  --spectate     every bot watches as a spectator (no entity, no inputs): in --room, or with
                 --matchmake through a spectator's seat (a room that exists, never a new one)
  --camera-pan   with --spectate: each bot's camera crosses the world at U world units a second,
                 on a seeded heading, turning at the edges (a room with views sends the view
                 around it)                                                   default 0 (still)
  --origin       Origin header of the bots' WebSockets (a server with TICKWIRE_ALLOWED_ORIGINS checks it)
  --games        module exporting the GAMES registry that holds the server's game (a game project's games.ts)
  --json         print only the summary as one JSON object`;

/** Parsed command line of the bots CLI. */
export interface BotsCliOptions extends BotRunOptions {
  seconds: number;
  json: boolean;
  /** False when --script was not given: the run then uses the game's default script (arena-v1's is `script`'s default, arena-v1). */
  scriptNamed?: boolean;
}

/** Parses the bots CLI arguments; throws with a message on bad input. */
export function parseBotsArgs(argv: string[]): BotsCliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' }, count: { type: 'string', default: '10' }, seconds: { type: 'string', default: '10' },
      transport: { type: 'string', default: 'ws' }, ramp: { type: 'string', default: '50' }, script: { type: 'string' },
      'script-module': { type: 'string', multiple: true }, seed: { type: 'string', default: '1' }, full: { type: 'string' },
      'latency-ms': { type: 'string', default: '0' }, 'jitter-ms': { type: 'string', default: '0' }, 'loss-pct': { type: 'string', default: '0' },
      room: { type: 'string' }, origin: { type: 'string' }, games: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false }, spectate: { type: 'boolean', default: false },
      'camera-pan': { type: 'string' }, 'bots-per-process': { type: 'string' }, matchmake: { type: 'string' }, 'input-packet-hz': { type: 'string' }, nice: { type: 'string' },
    },
    strict: true,
  });
  if (values.help) throw new Error(USAGE);
  if (values.url === undefined) values.url = values.matchmake;
  if (!values.url) throw new Error(`--url (or --matchmake) is required\n${USAGE}`);
  const num = (name: string, raw: string | undefined, min: number, max: number, int = true): number => {
    const v = Number(raw);
    if (!Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))) throw new Error(`--${name} must be ${int ? 'an integer' : 'a number'} in ${min}..${max} (got ${JSON.stringify(raw)})`);
    return v;
  };
  const transport = values.transport;
  if (transport !== 'ws' && transport !== 'webrtc') throw new Error(`--transport must be webrtc or ws (got ${JSON.stringify(transport)})`);
  const count = num('count', values.count, 1, 5000);
  const latencyMs = num('latency-ms', values['latency-ms'], 0, 10_000, false);
  const jitterMs = num('jitter-ms', values['jitter-ms'], 0, 10_000, false);
  const lossPct = num('loss-pct', values['loss-pct'], 0, 100, false);
  const opts: BotsCliOptions = {
    url: values.url.replace(/\/$/, ''), count, transport, seconds: num('seconds', values.seconds, 1, 86_400, false),
    rampPerSec: num('ramp', values.ramp, 0.1, 10_000, false), script: values.script ?? 'arena-v1', scriptNamed: values.script !== undefined, scriptModules: values['script-module'] ?? [],
    seed: num('seed', values.seed, 0, 0xffffffff), fullBots: values.full !== undefined ? num('full', values.full, 0, count) : fullSampleSize(count),
    json: values.json,
  };
  if (values['input-packet-hz'] !== undefined) opts.inputPacketRateHz = num('input-packet-hz', values['input-packet-hz'], 1, 128);
  if (values.nice !== undefined) opts.nice = num('nice', values.nice, 0, 19);
  if (values['bots-per-process'] !== undefined) opts.botsPerProcess = num('bots-per-process', values['bots-per-process'], 1, 5000);
  if (latencyMs > 0 || jitterMs > 0 || lossPct > 0) opts.conditions = { latencyMs, jitterMs, lossPct };
  if (values.room !== undefined) opts.room = values.room;
  if (values.origin !== undefined) opts.origin = values.origin;
  if (values.games !== undefined) opts.gamesModule = resolve(values.games);
  if (values.matchmake !== undefined) opts.matchmake = values.matchmake.replace(/\/$/, '');
  if (values.spectate) {
    if (values.room === undefined && values.matchmake === undefined) throw new Error(`--spectate needs --room NAME or --matchmake URL (a spectator never creates a room)\n${USAGE}`);
    opts.spectate = true;
  }
  if (values['camera-pan'] !== undefined) {
    if (!values.spectate) throw new Error(`--camera-pan moves a spectator's camera: it needs --spectate\n${USAGE}`);
    opts.cameraPanUnitsPerSec = num('camera-pan', values['camera-pan'], 0, 1_000_000);
  }
  return opts;
}

/** Why a request got no answer, in words (connection refused, host not found, timed out, ...). */
export function describeRequestError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused', ENOTFOUND: 'host not found', EAI_AGAIN: 'host not found (DNS lookup failed)',
    ECONNRESET: 'connection reset', EHOSTUNREACH: 'host unreachable', ENETUNREACH: 'network unreachable', ETIMEDOUT: 'connection timed out',
  };
  return (e?.code && words[e.code]) || e?.message || String(err);
}

/** GET `url` (http or https) with a deadline: the status and body, or a rejection in words. Any port (fetch refuses some). */
function httpGet(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return reject(new Error('not a URL'));
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return reject(new Error(`unsupported protocol ${u.protocol} (use http: or https:)`));
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 1 << 20) body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (err) => reject(new Error(describeRequestError(err))));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'TIMEOUT' })));
    req.on('error', (err) => reject(new Error(describeRequestError(err))));
    req.end();
  });
}

/** Reads GET /config: the game the server runs and whether it offers WebRTC. Throws saying plainly when no Tickwire server answers at `url`. */
export async function fetchServerConfig(url: string): Promise<{ game: string; webrtc: boolean }> {
  const fail = (why: string): Error => new Error(`no Tickwire server answers at ${url} (GET /config: ${why})`);
  let res: { status: number; body: string };
  try {
    res = await httpGet(`${url}/config`, 5000);
  } catch (err) {
    throw fail((err as Error).message);
  }
  if (res.status !== 200) throw fail(`HTTP ${res.status}`);
  let body: { game?: unknown; webrtc?: unknown } | null;
  try {
    body = JSON.parse(res.body) as { game?: unknown; webrtc?: unknown } | null;
  } catch {
    throw fail('not JSON');
  }
  if (typeof body?.game !== 'string') throw fail('no game name');
  return { game: body.game, webrtc: body.webrtc === true };
}

/** Waits `ms`, or less when `signal` aborts; leaves no listener behind. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((r) => {
    if (signal?.aborted) return r();
    const done = (): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      r();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Result of a bots run. */
export interface BotsRunResult {
  summary: BotSummary;
  totals: BotTotals;
  /** True when full bots ran the shared client netcode. */
  fullClient: boolean;
  /** The game the bots played. */
  game: string;
  /** The script they ran. */
  script: string;
}

/**
 * Runs the bots: starts them (ramping), shows progress every second through `progress` (if
 * given), runs until `seconds` after the last bot started, stops them and summarizes the run.
 * `signal` ends the run early (the summary covers the time run).
 */
export async function runBots(o: BotsCliOptions, progress?: (line: string) => void, signal?: AbortSignal): Promise<BotsRunResult> {
  if (!o.game) o.game = (await fetchServerConfig(o.url)).game;
  // without --script the game's own default runs; BotPool.start loads the script modules and checks the script fits the game
  const script = o.scriptNamed === false ? undefined : o.script;
  const startedMs = Date.now();
  const pool = await BotPool.start({ ...o, script });
  const first = emptyTotals(startedMs);
  const rampMs = o.rampPerSec && o.rampPerSec > 0 ? ((o.count - 1) * 1000) / o.rampPerSec : 0;
  const endMs = Date.now() + (o.inProcess ? 0 : 1500) + rampMs + o.seconds * 1000;
  let prev = first;
  while (Date.now() < endMs && !signal?.aborted) {
    await sleep(Math.min(1000, Math.max(0, endMs - Date.now())), signal);
    if (progress) {
      const now = await pool.read();
      progress(progressLine(now, prev, o.count));
      prev = now;
    }
  }
  const totals = await pool.stop();
  const window = diffTotals(totals, first);
  return { summary: summarizeBots(window, (totals.atMs - startedMs) / 1000), totals, fullClient: pool.fullClientAvailable, game: o.game, script: pool.script };
}

function printHuman(r: BotsRunResult): void {
  const s = r.summary;
  const lines = [
    `connected ${s.connected}, failed ${s.failed}${Object.keys(s.failReasons).length ? ` (${Object.entries(s.failReasons).map(([k, v]) => `${v}x ${k}`).join('; ')})` : ''}`,
    `transport: ${s.webrtcAtEnd} on WebRTC at the end, ${s.fellBackToWs} fell back to the WebSocket${s.rejoins > 0 ? `; ${s.rejoins} rejoined through the matchmaker after losing their server` : ''}`,
    `RTT p50 ${s.rttMs.p50} ms, p99 ${s.rttMs.p99} ms; connect p50 ${s.connectMs.p50} ms, p99 ${s.connectMs.p99} ms`,
    `per client per second: ${s.snapshotsPerClientPerSec} snapshots, down ${s.downPayloadBytesPerClientPerSec} B payload` +
      `${s.downWireBytesPerClientPerSec !== null ? ` (${s.downWireBytesPerClientPerSec} B wire)` : ''}, up ${s.upPayloadBytesPerClientPerSec} B payload` +
      `${s.upWireBytesPerClientPerSec !== null ? ` (${s.upWireBytesPerClientPerSec} B wire)` : ''}`,
    `game ${r.game}, script ${r.script}`,
    `full bots ${s.fullBots}${r.fullClient ? '' : GAMES[r.game]?.position ? ' (client netcode unavailable: all bots ran thin)' : ` (${r.game} declares no position fields: all bots ran thin)`}: prediction corrections ${s.predictionCorrectionsPerSec ?? 'n/a'}/s, ` +
      `render error mean ${s.renderErrorUnits.mean ?? 'n/a'} p99 ${s.renderErrorUnits.p99 ?? 'n/a'} units (${s.renderErrorSamples} samples)`,
    `inputs sent ${s.inputsSent}, acknowledged ${s.inputsAcked}; errors ${s.errors}${Object.keys(s.errorReasons).length ? ` (${Object.entries(s.errorReasons).map(([k, v]) => `${v}x ${k}`).join('; ')})` : ''}`,
    `bot processes used ${s.botCpuCoresUsed} cores${s.botStepsSkipped ? `, skipped ${s.botStepsSkipped} input steps (bots overloaded)` : ''}`,
  ];
  console.log(lines.join('\n'));
}

async function main(): Promise<void> {
  let o: BotsCliOptions;
  try {
    o = parseBotsArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    console.error(`scripts: ${scriptNames().join(', ')}`);
    process.exit(2);
  }
  // relative to where the command was typed (npm runs scripts from the project folder and says where in INIT_CWD)
  o.scriptModules = (o.scriptModules ?? []).map((m) => resolve(process.env.INIT_CWD ?? process.cwd(), m));
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  // --json: stdout carries the summary alone, whatever a script module or library prints
  if (o.json) for (const k of ['log', 'info', 'debug'] as const) console[k] = console.error;
  const tty = process.stderr.isTTY && !o.json;
  const progress = o.json ? undefined : (line: string): void => {
    if (tty) process.stderr.write(`\r\x1b[K${line}`);
    else process.stderr.write(`${line}\n`);
  };
  try {
    const r = await runBots(o, progress, ac.signal);
    if (tty) process.stderr.write('\n');
    if (o.json) process.stdout.write(`${JSON.stringify(r.summary)}\n`);
    else printHuman(r);
  } catch (err) {
    console.error(`bots failed: ${(err as Error).message}`);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) void main();
