// Reading the server's /metrics (Prometheus text format): sample lookup, cumulative histograms, the
// difference of two scrapes of one histogram, and quantiles from bucket counts.

/** One sample line: metric name, labels and value. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition into samples (comments and malformed lines are skipped). */
export function parsePromText(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) {
      for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2].replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
    }
    const v = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (Number.isNaN(v) && m[4] !== 'NaN') continue;
    out.push({ name: m[1], labels, value: v });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include every pair in `match` (0 when none). */
export function promValue(samples: readonly PromSample[], name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    let ok = true;
    for (const [k, v] of Object.entries(match)) if (s.labels[k] !== v) ok = false;
    if (ok) sum += s.value;
  }
  return sum;
}

/** True when a sample named `name` exists. */
export function promHas(samples: readonly PromSample[], name: string): boolean {
  return samples.some((s) => s.name === name);
}

/** A cumulative Prometheus histogram: upper bounds ascending (last +Inf) and cumulative counts. */
export interface PromHistogram {
  /** Bucket upper bounds ("le"), ascending; the last is Infinity. */
  bounds: number[];
  /** Cumulative count of observations <= each bound. */
  cumulative: number[];
  sum: number;
  count: number;
}

/** Extracts histogram `name` (its _bucket, _sum and _count series) from parsed samples; undefined if absent. */
export function promHistogram(samples: readonly PromSample[], name: string): PromHistogram | undefined {
  const buckets: [number, number][] = [];
  let sum = 0;
  let count = 0;
  let found = false;
  for (const s of samples) {
    if (s.name === `${name}_bucket` && s.labels.le !== undefined) {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      if (!Number.isNaN(le)) buckets.push([le, s.value]);
      found = true;
    } else if (s.name === `${name}_sum`) sum = s.value;
    else if (s.name === `${name}_count`) count = s.value;
  }
  if (!found) return undefined;
  buckets.sort((a, b) => a[0] - b[0]);
  if (buckets.length === 0 || buckets[buckets.length - 1][0] !== Infinity) buckets.push([Infinity, count]);
  return { bounds: buckets.map((b) => b[0]), cumulative: buckets.map((b) => b[1]), sum, count };
}

/**
 * The observations made between two scrapes of one cumulative histogram: later minus earlier,
 * bucket by bucket. Throws when the bucket layouts differ or a count went down (server restarted).
 */
export function histogramDelta(later: PromHistogram, earlier: PromHistogram): PromHistogram {
  if (later.bounds.length !== earlier.bounds.length || later.bounds.some((b, i) => b !== earlier.bounds[i])) {
    throw new Error('histogram bucket layouts differ between scrapes');
  }
  const cumulative = later.cumulative.map((c, i) => c - earlier.cumulative[i]);
  if (cumulative.some((c) => c < 0) || later.count < earlier.count) throw new Error('histogram went backwards between scrapes (restart?)');
  return { bounds: [...later.bounds], cumulative, sum: later.sum - earlier.sum, count: later.count - earlier.count };
}

/**
 * The q-quantile of a cumulative histogram, interpolating linearly inside the bucket that holds
 * it (Prometheus' histogram_quantile rule: the lowest bucket starts at 0; a quantile in the +Inf
 * bucket returns the highest finite bound, or `maxHint` when given). 0 for an empty histogram.
 */
export function histogramQuantile(h: PromHistogram, q: number, maxHint?: number): number {
  const total = h.cumulative[h.cumulative.length - 1] ?? 0;
  if (total <= 0) return 0;
  const rank = Math.min(1, Math.max(0, q)) * total;
  for (let i = 0; i < h.bounds.length; i++) {
    if (h.cumulative[i] >= rank) {
      const hi = h.bounds[i];
      if (hi === Infinity) return maxHint ?? (i > 0 ? h.bounds[i - 1] : 0);
      const lo = i > 0 ? h.bounds[i - 1] : 0;
      const below = i > 0 ? h.cumulative[i - 1] : 0;
      const inBucket = h.cumulative[i] - below;
      let v = inBucket > 0 ? lo + (hi - lo) * ((rank - below) / inBucket) : hi;
      if (maxHint !== undefined && v > maxHint) v = maxHint;
      return v;
    }
  }
  return maxHint ?? h.bounds[h.bounds.length - 2] ?? 0;
}

/** Upper bound of the highest non-empty bucket (an upper bound on the largest observation); 0 when empty. */
export function histogramMaxBound(h: PromHistogram): number {
  for (let i = h.bounds.length - 1; i >= 0; i--) {
    const below = i > 0 ? h.cumulative[i - 1] : 0;
    if (h.cumulative[i] - below > 0) return h.bounds[i] === Infinity ? (h.bounds[i - 1] ?? 0) : h.bounds[i];
  }
  return 0;
}

/** Fetches and parses a /metrics page (bounded by timeoutMs). */
export async function scrapeMetrics(url: string, timeoutMs = 5000): Promise<PromSample[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return parsePromText(await res.text());
}
