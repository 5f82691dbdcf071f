// Bot counters as plain, mergeable JSON: one process sums its bots, the coordinator sums the
// processes, and a measurement window is the difference of two cumulative readings.
import { LogHistogram, type LogHistogramData } from './stats.ts';

/** Counters of the render-error probes. */
export interface RenderCounts {
  ticksRendered: number;
  ticksCompared: number;
  samples: number;
  ticksUnverified: number;
}

/** Cumulative counters of a set of bots at one instant (counts since each bot started). */
export interface BotTotals {
  /** Wall-clock time of the reading, ms since the Unix epoch (shared across processes). */
  atMs: number;
  /** Bots created. */
  bots: number;
  /** Bots running the full client netcode. */
  fullBots: number;
  /** Gauges at the instant of the reading. */
  connecting: number;
  active: number;
  /** Active bots whose unreliable traffic rides WebRTC. */
  activeWebrtc: number;
  /** Bots that reached the welcome (ever). */
  connectedTotal: number;
  /** Bots that never reached the welcome. */
  failed: number;
  /** Bots that asked for WebRTC and fell back to the WebSocket. */
  fellBackToWs: number;
  /** Times a bot lost its server (resume failed, room ended, server drained) and joined again through the matchmaker. */
  rejoins: number;
  /** Failed connects by reason. */
  failReasons: Record<string, number>;
  /** Sum over bots of the time they were active, ms (the denominator of every per-client rate). */
  activeClientMs: number;
  /** Same, for full bots only. */
  fullActiveClientMs: number;
  /** Application payload bytes received / sent (both channels). */
  bytesDown: number;
  bytesUp: number;
  /** Bytes on the wire where the transport exposes them: WebSocket-only bots' TCP stream (WebSocket framing and the upgrade included, TCP/IP headers not). */
  wireBytesDown: number;
  wireBytesUp: number;
  /** Client-ms during which wire counters were available (denominator of wire rates). */
  wireClientMs: number;
  snapshots: number;
  inputsSent: number;
  inputsAcked: number;
  /** Input packets sent (each carries the inputs of one or more ticks). */
  inputPackets: number;
  /** Snapshot acks sent inside input packets, and as datagrams of their own. */
  acksInInput: number;
  acksStandalone: number;
  /** Prediction corrections (full bots). */
  corrections: number;
  decodeErrors: number;
  /** Errors of every kind (decode, socket, WebRTC fallback, unexpected close). */
  errors: number;
  /** Errors by message (first ones kept). */
  errorReasons: Record<string, number>;
  /** Round-trip times, ms. */
  rttMs: LogHistogramData;
  /** Time from start to welcome, ms. */
  connectMs: LogHistogramData;
  /** Render error per entity sample, world units (full bots). */
  renderError: LogHistogramData;
  /** Input delay of full bots, ms: from sampling an input to the server tick that applied it (see Bot.onSnapshotHeader). */
  inputDelayMs: LogHistogramData;
  renderCounts: RenderCounts;
  /** CPU seconds used by the bot processes (user + sys). */
  botCpuSec: number;
  /** Input steps the bot processes dropped because they fell behind (non-zero: the bots, not the server, were the bottleneck). */
  stepsSkipped: number;
}

/** New empty RTT / connect-time histogram (0.01 ms resolution, 1% buckets). */
export function newMsHistogram(): LogHistogram {
  return new LogHistogram(0.01, 0.01);
}

/** New empty render-error histogram (0.001 unit resolution, 1% buckets). */
export function newErrorHistogram(): LogHistogram {
  return new LogHistogram(0.001, 0.01);
}

/** An all-zero reading. */
export function emptyTotals(atMs = 0): BotTotals {
  return {
    atMs, bots: 0, fullBots: 0, connecting: 0, active: 0, activeWebrtc: 0, connectedTotal: 0, failed: 0, fellBackToWs: 0, rejoins: 0, failReasons: {},
    activeClientMs: 0, fullActiveClientMs: 0, bytesDown: 0, bytesUp: 0, wireBytesDown: 0, wireBytesUp: 0, wireClientMs: 0,
    snapshots: 0, inputsSent: 0, inputsAcked: 0, inputPackets: 0, acksInInput: 0, acksStandalone: 0, corrections: 0, decodeErrors: 0, errors: 0, errorReasons: {},
    rttMs: newMsHistogram().toJSON(), connectMs: newMsHistogram().toJSON(), renderError: newErrorHistogram().toJSON(), inputDelayMs: newMsHistogram().toJSON(),
    renderCounts: { ticksRendered: 0, ticksCompared: 0, samples: 0, ticksUnverified: 0 }, botCpuSec: 0, stepsSkipped: 0,
  };
}

