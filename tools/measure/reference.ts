// A fixed piece of work timed on the machine beside a benchmark, so runs of different hours can be
// compared: a tick that is slower in a run where this is slower too measured a slower machine, not
// slower code. The work resembles a tick's: random reads and writes over 4 MiB (past the
// per-core caches, within the shared one), arithmetic, and a branch no predictor learns.

const WORDS = 1 << 18; // 2 MiB of float64 read, as many written
const STEPS = 1_000_000;
let data: Float64Array | undefined;
let out: Float64Array | undefined;

/** Runs the reference work once; returns its result (kept so the work cannot be optimised away). */
export function referenceWork(): number {
  const a = (data ??= Float64Array.from({ length: WORDS }, (_, i) => i * 0.5));
  // written, never read: the result depends on nothing but the constants
  const b = (out ??= new Float64Array(WORDS));
  let x = 12345;
  let s = 0;
  for (let k = 0; k < STEPS; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const i = x & (WORDS - 1);
    s += a[i];
    b[(x >>> 13) & (WORDS - 1)] = s;
    if ((x & 0x10000) !== 0) s = s * 0.5 + Math.sqrt(Math.abs(s));
  }
  return s;
}

/** The median wall time of `reps` runs of the reference work, ms, after one untimed run (compilation, page faults). */
export function referenceMs(reps = 5): number {
  let sink = referenceWork();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    sink += referenceWork();
    times.push(performance.now() - t0);
  }
  if (!Number.isFinite(sink)) throw new Error('reference work diverged');
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
