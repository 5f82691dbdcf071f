// Soak under bad networks: a real in-process server and N bots (the shared ClientNetcode) with the
// seeded link conditioner on both ends, under a named profile; checks crashes, exactly-once ordered
// reliable delivery and convergence after the link heals, and measures memory growth.
// `npm run soak -- --minutes M [--profile NAME|all] [--bots N] [--transport ws|webrtc] [--seed S] [--json]`
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { arena } from '../../games/arena.ts';
import { loadServerConfig } from '../../server/config.ts';
import { TickwireServer } from '../../server/server.ts';
import { ClientNetcode } from '../../netcode/netcode.ts';
import { defaultLinkSettings, type LinkSettings } from '../../shared/net/link-conditioner.ts';
import { conditionClientIO, type ConditionedIO } from '../../netcode/conditioned-io.ts';
import { Rng } from '../../shared/sim/rng.ts';
import { nodeClientIO } from '../../tools/node-client/io.ts';

/** Profile names, mildest first. */
export type ProfileName = 'lan' | 'wan50' | 'wan100' | 'bad250' | 'torture';

/** One direction of the link end to end (each direction gets the same). */
export interface LinkProfile {
  name: ProfileName;
  /** What the issue calls it. */
  label: string;
  /** One-way delay, ms. */
  delayMs: number;
  /** One-way jitter (uniform +/-), ms. */
  jitterMs: number;
  /** Datagrams lost, percent. */
  lossPct: number;
  /** Datagrams duplicated, percent (expected extra copies). */
  duplicatePct: number;
  /** Datagrams held back 40 ms so later ones overtake them, percent. */
  reorderPct: number;
}

/** The five profiles of the soak (yojimbo's soak.cpp torture settings last). */
export const PROFILES: readonly LinkProfile[] = [
  { name: 'lan', label: 'LAN', delayMs: 0, jitterMs: 0, lossPct: 0, duplicatePct: 0, reorderPct: 0 },
  { name: 'wan50', label: '50 ms / 1% loss', delayMs: 50, jitterMs: 0, lossPct: 1, duplicatePct: 0, reorderPct: 0 },
  { name: 'wan100', label: '100 ms +/- 20 ms / 5% loss', delayMs: 100, jitterMs: 20, lossPct: 5, duplicatePct: 0, reorderPct: 0 },
  { name: 'bad250', label: '250 ms +/- 50 ms / 10% loss / 5% dup / 2% reorder', delayMs: 250, jitterMs: 50, lossPct: 10, duplicatePct: 5, reorderPct: 2 },
  { name: 'torture', label: 'torture: 1000 ms +/- 100 ms / 25% loss / 25% dup', delayMs: 1000, jitterMs: 100, lossPct: 25, duplicatePct: 25, reorderPct: 0 },
];

/** Looks a profile up by name. */
export function profileByName(name: string): LinkProfile {
  const p = PROFILES.find((x) => x.name === name);
  if (!p) throw new Error(`unknown profile ${name}; one of ${PROFILES.map((x) => x.name).join(', ')}`);
  return p;
}

/**
 * Settings of the two ends so that every message crosses the profile once per direction. The
 * client's conditioner carries both the WebSocket stream and the datagrams, so it applies all of
 * the delay and jitter (control messages and snapshots then see the same latency, and a ping's
 * round trip is the link's). Every datagram (inputs, acks, snapshots) also crosses the server's
 * conditioner, so loss, duplication and reordering are split between the ends: each end applies
 * a rate r with 1 - (1 - r)^2 = the profile's loss and reorder share, (1 + r)^2 = 1 + the
 * duplication share.
 */
