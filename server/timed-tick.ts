// One timed tick and the hand-off of its packets: the tick's duration covers simulation and
// snapshot encoding; the queued packets go to the transports after it (sendsAfterTick), timed
// apart, and so is the whole, from the tick's start to the last packet handed off.
import type { ServerStats } from './metrics.ts';
import { runTick, type TickHost, type TickPhases } from './tick.ts';

export type { TickPhases } from './tick.ts';

/** Runs one tick of every room with its timings; `flush` hands the queued packets off and returns how many. */
export function runTimedTick(host: TickHost & { readonly phases: TickPhases }, stats: ServerStats, flush: () => number): void {
  const phases = host.phases;
  phases.encodeMs = 0;
  const t0 = performance.now();
  runTick(host);
  const t1 = performance.now();
  stats.tickSeconds.observe((t1 - t0) / 1000);
  stats.tickSimulateSeconds.observe((t1 - t0 - phases.encodeMs) / 1000);
  if (phases.encodeMs > 0) stats.tickEncodeSeconds.observe(phases.encodeMs / 1000);
  const handed = flush();
  if (handed > 0) {
    const t2 = performance.now();
    stats.tickSendSeconds.observe((t2 - t1) / 1000);
    stats.tickHandoffSeconds.observe((t2 - t0) / 1000);
  } else if (phases.encodeMs > 0) {
    // sends inside the tick (sendsAfterTick off): the last packet left when the tick ended
    stats.tickHandoffSeconds.observe((t1 - t0) / 1000);
  }
  stats.ticks++;
}
