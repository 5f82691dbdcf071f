// Bot byte accounting, window differences, summaries, the render-error probe, the SVG chart writer,
// result comparison and the capacity search, all against known inputs.
import { describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { SnapshotFrame } from '../shared/protocol/snapshot.ts';
import { escapeXml, niceTicks, renderChartSvg } from '../tools/measure/chart.ts';
import { RenderErrorProbe } from '../tools/measure/render-error.ts';
import { gamePositionFields } from '../netcode/prediction.ts';
import { compareResults, formatDifferences, markdownTable } from '../tools/measure/report.ts';
import { summarizeBots } from '../tools/measure/summary.ts';
import { countReason, diffTotals, emptyTotals, MAX_REASONS, newMsHistogram, perClientPerSec, sumTotals } from '../tools/measure/totals.ts';
import { capacitySearch, capacityVerdict, CAPACITY_BUDGET_MS } from '../tools/measure/arena-bench.ts';
import { planBots } from '../tools/bots/pool.ts';

describe('bot byte accounting', () => {
  it('rates are bytes over active client-seconds', () => {
    expect(perClientPerSec(84_000, 2000)).toBe(42_000); // 2 client-seconds
    expect(perClientPerSec(5, 0)).toBe(0);
  });

  it('sums processes and subtracts windows', () => {
    const p1 = emptyTotals(1000);
    Object.assign(p1, { bots: 2, active: 2, connectedTotal: 2, activeClientMs: 4000, bytesDown: 8000, bytesUp: 400, snapshots: 160, inputsSent: 480 });
    const p2 = emptyTotals(1010);
    Object.assign(p2, { bots: 1, active: 1, connectedTotal: 1, activeClientMs: 2000, bytesDown: 4000, bytesUp: 200, snapshots: 80, inputsSent: 240, failed: 0 });
    const rtt = newMsHistogram();
    [1, 2, 3].forEach((v) => rtt.observe(v));
    p2.rttMs = rtt.toJSON();
    countReason(p1.errorReasons, 'websocket error');
    countReason(p2.errorReasons, 'websocket error');
    const start = sumTotals([p1, p2]);
    expect(start.atMs).toBe(1010);
    expect(start.bots).toBe(3);
    expect(start.bytesDown).toBe(12_000);
    expect(start.errorReasons).toEqual({ 'websocket error': 2 });
    expect(start.rttMs.count).toBe(3);

    // one second later, all three bots still active: 3 more client-seconds, 3 * 42_000 bytes down
    const later = structuredClone(start);
    later.atMs = 2010;
    later.activeClientMs += 3000;
    later.bytesDown += 3 * 42_000;
    later.bytesUp += 3 * 900;
    later.snapshots += 60;
    later.inputsSent += 180;
    later.inputsAcked += 170;
    const w = diffTotals(later, start);
    expect(w.activeClientMs).toBe(3000);
    expect(w.bots).toBe(3); // a gauge: the later value
    expect(w.errorReasons).toEqual({});
    expect(w.rttMs.count).toBe(0);
    const s = summarizeBots(w, 1);
    expect(s.downPayloadBytesPerClientPerSec).toBe(42_000);
    expect(s.upPayloadBytesPerClientPerSec).toBe(900);
    expect(s.snapshotsPerClientPerSec).toBe(20);
    expect(s.inputsSent).toBe(180);
    expect(s.inputsAcked).toBe(170);
    expect(s.renderErrorUnits).toEqual({ mean: null, p99: null });
    expect(s.downWireBytesPerClientPerSec).toBeNull();
    expect(s.predictionCorrectionsPerSec).toBeNull();
  });

  it('keeps at most MAX_REASONS distinct reasons', () => {
    const m: Record<string, number> = {};
    for (let i = 0; i < MAX_REASONS + 5; i++) countReason(m, `reason ${i}`);
    expect(Object.keys(m)).toHaveLength(MAX_REASONS + 1);
    expect(m.other).toBe(5);
  });

  it('plans the ramp, the full sample and the process split', () => {
    const plan = planBots(10, 3, 2, 1000, 5);
    expect(plan.map((g) => g.length)).toEqual([4, 3, 3]);
    const all = plan.flat().sort((a, b) => a.index - b.index);
    expect(all.map((b) => b.startAtMs)).toEqual([1000, 1200, 1400, 1600, 1800, 2000, 2200, 2400, 2600, 2800]);
    expect(all.filter((b) => b.mode === 'full').map((b) => b.index)).toEqual([0, 5]);
  });
});

describe('render-error probe', () => {
  const schema = compileSchema(arena);
  const xi = schema.fields.findIndex((f) => f.component === 'Position' && f.field === 'x');
  const yi = schema.fields.findIndex((f) => f.component === 'Position' && f.field === 'y');
  const posBit = 1 << schema.fields[xi].compIndex;
  const frame = (tick: number, ents: [number, number, number][]): SnapshotFrame => {
    const f = new SnapshotFrame(schema);
    f.tick = tick;
    f.count = ents.length;
    ents.forEach(([id, x, y], i) => {
      f.ids[i] = id;
      f.masks[i] = posBit;
      f.values[i * f.fieldCount + xi] = schema.fields[xi].q.quantize(x);
      f.values[i * f.fieldCount + yi] = schema.fields[yi].q.quantize(y);
    });
    return f;
  };

  it('compares rendered positions at snapshot ticks with the snapshot of that tick', () => {
    const probe = new RenderErrorProbe(schema, 3, gamePositionFields(arena));
    const truth = new Map<number, SnapshotFrame>([[3, frame(3, [[1, 100, 100], [2, 50, 50], [7, 10, 10]])]]);
    const sampled: number[] = [];
    // the client draws entity 1 off by (3, 4) = 5 units, entity 2 exactly, entity 7 is its own player, entity 9 is unknown to the server
    const sampler = (tick: number, visit: (eid: number, x: number, y: number) => void): void => {
      sampled.push(tick);
      visit(1, 103, 104);
      visit(2, 50, 50);
      visit(7, 999, 999);
      visit(9, 1, 1);
    };
    probe.onRender(2.2, sampler, (t) => truth.get(t), 7); // first frame: starts at the next snapshot tick (3)
    probe.onRender(3.1, sampler, (t) => truth.get(t), 7);
    expect(sampled).toEqual([3]);
    expect(probe.counts).toEqual({ ticksRendered: 1, ticksCompared: 1, samples: 2, ticksUnverified: 0 });
    expect(probe.errors.mean()).toBeCloseTo(2.5, 1);
    expect(probe.errors.quantile(1)).toBeCloseTo(5, 1);
  });

  it('waits for a late snapshot, and counts one that never comes', () => {
    const probe = new RenderErrorProbe(schema, 3, gamePositionFields(arena));
    const sampler = (_t: number, visit: (eid: number, x: number, y: number) => void): void => visit(1, 10, 10);
    probe.onRender(5.5, sampler, () => undefined, -1);
    probe.onRender(6.2, sampler, () => undefined, -1); // renders tick 6 before its snapshot arrived
    expect(probe.counts.ticksRendered).toBe(1);
    expect(probe.counts.ticksCompared).toBe(0);
    probe.onSnapshot(frame(6, [[1, 10, 10.5]]));
    expect(probe.counts.ticksCompared).toBe(1);
    expect(probe.errors.quantile(1)).toBeCloseTo(0.5, 2);
    // tick 9 rendered, its snapshot lost; 16 snapshot intervals later the slot is reused
    probe.onRender(9.1, sampler, () => undefined, -1);
    for (let t = 12; t <= 9 + 16 * 3; t += 3) probe.onRender(t + 0.1, sampler, (tick) => frame(tick, [[1, 10, 10]]), -1);
    expect(probe.counts.ticksUnverified).toBe(1);
    expect(probe.counts.ticksRendered).toBe(probe.counts.ticksCompared + 1);
  });
});

describe('SVG chart writer', () => {
  it('draws one polyline per series with points in x order, escaped text and a reference line', () => {
    const svg = renderChartSvg(
      [{ title: 'Bytes <per> client', xLabel: 'players', yLabel: 'B/s', series: [{ name: 'N=0 & more', points: [[50, 20], [10, 10]] }, { name: 'N=500', points: [[10, 40]] }], refY: { value: 30, label: 'budget' } }],
      { panelWidth: 400, panelHeight: 300, caption: 'machine "x"' },
    );
    expect(svg.startsWith('<?xml')).toBe(true);
    expect(svg).toContain('<svg xmlns="http://www.w3.org/2000/svg" width="400" height="324"');
    expect(svg).toContain('Bytes &lt;per&gt; client');
    expect(svg).toContain('N=0 &amp; more');
    expect(svg).toContain('machine &quot;x&quot;');
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(3);
    expect(svg).toContain('stroke-dasharray');
    // x: 10 -> left edge of the plot (64), 50 -> right edge (400 - 16 = 384); y axis 0..40: 10 -> 192 - 48 = 144? plot top 36, height 192
    const pts = /<polyline[^>]*points="([^"]+)"/.exec(svg)![1].split(' ').map((p) => p.split(',').map(Number));
    expect(pts[0][0]).toBe(64);
    expect(pts[1][0]).toBe(384);
    expect(pts[0][1]).toBeCloseTo(36 + 192 - (10 / 40) * 192, 1);
    expect(pts[1][1]).toBeCloseTo(36 + 192 - (20 / 40) * 192, 1);
    // well-formed enough: every opened element is closed or self-closed
    expect((svg.match(/<text\b/g) ?? []).length).toBe((svg.match(/<\/text>/g) ?? []).length);
  });
  it('lays panels out in a grid', () => {
    const panel = { title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [[1, 1]] as [number, number][] }] };
    const svg = renderChartSvg([panel, panel, panel], { panelWidth: 100, panelHeight: 80, columns: 2 });
    expect(svg).toContain('width="200" height="160"');
    expect(svg.match(/<polyline /g)).toHaveLength(3);
  });
  it('picks nice ticks and escapes XML', () => {
    expect(niceTicks(0, 37, 5)).toEqual([0, 10, 20, 30, 40]);
    expect(niceTicks(0, 0.9, 4)).toEqual([0, 0.5, 1]);
    expect(niceTicks(0, 0.9, 8)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
  });
});

