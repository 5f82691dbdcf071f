// Fixed-step loop: an accumulator driven by an injected clock, integer ticks, bounded catch-up
// after a stall (skipped ticks are counted, never silently lost).

/** Source of time in milliseconds (monotonic). Injected so tests drive a fake clock. */
export interface Clock {
  nowMs(): number;
}

/** The real monotonic clock. */
export const systemClock: Clock = { nowMs: () => performance.now() };

/** A clock tests advance by hand. */
export class FakeClock implements Clock {
  constructor(private t = 0) {}
  nowMs(): number {
    return this.t;
  }
  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Result of one `advance`: how many ticks to run now and how many were dropped. */
export interface LoopStep {
  /** Ticks to run back to back, 0..maxCatchUpTicks. */
  run: number;
  /** Ticks that were due but dropped because the backlog exceeded maxCatchUpTicks. */
  skipped: number;
}

/**
 * The accumulator. `advance(now)` returns how many fixed steps are due since the last call; when
 * more than `maxCatchUpTicks` are due (a stall), the excess is skipped and reported.
 */
export class FixedStepLoop {
  /** Step length in ms. */
  readonly stepMs: number;
  private lastMs: number | undefined;
  private accMs = 0;
  /** Ticks dropped since start. */
  skippedTotal = 0;
  private readonly step: LoopStep = { run: 0, skipped: 0 };

  constructor(
    readonly tickRateHz: number,
    readonly maxCatchUpTicks: number,
  ) {
    if (!(tickRateHz >= 1)) throw new RangeError('tickRateHz must be >= 1');
    if (!(maxCatchUpTicks >= 1)) throw new RangeError('maxCatchUpTicks must be >= 1');
    this.stepMs = 1000 / tickRateHz;
  }

  /** Accumulates time up to `nowMs`; the returned object is reused between calls. */
  advance(nowMs: number): LoopStep {
    if (this.lastMs === undefined) this.lastMs = nowMs;
    const elapsed = Math.max(0, nowMs - this.lastMs);
    this.lastMs = nowMs;
    this.accMs += elapsed;
    let due = Math.floor(this.accMs / this.stepMs + 1e-9);
    this.accMs -= due * this.stepMs;
    if (this.accMs < 0) this.accMs = 0;
    let skipped = 0;
    if (due > this.maxCatchUpTicks) {
      skipped = due - this.maxCatchUpTicks;
      due = this.maxCatchUpTicks;
      this.skippedTotal += skipped;
    }
    this.step.run = due;
    this.step.skipped = skipped;
    return this.step;
  }

  /** Milliseconds until the next tick is due. */
  msUntilNext(): number {
    return Math.max(0, this.stepMs - this.accMs);
  }
}

/** Handle of a running scheduler. */
export interface Scheduler {
  stop(): void;
}

/**
 * Runs `frame(step)` whenever ticks are due, on timers. Each call gets the loop's step; the frame
 * runs step.run ticks. Sleeps until the next tick, waking slightly early to keep jitter low.
 */
export function startScheduler(loop: FixedStepLoop, clock: Clock, frame: (step: LoopStep) => void, onError: (err: unknown) => void): Scheduler {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const run = (): void => {
    if (stopped) return;
    try {
      const step = loop.advance(clock.nowMs());
      if (step.run > 0 || step.skipped > 0) frame(step);
    } catch (err) {
      onError(err);
    }
    if (stopped) return;
    const wait = loop.msUntilNext();
    // Whole milliseconds: Node keeps one timer list per distinct delay, so a fractional delay
    // (a new one every tick) made and dropped a list and a dictionary entry every tick (seen in
    // perf at the default point), and libuv's truncation of it cost extra wakes of the event
    // loop (measured: 3.4 epoll waits a tick instead of 3.8-6.6).
    timer = wait < 1 ? setTimeout(run, 0) : setTimeout(run, Math.ceil(wait - 1));
  };
  timer = setTimeout(run, 0);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