export function endSettings(p: LinkProfile): { client: LinkSettings; server: LinkSettings } {
  const enabled = p.name !== 'lan';
  const half = (pct: number): number => 100 * (1 - Math.sqrt(1 - pct / 100));
  const halfDup = (pct: number): number => 100 * (Math.sqrt(1 + pct / 100) - 1);
  const shared = { enabled, lossPct: half(p.lossPct), duplicatePct: halfDup(p.duplicatePct), reorderPct: half(p.reorderPct), reorderMs: 40 };
  return {
    client: { ...defaultLinkSettings(), ...shared, delayMs: p.delayMs, jitterMs: p.jitterMs },
    server: { ...defaultLinkSettings(), ...shared, delayMs: 0, jitterMs: 0 },
  };
}

/** Options of one soak run. */
export interface SoakOptions {
  profile: LinkProfile;
  /** Time under the bad link before it heals, ms (after every bot joined). */
  durationMs: number;
  /** Bots. Default 4. */
  bots?: number;
  /** Conditioner seed (server: seed + session id; bot i: seed + 1000 + 2i). Default 1. */
  seed?: number;
  /** Unreliable channel: 'ws' (default: WebSocket only, its datagrams lossy) or 'webrtc' (geckos datachannels). */
  transport?: 'ws' | 'webrtc';
  /** Each bot sends a chat message this often, ms. Default 400. */
  chatIntervalMs?: number;
  /** NPCs in the arena. Default 20. */
  npcs?: number;
  /** Memory is sampled this often, ms. Default 5000. */
  memorySampleMs?: number;
  /** Memory samples before this time (after the bots joined) are warm-up, ms. Default min(60 s, durationMs / 5). */
  warmupMs?: number;
  /** Allowance for processing (timers, decode, a busy machine) added to the convergence bound, ms. Default 100. */
  allowanceMs?: number;
  /** Progress lines (long runs). */
  log?: (line: string) => void;
}

/** Per-bot figures after the heal. */
export interface BotHeal {
  /** Smoothed ping round trip just before the heal, ms. */
  rttBeforeHealMs: number;
  /** 2 snapshot intervals + rttBeforeHealMs + allowance, ms. */
  boundMs: number;
  /** Time from the heal until the bot's newest decoded frame was of a tick the server ran after the heal and equal to the server's frame of that tick, ms (-1: never). */
  convergedMs: number;
}

/** Result of one soak run. */
export interface SoakResult {
  profile: ProfileName;
  label: string;
  transport: 'ws' | 'webrtc';
  bots: number;
  seed: number;
  /** Time under the bad link, s. */
  linkSec: number;
  perEnd: { client: LinkSettings; server: LinkSettings };
  crashes: {
    /** Uncaught exceptions and unhandled rejections in the process. */
    uncaught: string[];
    /** Error-level server log lines (bugs while handling a message, failed ticks). */
    serverErrors: string[];
    /** Server state at the end (must be 'running' before the final stop). */
    serverState: string;
    ticks: number;
    skippedTicks: number;
  };
  reliable: {
    /** Chat messages sent (all bots). */
    sent: number;
    /** Deliveries expected: every message to every bot (the sender included). */
    expected: number;
    delivered: number;
    duplicates: number;
    outOfOrder: number;
    missing: number;
  };
  snapshots: {
    /** Snapshots decoded by all bots. */
    decoded: number;
    /** Newest decoded frames compared with the server's frame of the same tick. */
    compared: number;
    /** Compared frames that differed (must be 0). */
    mismatched: number;
  };
  heal: BotHeal[];
  /** Conditioner counters: datagrams dropped, duplicated, reordered (client end both ways; server end both ways). */
  conditioned: { client: { dropped: number; duplicated: number; reordered: number }; server: { dropped: number; duplicated: number; reordered: number } };
  /** Server counters that must stay at zero on a clean run. */
  server: { decodeErrors: number; rateLimited: number; timeouts: number; resumes: number; queueDropped: number };
  /** Bots still active at the end, resumes they needed, and the channel each carried its unreliable traffic on when the link healed. */
  botsActive: number;
  botResumes: number;
  botChannels: ('ws' | 'webrtc')[];
  memory: {
    /** Samples after warm-up: seconds since the bots joined, heap and RSS in MiB (the process holds the server and the bots). */
    samples: { tSec: number; heapMiB: number; rssMiB: number }[];
    /** Least-squares growth over the samples after warm-up, MiB per hour (null with fewer than 3 samples or under 60 s of them: too short to extrapolate). */
    heapGrowthMiBPerHour: number | null;
    rssGrowthMiBPerHour: number | null;
    gcExposed: boolean;
  };
  /** Failed checks; empty = pass. */
  failures: string[];
}