const COUNTERS = [
  'bots', 'fullBots', 'connecting', 'active', 'activeWebrtc', 'connectedTotal', 'failed', 'fellBackToWs', 'rejoins', 'activeClientMs', 'fullActiveClientMs',
  'bytesDown', 'bytesUp', 'wireBytesDown', 'wireBytesUp', 'wireClientMs', 'snapshots', 'inputsSent', 'inputsAcked', 'inputPackets', 'acksInInput', 'acksStandalone', 'corrections',
  'decodeErrors', 'errors', 'botCpuSec', 'stepsSkipped',
] as const;

/** Most distinct reasons kept per map; the rest are counted under "other". */
export const MAX_REASONS = 20;

/** Adds `n` to reason `key` of `map`, keeping at most MAX_REASONS distinct keys. */
export function countReason(map: Record<string, number>, key: string, n = 1): void {
  const k = key in map || Object.keys(map).length < MAX_REASONS ? key : 'other';
  map[k] = (map[k] ?? 0) + n;
}

/** Sums readings of disjoint bot sets taken at about the same time (atMs = the latest). */
export function sumTotals(parts: readonly BotTotals[]): BotTotals {
  const out = emptyTotals();
  const rtt = newMsHistogram();
  const connect = newMsHistogram();
  const render = newErrorHistogram();
  const delay = newMsHistogram();
  for (const p of parts) {
    out.atMs = Math.max(out.atMs, p.atMs);
    for (const k of COUNTERS) out[k] += p[k];
    for (const [r, n] of Object.entries(p.failReasons)) countReason(out.failReasons, r, n);
    for (const [r, n] of Object.entries(p.errorReasons)) countReason(out.errorReasons, r, n);
    rtt.merge(p.rttMs);
    connect.merge(p.connectMs);
    render.merge(p.renderError);
    delay.merge(p.inputDelayMs);
    for (const k of ['ticksRendered', 'ticksCompared', 'samples', 'ticksUnverified'] as const) out.renderCounts[k] += p.renderCounts[k];
  }
  out.rttMs = rtt.toJSON();
  out.connectMs = connect.toJSON();
  out.renderError = render.toJSON();
  out.inputDelayMs = delay.toJSON();
  return out;
}

/** Fields describing the bots' state rather than events: a window keeps their later values. */
const STATE_FIELDS = ['bots', 'fullBots', 'connecting', 'active', 'activeWebrtc', 'connectedTotal', 'failed', 'fellBackToWs'] as const;

/**
 * What happened between two cumulative readings of the same bots: counters and error reasons
 * subtract; the bots' state (how many exist, are connected, failed, fell back, and why they
 * failed) is the later reading's.
 */
export function diffTotals(later: BotTotals, earlier: BotTotals): BotTotals {
  const out = emptyTotals(later.atMs);
  for (const k of COUNTERS) out[k] = later[k] - earlier[k];
  for (const k of STATE_FIELDS) out[k] = later[k];
  const sub = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => {
    const r: Record<string, number> = {};
    for (const [k, v] of Object.entries(a)) if (v - (b[k] ?? 0) > 0) r[k] = v - (b[k] ?? 0);
    return r;
  };
  out.failReasons = { ...later.failReasons };
  out.errorReasons = sub(later.errorReasons, earlier.errorReasons);
  out.rttMs = LogHistogram.diff(later.rttMs, earlier.rttMs).toJSON();
  out.connectMs = LogHistogram.diff(later.connectMs, earlier.connectMs).toJSON();
  out.renderError = LogHistogram.diff(later.renderError, earlier.renderError).toJSON();
  out.inputDelayMs = LogHistogram.diff(later.inputDelayMs, earlier.inputDelayMs).toJSON();
  for (const k of ['ticksRendered', 'ticksCompared', 'samples', 'ticksUnverified'] as const) out.renderCounts[k] = later.renderCounts[k] - earlier.renderCounts[k];
  return out;
}

/** Bytes per client per second: bytes over client-seconds (0 when no client was active). */
export function perClientPerSec(count: number, clientMs: number): number {
  return clientMs > 0 ? count / (clientMs / 1000) : 0;
}
