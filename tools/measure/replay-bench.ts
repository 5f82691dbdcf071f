// Recording's cost at one arena-v1 point: the point measured with recording off and on, alternated
// in one run (`npm run bench -- ... --record ab`), side by side with the machine's load, and the
// replay's size per minute read from the file the recorded run wrote.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseReplay, summarizeReplay, type ReplaySummary } from '../../shared/protocol/replay.ts';
import { runPoint, type PointOptions, type PointResult } from './arena-bench.ts';

/** One recorded run's replay. */
export type ReplayFigures = Pick<ReplaySummary, 'bytes' | 'durationSec' | 'bytesPerMinute' | 'keyframes' | 'snapshots' | 'players' | 'finished'>;

/** A run with recording on: its point figures and its replay's. */
export interface RecordedPoint extends PointResult {
  replay: ReplayFigures;
}

/** The A/B of one point. */
export interface RecordAbResult {
  scenario: 'arena-v1';
  players: number;
  npcs: number;
  transport: 'ws' | 'webrtc';
  off: PointResult[];
  on: RecordedPoint[];
  at: string;
  command?: string;
}

/** Runs one point with recording on (into a temporary directory, removed after) and reads its replay. */
export async function runRecordedPoint(o: PointOptions): Promise<RecordedPoint> {
  const dir = mkdtempSync(join(tmpdir(), 'tickwire-bench-replay-'));
  try {
    const r = await runPoint({ ...o, recordDir: dir });
    const files = readdirSync(dir).filter((f) => f.endsWith('.twr'));
    if (files.length !== 1) throw new Error(`expected one replay file, found ${files.length}`);
    const s = summarizeReplay(parseReplay(new Uint8Array(readFileSync(join(dir, files[0])))));
    return { ...r, replay: { bytes: s.bytes, durationSec: s.durationSec, bytesPerMinute: s.bytesPerMinute, keyframes: s.keyframes, snapshots: s.snapshots, players: s.players, finished: s.finished } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Alternates off and on `rounds` times (off first). */
export async function recordAb(o: PointOptions, rounds: number): Promise<RecordAbResult> {
  const off: PointResult[] = [];
  const on: RecordedPoint[] = [];
  for (let i = 0; i < rounds; i++) {
    off.push(await runPoint(o));
    on.push(await runRecordedPoint(o));
  }
  return { scenario: 'arena-v1', players: o.players, npcs: o.npcs, transport: o.transport, off, on, at: new Date().toISOString() };
}

/** The A/B side by side (markdown). */
export function recordAbMarkdown(r: RecordAbResult): string {
  const rows = [
    ...r.off.map((p, i) => ({ name: `off #${i + 1}`, p, rep: undefined as ReplayFigures | undefined })),
    ...r.on.map((p, i) => ({ name: `on #${i + 1}`, p, rep: p.replay })),
  ];
  const lines = [
    '| recording | server CPU (cores) | tick p50 / p99 / max (ms) | encode p99 (ms) | peak RSS (MiB) | B/client/s down | load 1 min (start-end) | replay B/min |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(({ name, p, rep }) => `| ${name} | ${p.serverCpuCoresUsed} | ${p.tickMs.p50} / ${p.tickMs.p99} / ${p.tickMs.max} | ${p.tickPhasesMs?.encode.p99 ?? '—'} | ${p.serverPeakRssMiB} | ${p.downPayloadBytesPerClientPerSec} | ${p.loadAverage1m.start}-${p.loadAverage1m.end} | ${rep ? rep.bytesPerMinute : '—'} |`),
  ];
  return lines.join('\n');
}