const CHAT = /^soak (\d+) (\d+)$/;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Least-squares slope of y over x (x in seconds; null when under 3 points or 60 s). */
function slope(xs: number[], ys: number[]): number | null {
  const n = xs.length;
  if (n < 3 || xs[n - 1] - xs[0] < 60) return null;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den > 0 ? num / den : null;
}

/** Runs one profile and checks it; see SoakResult.failures. */
export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const p = o.profile;
  const nBots = o.bots ?? 4;
  const seed = o.seed ?? 1;
  const transport = o.transport ?? 'ws';
  const chatIntervalMs = o.chatIntervalMs ?? 400;
  const memorySampleMs = o.memorySampleMs ?? 5000;
  const warmupMs = o.warmupMs ?? Math.min(60_000, o.durationMs / 5);
  const allowanceMs = o.allowanceMs ?? 100;
  const log = o.log ?? ((): void => {});
  const ends = endSettings(p);
  // Live settings: healing flips `enabled` on these objects, which both ends read on every message.
  const clientLink = { ...ends.client };
  const serverLink = { ...ends.server };

  const uncaught: string[] = [];
  const onUncaught = (err: unknown): void => {
    uncaught.push(String((err as Error)?.stack ?? err));
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  const serverErrors: string[] = [];
  const logger = pino({ level: 'warn' }, {
    write(line: string): void {
      try {
        const rec = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
        if ((rec.level ?? 0) >= 50 && serverErrors.length < 20) serverErrors.push(`${rec.msg ?? ''}: ${rec.err?.message ?? ''}`);
      } catch {
        // not JSON: ignore
      }
    },
  });

  const cfg = loadServerConfig({}, { port: 0, signalingPort: 0, webrtc: transport === 'webrtc', logLevel: 'warn', gameParams: { npcs: o.npcs ?? 20 } });
  const srv = new TickwireServer(cfg, { game: arena, logger, conditioner: { settings: serverLink, seed } });
  const bots: ClientNetcode[] = [];
  const links: ConditionedIO[] = [];
  const failures: string[] = [];
  let frameTimer: ReturnType<typeof setInterval> | undefined;
  try {
    await srv.start();
    const url = `http://127.0.0.1:${srv.http!.port}`;
    const room = `soak-${p.name}`;
    const timers = { nowMs: () => performance.now(), setTimer: (fn: () => void, ms: number) => setTimeout(fn, ms) };
    const snapshotIntervalMs = 1000 / cfg.net.snapshotRateHz;

    // Reliable bookkeeping: next expected number per (recipient, sender).
    const expectNext = Array.from({ length: nBots }, () => new Int32Array(nBots));
    const sentChats = new Int32Array(nBots);
    let delivered = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    let decoded = 0;
    let compared = 0;
    let mismatched = 0;
    let healAtMs = -1;
    let healTick = -1;
    const convergedMs = new Float64Array(nBots).fill(-1);
    let roomRef: ReturnType<typeof srv.rooms.get> = undefined;

    for (let i = 0; i < nBots; i++) {
      const link = conditionClientIO(nodeClientIO({ webrtc: transport === 'webrtc' }), { settings: clientLink, seed: seed + 1000 + 2 * i, timers, lossyWebSocket: true });
      links.push(link);
      const bot: ClientNetcode = new ClientNetcode(arena, link.io, { url, name: `soak${i}`, room, transport: transport === 'ws' ? 'ws' : 'auto', webrtcTimeoutMs: 8000 }, {
        events: {
          onControl: (msg) => {
            if (msg.t !== 'chat') return;
            const m = CHAT.exec(msg.text);
            if (!m) return;
            const from = Number(m[1]);
            const n = Number(m[2]);
            if (from >= nBots) return;
            delivered++;
            const want = expectNext[i][from];
            if (n < want) duplicates++;
            else if (n > want) outOfOrder++;
            expectNext[i][from] = Math.max(want, n + 1);
          },
          onSnapshot: () => {
            decoded++;
            const f = bot.connection.receiver?.latest();
            const r = roomRef;
            if (!f || !r) return;
            const s = r.history.get(f.tick);
            if (!s) return;
            compared++;
            const same = f.sameState(s);
            if (!same) mismatched++;
            if (healAtMs >= 0 && convergedMs[i] < 0 && f.tick >= healTick && same) convergedMs[i] = performance.now() - healAtMs;
          },
        },
      });
      bots.push(bot);
      bot.connect();
    }

    // Frames at 60 Hz: arena-v1 inputs (a new direction every 250..750 ms) and chat.
    const rngs = bots.map((_, i) => new Rng(seed * 7919 + i));
    const turnAt = new Float64Array(nBots);
    const dirs = bots.map(() => ({ dir: 0 }));
    let chatting = false;
    const nextChat = new Float64Array(nBots);
    frameTimer = setInterval(() => {
      const now = performance.now();
      for (let i = 0; i < nBots; i++) {
        const b = bots[i];
        if (now >= turnAt[i]) {
          dirs[i].dir = rngs[i].int(9);
          turnAt[i] = now + 250 + rngs[i].next() * 500;
        }
        b.frame(now, dirs[i]);
        if (chatting && now >= nextChat[i] && b.connection.state === 'active') {
          b.connection.sendControl({ t: 'chat', text: `soak ${i} ${sentChats[i]++}` });
          nextChat[i] = now + chatIntervalMs;
        }
      }
    }, 1000 / 60);

    const joinDeadline = performance.now() + 20_000 + 4 * p.delayMs;
    while (!(bots.every((b) => b.connection.state === 'active') && (srv.rooms.get(room)?.players.length ?? 0) === nBots)) {
      if (performance.now() > joinDeadline) throw new Error(`bots did not all join within ${Math.round(20_000 + 4 * p.delayMs)} ms`);
      await sleep(20);
    }
    roomRef = srv.rooms.get(room);
    const startMs = performance.now();
    nextChat.fill(startMs);
    for (let i = 0; i < nBots; i++) nextChat[i] = startMs + (i * chatIntervalMs) / nBots;
    chatting = true;
    log(`${p.name}: ${nBots} bots joined over ${transport}; running ${Math.round(o.durationMs / 1000)} s under "${p.label}"`);

    // The run: memory samples (after a GC when exposed) and progress.
    const gc = (globalThis as { gc?: () => void }).gc;
    const samples: { tSec: number; heapMiB: number; rssMiB: number }[] = [];
    let nextSample = startMs + memorySampleMs;
    let nextLog = startMs + 60_000;
    while (performance.now() - startMs < o.durationMs) {
      await sleep(Math.min(200, Math.max(1, o.durationMs - (performance.now() - startMs))));
      const now = performance.now();
      if (now >= nextSample) {
        nextSample += memorySampleMs;
        if (now - startMs >= warmupMs) {
          gc?.();
          const m = process.memoryUsage();
          samples.push({ tSec: +((now - startMs) / 1000).toFixed(1), heapMiB: +(m.heapUsed / 2 ** 20).toFixed(2), rssMiB: +(m.rss / 2 ** 20).toFixed(2) });
        }
      }
      if (now >= nextLog) {
        nextLog += 60_000;
        log(`${p.name}: ${Math.round((now - startMs) / 1000)} s, ${delivered} chat deliveries, ${decoded} snapshots, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)} MiB`);
      }
      if (srv.state !== 'running') break;
    }

    // Heal: stop chatting, take each bot's round trip as it was, and turn both ends off.
    chatting = false;
    const rtts = bots.map((b) => b.stats.rttMs);
    const botChannels = bots.map((b) => b.connection.transport);
    // The first tick the server runs after the heal (ctx.tick is the last one run).
    healTick = roomRef!.ctx.tick + 1;
    healAtMs = performance.now();
    clientLink.enabled = false;
    serverLink.enabled = false;
    const heal: BotHeal[] = rtts.map((rtt) => ({ rttBeforeHealMs: +rtt.toFixed(1), boundMs: +(2 * snapshotIntervalMs + Math.max(0, rtt) + allowanceMs).toFixed(1), convergedMs: -1 }));
    const maxBound = Math.max(...heal.map((h) => h.boundMs));
    while (convergedMs.some((c) => c < 0) && performance.now() - healAtMs < Math.max(3 * maxBound, 3000)) await sleep(5);
    heal.forEach((h, i) => (h.convergedMs = +convergedMs[i].toFixed(1)));

    // Everything in flight lands: wait (bounded) until each bot has every chat message.
    const expected = nBots * sentChats.reduce((a, b) => a + b, 0);
    const drainDeadline = performance.now() + 5000 + 3 * p.delayMs;
    const allIn = (): boolean => expectNext.every((row) => row.every((n, from) => n >= sentChats[from]));
    while (!allIn() && performance.now() < drainDeadline) await sleep(20);
    let missing = 0;
    for (const row of expectNext) row.forEach((n, from) => (missing += Math.max(0, sentChats[from] - n)));

    const serverState = srv.state;
    const st = srv.stats;
    const de = st.decodeErrors;
    const sum = (list: ConditionedIO[], k: 'dropped' | 'duplicated' | 'reordered'): number => list.reduce((a, l) => a + l.up.stats[k] + l.down.stats[k], 0);
    const serverEnd = srv.conditionerTotals();
    const result: SoakResult = {
      profile: p.name, label: p.label, transport, bots: nBots, seed,
      linkSec: +((healAtMs - startMs) / 1000).toFixed(1),
      perEnd: { client: ends.client, server: ends.server },
      crashes: { uncaught, serverErrors, serverState, ticks: st.ticks, skippedTicks: st.skippedTicks },
      reliable: { sent: sentChats.reduce((a, b) => a + b, 0), expected, delivered, duplicates, outOfOrder, missing },
      snapshots: { decoded, compared, mismatched },
      heal,
      conditioned: {
        client: { dropped: sum(links, 'dropped'), duplicated: sum(links, 'duplicated'), reordered: sum(links, 'reordered') },
        server: { dropped: serverEnd.dropped, duplicated: serverEnd.duplicated, reordered: serverEnd.reordered },
      },
      server: { decodeErrors: de.control + de.input + de.ack + de.unknown, rateLimited: st.rateLimited, timeouts: st.timeouts, resumes: st.resumes, queueDropped: st.queueDropped },
      botsActive: bots.filter((b) => b.connection.state === 'active').length,
      botResumes: bots.reduce((a, b) => a + b.connection.counters.resumes, 0),
      botChannels,
      memory: {
        samples,
        heapGrowthMiBPerHour: ((s) => (s === null ? null : +(s * 3600).toFixed(2)))(slope(samples.map((x) => x.tSec), samples.map((x) => x.heapMiB))),
        rssGrowthMiBPerHour: ((s) => (s === null ? null : +(s * 3600).toFixed(2)))(slope(samples.map((x) => x.tSec), samples.map((x) => x.rssMiB))),
        gcExposed: gc !== undefined,
      },
      failures,
    };
    check(result, failures);
    return result;
  } finally {
    if (frameTimer) clearInterval(frameTimer);
    for (const b of bots) b.close();
    await srv.stop();
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  }
}

