// Benchmark result records: the machine they ran on, markdown tables, and the comparison with the
// last stored result of the same point.
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { round } from './stats.ts';

/** The machine a result was measured on. */
export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memGiB: number;
  node: string;
  platform: string;
}

/** Describes this machine. */
export function machineInfo(): MachineInfo {
  const c = cpus();
  return { cores: c.length, cpuModel: c[0]?.model ?? 'unknown', memGiB: round(totalmem() / 2 ** 30, 1), node: process.version, platform: `${process.platform}-${process.arch}` };
}

/** Short commit id of the working tree (read-only git call), or 'unknown'. */
export function commitId(root: string): string {
  try {
    const id = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${id}+dirty` : id;
  } catch {
    return 'unknown';
  }
}

/** One figure compared with its stored value. */
export interface Difference {
  metric: string;
  previous: number;
  current: number;
  /** (current - previous) / previous, percent; null when previous is 0. */
  changePct: number | null;
}

/** Reads a dotted path ("tickMs.p99") of a result as a number, or undefined. */
export function metricAt(o: unknown, path: string): number | undefined {
  let v: unknown = o;
  for (const k of path.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Compares the given metrics of two results (metrics missing from either are left out). */
export function compareResults(current: unknown, previous: unknown, metrics: readonly string[]): Difference[] {
  const out: Difference[] = [];
  for (const m of metrics) {
    const c = metricAt(current, m);
    const p = metricAt(previous, m);
    if (c === undefined || p === undefined) continue;
    out.push({ metric: m, previous: p, current: c, changePct: p !== 0 ? round(((c - p) / p) * 100, 1) : null });
  }
  return out;
}

/** Renders differences as aligned text lines. */
export function formatDifferences(diffs: readonly Difference[]): string {
  if (diffs.length === 0) return '  (nothing to compare)';
  const w = Math.max(...diffs.map((d) => d.metric.length));
  return diffs
    .map((d) => `  ${d.metric.padEnd(w)}  ${String(d.previous).padStart(12)} -> ${String(d.current).padStart(12)}  ${d.changePct === null ? '' : `${d.changePct > 0 ? '+' : ''}${d.changePct}%`}`)
    .join('\n');
}

/** A markdown table from a header and rows (cells are escaped for pipes). */
export function markdownTable(header: readonly string[], rows: readonly (readonly (string | number | null)[])[]): string {
  const cell = (v: string | number | null): string => (v === null ? 'n/a' : String(v).replace(/\|/g, '\\|'));
  return [`| ${header.map(cell).join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}
