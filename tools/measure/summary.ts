// Turns a window of bot counters into the bots' summary (the JSON the bots CLI prints and the
// benchmark embeds) and a one-line progress display.
import { LogHistogram } from './stats.ts';
import { perClientPerSec, type BotTotals } from './totals.ts';
import { round } from './stats.ts';

/** A p50/p99 pair. */
export interface P50P99 {
  p50: number;
  p99: number;
}

/** The bots' summary over a window. Rates are per active client-second unless named otherwise. */
export interface BotSummary {
  /** Bots that completed the handshake (welcome received). */
  connected: number;
  /** Bots that never did. */
  failed: number;
  /** Failed connects by reason. */
  failReasons: Record<string, number>;
  /** Connected bots active at the end. */
  activeAtEnd: number;
  /** Active bots whose unreliable traffic rode WebRTC at the end. */
  webrtcAtEnd: number;
  /** Bots that asked for WebRTC and fell back to the WebSocket. */
  fellBackToWs: number;
  /** Bots that lost their server and joined again through the matchmaker (--matchmake). */
  rejoins: number;
  /** Bots that ran the full client netcode. */
  fullBots: number;
  /** Round-trip time of pings on the WebSocket, ms. */
  rttMs: P50P99;
  /** Time from connect to welcome, ms. */
  connectMs: P50P99;
  snapshotsPerClientPerSec: number;
  /** Application payload bytes (both channels, control messages included). */
  downPayloadBytesPerClientPerSec: number;
  upPayloadBytesPerClientPerSec: number;
  /** Bytes on the wire where the transport exposes them (null when it does not). */
  downWireBytesPerClientPerSec: number | null;
  upWireBytesPerClientPerSec: number | null;
  /** Prediction corrections per full bot per second. */
  predictionCorrectionsPerSec: number | null;
  /** Distance between rendered and server positions of remote entities at snapshot ticks (full bots), world units. */
  renderErrorUnits: { mean: number | null; p99: number | null };
  /** Entity positions compared for renderErrorUnits. */
  renderErrorSamples: number;
  inputsSent: number;
  inputsAcked: number;
  /**
   * Input delay of the full bots (the client netcode's input clock), ms: from sampling an input to
   * the server tick that applied it; null without full bots.
   */
  inputDelayMs: { p50: number; p99: number; mean: number; samples: number } | null;
  /** Input packets, snapshot acks inside them, and snapshot acks on their own, per client per second. */
  inputPacketsPerClientPerSec: number;
  acksInInputPerClientPerSec: number;
  acksStandalonePerClientPerSec: number;
  /** Datagrams on the unreliable channel upstream per client per second: input packets plus standalone acks. */
  upDatagramsPerClientPerSec: number;
  errors: number;
  errorReasons: Record<string, number>;
  /** CPU cores the bot processes used (user + sys per wall second). */
  botCpuCoresUsed: number;
  /** Input steps the bots dropped because their processes fell behind. */
  botStepsSkipped: number;
  /** Length of the window, s. */
  windowSec: number;
}

/** Summarizes a window (usually diffTotals(end, start)) lasting `windowSec`. */
export function summarizeBots(w: BotTotals, windowSec: number): BotSummary {
  const rtt = LogHistogram.from(w.rttMs);
  const connect = LogHistogram.from(w.connectMs);
  const render = LogHistogram.from(w.renderError);
  const hasRender = render.count > 0;
  const delay = LogHistogram.from(w.inputDelayMs);
  return {
    connected: w.connectedTotal,
    failed: w.failed,
    failReasons: w.failReasons,
    activeAtEnd: w.active,
    webrtcAtEnd: w.activeWebrtc,
    fellBackToWs: w.fellBackToWs,
    rejoins: w.rejoins,
    fullBots: w.fullBots,
    rttMs: { p50: round(rtt.quantile(0.5)), p99: round(rtt.quantile(0.99)) },
    connectMs: { p50: round(connect.quantile(0.5)), p99: round(connect.quantile(0.99)) },
    snapshotsPerClientPerSec: round(perClientPerSec(w.snapshots, w.activeClientMs)),
    downPayloadBytesPerClientPerSec: round(perClientPerSec(w.bytesDown, w.activeClientMs), 1),
    upPayloadBytesPerClientPerSec: round(perClientPerSec(w.bytesUp, w.activeClientMs), 1),
    downWireBytesPerClientPerSec: w.wireClientMs > 0 ? round(perClientPerSec(w.wireBytesDown, w.wireClientMs), 1) : null,
    upWireBytesPerClientPerSec: w.wireClientMs > 0 ? round(perClientPerSec(w.wireBytesUp, w.wireClientMs), 1) : null,
    predictionCorrectionsPerSec: w.fullActiveClientMs > 0 ? round(perClientPerSec(w.corrections, w.fullActiveClientMs), 3) : null,
    renderErrorUnits: { mean: hasRender ? round(render.mean(), 3) : null, p99: hasRender ? round(render.quantile(0.99), 3) : null },
    renderErrorSamples: render.count,
    inputsSent: w.inputsSent,
    inputsAcked: w.inputsAcked,
    inputDelayMs: delay.count > 0 ? { p50: round(delay.quantile(0.5)), p99: round(delay.quantile(0.99)), mean: round(delay.mean()), samples: delay.count } : null,
    inputPacketsPerClientPerSec: round(perClientPerSec(w.inputPackets, w.activeClientMs)),
    acksInInputPerClientPerSec: round(perClientPerSec(w.acksInInput, w.activeClientMs)),
    acksStandalonePerClientPerSec: round(perClientPerSec(w.acksStandalone, w.activeClientMs)),
    upDatagramsPerClientPerSec: round(perClientPerSec(w.inputPackets + w.acksStandalone, w.activeClientMs)),
    errors: w.errors,
    errorReasons: w.errorReasons,
    botCpuCoresUsed: windowSec > 0 ? round(w.botCpuSec / windowSec, 3) : 0,
    botStepsSkipped: w.stepsSkipped,
    windowSec: round(windowSec, 3),
  };
}

/** Human-readable byte rate. */
export function formatBytesPerSec(bps: number): string {
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(2)} MB/s`;
  if (bps >= 1e3) return `${(bps / 1e3).toFixed(1)} kB/s`;
  return `${bps.toFixed(0)} B/s`;
}

/** One progress line from two consecutive cumulative readings. */
export function progressLine(now: BotTotals, prev: BotTotals, total: number): string {
  const dt = (now.atMs - prev.atMs) / 1000;
  const down = dt > 0 ? (now.bytesDown - prev.bytesDown) / dt : 0;
  const up = dt > 0 ? (now.bytesUp - prev.bytesUp) / dt : 0;
  const webrtc = now.activeWebrtc > 0 ? ` (webrtc ${now.activeWebrtc})` : '';
  return `bots ${now.active}/${total} connected${webrtc}, ${now.connecting} connecting, ${now.failed} failed, ${now.errors} errors | down ${formatBytesPerSec(down)} up ${formatBytesPerSec(up)}`;
}