/** The pass criteria of every run (see docs/soak.md). */
function check(r: SoakResult, out: string[]): void {
  if (r.crashes.uncaught.length > 0) out.push(`uncaught errors: ${r.crashes.uncaught.length}`);
  if (r.crashes.serverErrors.length > 0) out.push(`server error logs: ${r.crashes.serverErrors.join(' | ')}`);
  if (r.crashes.serverState !== 'running') out.push(`server state ${r.crashes.serverState}`);
  const rel = r.reliable;
  if (rel.sent === 0) out.push('no chat messages were sent');
  if (rel.duplicates > 0 || rel.outOfOrder > 0 || rel.missing > 0 || rel.delivered !== rel.expected) {
    out.push(`reliable: ${rel.delivered}/${rel.expected} delivered, ${rel.duplicates} duplicates, ${rel.outOfOrder} out of order, ${rel.missing} missing`);
  }
  if (r.snapshots.compared === 0) out.push('no decoded frame could be compared with the server');
  if (r.snapshots.mismatched > 0) out.push(`${r.snapshots.mismatched} decoded frames differ from the server's`);
  r.heal.forEach((h, i) => {
    if (h.rttBeforeHealMs < 0) out.push(`bot ${i} never measured a round trip`);
    if (h.convergedMs < 0 || h.convergedMs > h.boundMs) out.push(`bot ${i} converged in ${h.convergedMs} ms (bound ${h.boundMs} ms)`);
  });
  if (r.server.decodeErrors > 0) out.push(`server decode errors: ${r.server.decodeErrors}`);
  if (r.botsActive !== r.bots) out.push(`only ${r.botsActive}/${r.bots} bots still active`);
  if (r.botChannels.some((c) => c !== r.transport)) out.push(`bots' channels at the heal: ${r.botChannels.join(',')} (wanted ${r.transport})`);
}