describe('result comparison and tables', () => {
  it('reports the change of every shared metric', () => {
    const d = compareResults({ a: 110, t: { p99: 2 }, z: 0 }, { a: 100, t: { p99: 4 }, z: 0, only: 1 }, ['a', 't.p99', 'z', 'only']);
    expect(d).toEqual([
      { metric: 'a', previous: 100, current: 110, changePct: 10 },
      { metric: 't.p99', previous: 4, current: 2, changePct: -50 },
      { metric: 'z', previous: 0, current: 0, changePct: null },
    ]);
    expect(formatDifferences(d)).toContain('+10%');
    expect(markdownTable(['a', 'b'], [[1, null], ['x|y', 2]])).toBe('| a | b |\n| --- | --- |\n| 1 | n/a |\n| x\\|y | 2 |');
  });
});

describe('capacity search', () => {
  const fakeProbe = (limit: number) => async (players: number) => ({
    players, connected: players, failed: 0, serverCpuCoresUsed: 0.1, bots: { processes: 1, fullBots: 1, fullClientNetcode: true, cpuCoresUsed: 0.5, stepsSkipped: 0 },
    tickMs: { p50: 1, p99: players <= limit ? CAPACITY_BUDGET_MS - 1 : CAPACITY_BUDGET_MS + 1, max: 20 },
  });
  it('doubles, then bisects to the resolution', async () => {
    const r = await capacitySearch({ transport: 'ws', npcs: 500, seconds: 1, warmupSec: 0, start: 50, max: 1000, resolution: 10, rampPerSec: 50, log: () => undefined, probe: fakeProbe(333) });
    expect(r.capacity).toBeGreaterThanOrEqual(323);
    expect(r.capacity).toBeLessThanOrEqual(333);
    expect(r.capacityIsLowerBound).toBe(false);
    expect(r.probes.slice(0, 5).map((p) => p.players)).toEqual([50, 100, 200, 400, 400]);
    expect(r.probes.filter((p) => p.pass).every((p) => p.players <= 333)).toBe(true);
  });
  it('measures a failing count twice, so one stall does not decide', async () => {
    let calls = 0;
    const flaky = async (players: number) => {
      calls++;
      const r = await fakeProbe(400)(players);
      // the first probe of 200 hits a stall
      if (players === 200 && calls === 3) r.tickMs.p99 = CAPACITY_BUDGET_MS * 3;
      return r;
    };
    const r = await capacitySearch({ transport: 'ws', npcs: 0, seconds: 1, warmupSec: 0, start: 50, max: 400, resolution: 10, rampPerSec: 50, log: () => undefined, probe: flaky });
    expect(r.probes.filter((p) => p.players === 200).map((p) => p.pass)).toEqual([false, true]);
    expect(r).toMatchObject({ capacity: 400, capacityIsLowerBound: true });
  });
  it('reports a lower bound when the largest probe still passes', async () => {
    const r = await capacitySearch({ transport: 'ws', npcs: 0, seconds: 1, warmupSec: 0, start: 50, max: 300, resolution: 10, rampPerSec: 50, log: () => undefined, probe: fakeProbe(5000) });
    expect(r).toMatchObject({ capacity: 300, capacityIsLowerBound: true });
  });
  it('starts no probe once its time budget is spent, and says so', async () => {
    // each probe takes 60 s of the injected clock; the budget covers three of them
    let nowMs = 0;
    const slow = async (players: number) => {
      nowMs += 60_000;
      return fakeProbe(333)(players);
    };
    const r = await capacitySearch({ transport: 'ws', npcs: 0, seconds: 1, warmupSec: 0, start: 50, max: 1000, resolution: 10, rampPerSec: 50, log: () => undefined, probe: slow, timeBudgetSec: 150, now: () => nowMs });
    expect(r.probes.map((p) => p.players)).toEqual([50, 100, 200]);
    expect(r).toMatchObject({ capacity: 200, capacityIsLowerBound: true, stoppedByTimeBudget: true, timeBudgetSec: 150 });
    // inside the bisection: the search keeps the last passing count
    nowMs = 0;
    const mid = await capacitySearch({ transport: 'ws', npcs: 0, seconds: 1, warmupSec: 0, start: 50, max: 1000, resolution: 10, rampPerSec: 50, log: () => undefined, probe: slow, timeBudgetSec: 400, now: () => nowMs });
    expect(mid.probes.map((p) => p.players)).toEqual([50, 100, 200, 400, 400, 300, 350, 350]);
    expect(mid).toMatchObject({ capacity: 300, capacityIsLowerBound: false, stoppedByTimeBudget: true });
  });
  it('fails a point whose bots did not all connect', () => {
    expect(capacityVerdict({ players: 100, connected: 90, tickMs: { p50: 1, p99: 1, max: 1 } })).toMatchObject({ pass: false });
    expect(capacityVerdict({ players: 100, connected: 100, tickMs: { p50: 1, p99: 9, max: 9 } })).toMatchObject({ pass: false });
    expect(capacityVerdict({ players: 100, connected: 100, tickMs: { p50: 1, p99: 8, max: 9 } })).toMatchObject({ pass: true });
  });
  it('fails a point that did not deliver 20 snapshots a second, or whose bots fell behind', () => {
    const ok = { players: 100, connected: 100, tickMs: { p50: 1, p99: 5, max: 6 }, seconds: 10, snapshotsPerClientPerSec: 19.9, bots: { processes: 2, stepsSkipped: 12 } };
    expect(capacityVerdict(ok)).toMatchObject({ pass: true });
    expect(capacityVerdict({ ...ok, snapshotsPerClientPerSec: 18.5 })).toMatchObject({ pass: false, reason: expect.stringContaining('snapshots/s') });
    // 2 processes x 60 steps x 10 s = 1,200 steps: 12 skipped is 1%, 13 is over
    expect(capacityVerdict({ ...ok, bots: { processes: 2, stepsSkipped: 13 } })).toMatchObject({ pass: false, reason: expect.stringContaining('fell behind') });
  });
});
