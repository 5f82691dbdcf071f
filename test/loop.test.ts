// Fixed-step loop: exact tick counts from a fake clock, bounded catch-up after a stall; the
// scheduler's timers (fake timers).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeClock, FixedStepLoop, startScheduler, type Clock } from '../server/loop.ts';

describe('FixedStepLoop', () => {
  it('runs exactly tickRateHz ticks per simulated second, whatever the frame pattern', () => {
    for (const hz of [10, 20, 30, 60, 64, 128]) {
      const loop = new FixedStepLoop(hz, 5);
      const clock = new FakeClock(1000);
      let ticks = 0;
      loop.advance(clock.nowMs());
      // Uneven frame times, averaging 7 ms, over exactly 10 s.
      const pattern = [3, 11, 7, 1, 13, 5, 9];
      let elapsed = 0;
      let i = 0;
      while (elapsed < 10_000) {
        const dt = Math.min(pattern[i++ % pattern.length], 10_000 - elapsed);
        clock.advance(dt);
        elapsed += dt;
        ticks += loop.advance(clock.nowMs()).run;
      }
      expect(ticks, `${hz} Hz`).toBe(hz * 10);
      expect(loop.skippedTotal).toBe(0);
    }
  });

  it('runs nothing before a full step has elapsed', () => {
    const loop = new FixedStepLoop(60, 5);
    expect(loop.advance(0).run).toBe(0);
    expect(loop.advance(16).run).toBe(0);
    expect(loop.advance(16.7).run).toBe(1);
    expect(loop.msUntilNext()).toBeGreaterThan(16);
  });

  it('bounds catch-up after a stall and counts the skipped ticks', () => {
    const loop = new FixedStepLoop(60, 5);
    const clock = new FakeClock();
    loop.advance(clock.nowMs());
    clock.advance(1000); // 60 ticks due
    const step = loop.advance(clock.nowMs());
    expect(step.run).toBe(5);
    expect(step.skipped).toBe(55);
    expect(loop.skippedTotal).toBe(55);
    // Back to normal afterwards: no debt carried over.
    clock.advance(1000 / 60);
    expect(loop.advance(clock.nowMs()).run).toBe(1);
    expect(loop.skippedTotal).toBe(55);
  });

  it('ignores a clock that goes backwards', () => {
    const loop = new FixedStepLoop(60, 5);
    loop.advance(100);
    expect(loop.advance(50).run).toBe(0);
    expect(loop.advance(50 + 1000 / 60).run).toBe(1);
  });

  it('rejects impossible settings', () => {
    expect(() => new FixedStepLoop(0, 5)).toThrow(RangeError);
    expect(() => new FixedStepLoop(60, 0)).toThrow(RangeError);
  });
});

describe('startScheduler', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('sets its timers in whole milliseconds and runs every tick', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const delays: number[] = [];
    const real = globalThis.setTimeout;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      delays.push(ms ?? 0);
      return real(fn, ms);
    }) as typeof setTimeout);
    const loop = new FixedStepLoop(60, 5);
    const clock: Clock = { nowMs: () => performance.now() };
    let ticks = 0;
    const s = startScheduler(loop, clock, (step) => {
      ticks += step.run;
    }, (err) => {
      throw err;
    });
    vi.advanceTimersByTime(10_000);
    s.stop();
    expect(ticks).toBeGreaterThanOrEqual(599);
    expect(ticks).toBeLessThanOrEqual(600);
    expect(loop.skippedTotal).toBe(0);
    expect(delays.length).toBeGreaterThan(ticks);
    expect(delays.filter((d) => !Number.isInteger(d))).toEqual([]);
    // and nothing after stop
    vi.advanceTimersByTime(1000);
    expect(ticks).toBeLessThanOrEqual(600);
  });
});
