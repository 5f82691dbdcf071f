// Measurement statistics for bots and benchmarks: exact percentiles of small sample sets and a
// mergeable, diffable log-bucket histogram for large ones (RTT, render error).

/**
 * The q-quantile (q in [0, 1]) of `values` by linear interpolation between closest ranks (the
 * "R-7" definition used by numpy and spreadsheets). Returns 0 for an empty set. Does not modify
 * the input.
 */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return percentileSorted(sorted, q);
}

/** Like percentile() for values already sorted ascending. */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const qq = q <= 0 ? 0 : q >= 1 ? 1 : q;
  const pos = qq * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Arithmetic mean; 0 for an empty set. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return 0;
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Rounds to `digits` decimal places (for printing and stored JSON). */
export function round(v: number, digits = 2): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Serializable state of a LogHistogram (sparse bucket counts). */
export interface LogHistogramData {
  /** Smallest value resolved; smaller values (and 0) go to the zero bucket. */
  minValue: number;
  /** Relative width of a bucket (e.g. 0.02 = 2%). */
  relPrecision: number;
  /** Observations at or below minValue. */
  zeroCount: number;
  /** Sparse bucket counts: [bucketIndex, count] pairs. */
  buckets: [number, number][];
  count: number;
  sum: number;
  max: number;
}

/**
 * Histogram with geometric buckets: bucket i holds values in (minValue * r^i, minValue * r^(i+1)]
 * with r = 1 + relPrecision, so any quantile is known to within relPrecision. Observing does not
 * allocate once a bucket exists; histograms of the same shape merge and subtract exactly.
 */
export class LogHistogram {
  zeroCount = 0;
  count = 0;
  sum = 0;
  max = 0;
  private readonly counts = new Map<number, number>();
  private readonly logR: number;

  constructor(
    /** Smallest value resolved (values <= minValue count as the zero bucket). Default 0.001. */
    readonly minValue = 0.001,
    /** Relative bucket width. Default 0.01 (1%). */
    readonly relPrecision = 0.01,
  ) {
    if (!(minValue > 0) || !(relPrecision > 0)) throw new RangeError('LogHistogram needs minValue > 0 and relPrecision > 0');
    this.logR = Math.log1p(relPrecision);
  }

  /** Records one value (negative and NaN values count as zero). */
  observe(v: number): void {
    this.count++;
    if (!(v > this.minValue)) {
      this.zeroCount++;
      return;
    }
    this.sum += v;
    if (v > this.max) this.max = v;
    const i = Math.ceil(Math.log(v / this.minValue) / this.logR) - 1;
    this.counts.set(i, (this.counts.get(i) ?? 0) + 1);
  }

  /** Mean of the observed values (zero-bucket values count as 0). */
  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /** Upper bound of bucket i. */
  private upper(i: number): number {
    return this.minValue * Math.exp((i + 1) * this.logR);
  }

  /**
   * The q-quantile: the upper bound of the bucket holding the ceil(q * count)-th smallest value
   * (capped at the largest value seen), or 0 when it lies in the zero bucket or nothing was observed.
   */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(Math.min(1, Math.max(0, q)) * this.count));
    let acc = this.zeroCount;
    if (acc >= rank) return 0;
    const keys = [...this.counts.keys()].sort((a, b) => a - b);
    for (const k of keys) {
      acc += this.counts.get(k) ?? 0;
      if (acc >= rank) return Math.min(this.upper(k), this.max);
    }
    return this.max;
  }

  /** Adds another histogram of the same shape into this one. */
  merge(o: LogHistogramData | LogHistogram): this {
    const d = o instanceof LogHistogram ? o.toJSON() : o;
    this.checkShape(d);
    this.zeroCount += d.zeroCount;
    this.count += d.count;
    this.sum += d.sum;
    if (d.max > this.max) this.max = d.max;
    for (const [k, c] of d.buckets) this.counts.set(k, (this.counts.get(k) ?? 0) + c);
    return this;
  }

  /**
   * A new histogram holding `later` minus `earlier` (two snapshots of one cumulative histogram).
   * `max` cannot be subtracted: it is the largest bucket bound left non-empty, capped by later.max.
   */
  static diff(later: LogHistogramData, earlier: LogHistogramData): LogHistogram {
    const h = new LogHistogram(later.minValue, later.relPrecision);
    h.checkShape(earlier);
    h.zeroCount = later.zeroCount - earlier.zeroCount;
    h.count = later.count - earlier.count;
    h.sum = later.sum - earlier.sum;
    const before = new Map(earlier.buckets);
    let top = -Infinity;
    for (const [k, c] of later.buckets) {
      const d = c - (before.get(k) ?? 0);
      if (d > 0) {
        h.counts.set(k, d);
        if (k > top) top = k;
      }
    }
    h.max = top === -Infinity ? 0 : Math.min(h.upper(top), later.max);
    return h;
  }

  /** Builds a histogram from its serialized form. */
  static from(d: LogHistogramData): LogHistogram {
    return new LogHistogram(d.minValue, d.relPrecision).merge(d);
  }

  /** Serializable state (plain JSON). */
  toJSON(): LogHistogramData {
    return { minValue: this.minValue, relPrecision: this.relPrecision, zeroCount: this.zeroCount, buckets: [...this.counts.entries()], count: this.count, sum: this.sum, max: this.max };
  }

  private checkShape(d: LogHistogramData): void {
    if (d.minValue !== this.minValue || d.relPrecision !== this.relPrecision) throw new RangeError('LogHistogram shapes differ');
  }
}