/** One line per run for the console. */
export function summarize(r: SoakResult): string {
  const conv = r.heal.map((h) => `${h.convergedMs}/${h.boundMs}`).join(' ');
  const mem = r.memory.heapGrowthMiBPerHour === null ? 'n/a' : `${r.memory.heapGrowthMiBPerHour} MiB/h heap, ${r.memory.rssGrowthMiBPerHour} MiB/h rss`;
  return `${r.failures.length === 0 ? 'PASS' : 'FAIL'} ${r.profile.padEnd(7)} ${r.linkSec}s ${r.bots} bots/${r.transport}: chat ${r.reliable.delivered}/${r.reliable.expected} (dup ${r.reliable.duplicates}, ooo ${r.reliable.outOfOrder}), frames ${r.snapshots.compared} compared ${r.snapshots.mismatched} differ, converge ms (got/bound) ${conv}, dropped c/s ${r.conditioned.client.dropped}/${r.conditioned.server.dropped}, growth ${mem}${r.failures.length ? `\n  ${r.failures.join('\n  ')}` : ''}`;
}

async function main(argv: string[]): Promise<number> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const minutes = Number(arg('minutes') ?? '1');
  const which = arg('profile') ?? 'all';
  const bots = Number(arg('bots') ?? '4');
  const transport = (arg('transport') ?? 'ws') as 'ws' | 'webrtc';
  const seed = Number(arg('seed') ?? '1');
  const json = argv.includes('--json');
  if (!(minutes > 0) || !(bots >= 1 && bots <= 64) || (transport !== 'ws' && transport !== 'webrtc')) {
    console.error('usage: npm run soak -- --minutes M [--profile lan|wan50|wan100|bad250|torture|all] [--bots N] [--transport ws|webrtc] [--seed S] [--json]');
    return 2;
  }
  const profiles = which === 'all' ? PROFILES : [profileByName(which)];
  const results: SoakResult[] = [];
  for (const profile of profiles) {
    const r = await runSoak({ profile, durationMs: minutes * 60_000, bots, seed, transport, log: json ? undefined : (l) => console.log(l) });
    results.push(r);
    if (!json) console.log(summarize(r));
  }
  const out = { command: `npm run soak -- ${argv.join(' ')}`, at: new Date().toISOString(), minutesPerProfile: minutes, results };
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}soak.json`, JSON.stringify(out, null, 2) + '\n');
  if (json) console.log(JSON.stringify(out));
  return results.every((r) => r.failures.length === 0) ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
