// The net graph: connection figures (RTT, jitter, loss, snapshot rate, bandwidth, interpolation
// delay, prediction corrections and their size, input buffer, transport) as text, plus a strip
// chart of the render lag and corrections over the last few seconds.
import type { NetStats } from '../netcode/netcode.ts';

const HISTORY = 180;

/** Renders NetStats into an overlay element. */
export class NetGraph {
  private readonly text: HTMLPreElement;
  private readonly chart: HTMLCanvasElement;
  private readonly lag = new Float32Array(HISTORY);
  private readonly corr = new Float32Array(HISTORY);
  private head = 0;
  private lastCorrections = 0;

  constructor(readonly root: HTMLElement) {
    this.text = document.createElement('pre');
    this.chart = document.createElement('canvas');
    this.chart.width = HISTORY;
    this.chart.height = 48;
    root.append(this.text, this.chart);
  }

  /** Where the page plays (member and room, from the matchmaker or the last move), how often it rejoined through the matchmaker, and how often its room moved to another server with it. */
  where = '';
  rejoins = 0;
  moves = 0;

  /** Shows the figures; call about ten times a second. */
  update(s: NetStats): void {
    const transport = s.transport === 'webrtc' ? 'WebRTC' : 'WebSocket';
    this.root.dataset.transport = s.transport;
    this.root.dataset.state = s.state;
    const kb = (b: number): string => (b / 1024).toFixed(1);
    const ms = (v: number): string => (Number.isFinite(v) && v >= 0 ? v.toFixed(0) : '-');
    this.text.textContent = [
      `transport   ${transport}`,
      `rtt         ${ms(s.rttMs)} ms ± ${s.rttJitterMs.toFixed(1)}`,
      `jitter      ${s.jitterMs.toFixed(1)} ms`,
      `loss        ${s.lossPct.toFixed(1)} %`,
      `snapshots   ${s.snapshotRateHz.toFixed(1)} /s`,
      `down / up   ${kb(s.bytesDownPerSec)} / ${kb(s.bytesUpPerSec)} KiB/s`,
      `interp      ${ms(s.interpDelayMs)} ms (lag ${ms(s.renderLagMs)}, ${s.renderMode})`,
      `corrections ${s.correctionsPerSec.toFixed(1)} /s  mean ${s.correctionMeanUnits.toFixed(2)}  max ${s.correctionMaxUnits.toFixed(2)} u`,
      `input wait  ${ms(s.inputWaitMs)} / ${ms(s.targetWaitMs)} ms  ${s.dilationPct >= 0 ? '+' : ''}${s.dilationPct.toFixed(1)} %`,
      `starved     ${s.starvations}  skipped ${s.skippedInputs}`,
      `server tick ${Number.isFinite(s.serverTick) ? s.serverTick.toFixed(1) : '-'}`,
      `server      ${this.where || '-'}  rejoins ${this.rejoins}  moves ${this.moves}`,
    ].join('\n');
    this.lag[this.head] = Number.isFinite(s.renderLagMs) ? s.renderLagMs : 0;
    this.corr[this.head] = s.corrections - this.lastCorrections;
    this.lastCorrections = s.corrections;
    this.head = (this.head + 1) % HISTORY;
    this.drawChart();
  }

  private drawChart(): void {
    const ctx = this.chart.getContext('2d');
    if (!ctx) return;
    const { width: w, height: h } = this.chart;
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = 'rgba(0,0,0,0.35)';
    ctx.fillRect(0, 0, w, h);
    const max = 250;
    ctx.strokeStyle = '#6fd3ff';
    ctx.beginPath();
    for (let i = 0; i < HISTORY; i++) {
      const v = this.lag[(this.head + i) % HISTORY];
      const y = h - (Math.min(v, max) / max) * h;
      if (i === 0) ctx.moveTo(i, y);
      else ctx.lineTo(i, y);
    }
    ctx.stroke();
    ctx.fillStyle = '#ff6464';
    for (let i = 0; i < HISTORY; i++) if (this.corr[(this.head + i) % HISTORY] > 0) ctx.fillRect(i, 0, 1, 8);
  }
}
