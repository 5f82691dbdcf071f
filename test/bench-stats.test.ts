// Benchmark measurement code against known inputs: percentiles, log histograms, /proc parsing and
// CPU accounting, Prometheus histogram deltas and quantiles.
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { cpuCoresUsed, descendantsFrom, machineCpuFigures, parseMachineCpu, parseMachineUdp, readMachineCpu, readMachineUdp, reniceProcess, parseProcStat, parseProcStatus, peakRssMiB, readProcSample, readProcTree, treeCpuCoresUsed, treePeakRssMiB, type ProcSample, type ProcTreeSample } from '../tools/measure/proc.ts';
import { referenceMs, referenceWork } from '../tools/measure/reference.ts';
import { histogramDelta, histogramMaxBound, histogramQuantile, parsePromText, promHistogram, promValue } from '../tools/measure/prom.ts';
import { LogHistogram, mean, percentile } from '../tools/measure/stats.ts';
import { serverProcessFigures, serverWindowFigures } from '../tools/measure/arena-bench.ts';

describe('percentile', () => {
  it('interpolates between closest ranks', () => {
    const v = [5, 1, 4, 2, 3]; // unsorted on purpose
    expect(percentile(v, 0)).toBe(1);
    expect(percentile(v, 0.5)).toBe(3);
    expect(percentile(v, 1)).toBe(5);
    expect(percentile(v, 0.25)).toBe(2);
    expect(percentile([10, 20], 0.5)).toBe(15);
    expect(percentile(Array.from({ length: 101 }, (_, i) => i), 0.99)).toBeCloseTo(99, 10);
    expect(v).toEqual([5, 1, 4, 2, 3]);
  });
  it('is 0 for no values, and mean matches', () => {
    expect(percentile([], 0.5)).toBe(0);
    expect(mean([])).toBe(0);
    expect(mean([1, 2, 3, 6])).toBe(3);
  });
});

describe('LogHistogram', () => {
  it('gives quantiles within its relative precision', () => {
    const h = new LogHistogram(0.01, 0.01);
    const values = Array.from({ length: 10_000 }, (_, i) => 0.5 + (i % 1000) * 0.37);
    for (const v of values) h.observe(v);
    for (const q of [0.5, 0.9, 0.99]) {
      const exact = percentile(values, q);
      expect(Math.abs(h.quantile(q) - exact) / exact).toBeLessThan(0.011);
    }
    expect(h.mean()).toBeCloseTo(mean(values), 6);
    expect(h.max).toBe(Math.max(...values));
  });
  it('counts zeros and tiny values in the zero bucket', () => {
    const h = new LogHistogram(0.001, 0.01);
    for (let i = 0; i < 99; i++) h.observe(0);
    h.observe(5);
    expect(h.quantile(0.5)).toBe(0);
    expect(h.quantile(0.99)).toBe(0);
    expect(h.quantile(1)).toBeCloseTo(5, 1);
    expect(h.mean()).toBeCloseTo(0.05, 10);
  });
  it('merges and subtracts exactly', () => {
    const a = new LogHistogram();
    const b = new LogHistogram();
    for (let i = 1; i <= 100; i++) a.observe(i);
    const snap = a.toJSON();
    for (let i = 101; i <= 200; i++) a.observe(i);
    const window = LogHistogram.diff(a.toJSON(), snap);
    expect(window.count).toBe(100);
    expect(window.sum).toBe(15050);
    expect(window.quantile(0)).toBeGreaterThan(100);
    for (let i = 101; i <= 200; i++) b.observe(i);
    expect(window.quantile(0.5)).toBeCloseTo(b.quantile(0.5), 10);
    const merged = LogHistogram.from(snap).merge(window);
    expect(merged.count).toBe(200);
    expect(merged.quantile(0.99)).toBeCloseTo(a.quantile(0.99), 10);
    expect(() => new LogHistogram(0.1, 0.01).merge(a)).toThrow(/shapes differ/);
  });
});

describe('/proc accounting', () => {
  // field 14 utime = 1234, 15 stime = 567, 16 cutime = 8, 17 cstime = 9, 20 threads = 11
  const stat = '4242 (node (tick) wire) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 8 9 20 0 11 0 12345 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 16781312 17922 0 0 0 17 1 0 0 0 0 0';
  it('parses /proc/<pid>/stat counting from the last parenthesis', () => {
    const s = parseProcStat(stat);
    expect(s).toEqual({ pid: 4242, comm: 'node (tick) wire', state: 'S', ppid: 1, utimeTicks: 1234, stimeTicks: 567, cutimeTicks: 8, cstimeTicks: 9, numThreads: 11 });
    expect(() => parseProcStat('garbage')).toThrow(/malformed/);
  });
  it('parses VmHWM and VmRSS from /proc/<pid>/status', () => {
    const text = 'Name:\tnode\nVmPeak:\t 1000000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t7\n';
    expect(parseProcStatus(text)).toEqual({ vmHwmKiB: 204800, vmRssKiB: 102400, threads: 7 });
    expect(parseProcStatus('Name: x\n')).toEqual({ vmHwmKiB: 0, vmRssKiB: 0, threads: 0 });
  });
  it('turns CPU ticks over wall time into cores used', () => {
    const at = (ms: number, u: number, s: number): ProcSample => ({
      atMs: ms,
      stat: { pid: 1, comm: 'x', state: 'R', ppid: 0, utimeTicks: u, stimeTicks: s, cutimeTicks: 0, cstimeTicks: 0, numThreads: 1 },
      status: { vmHwmKiB: 3 * 1024, vmRssKiB: 1024, threads: 1 },
    });
    // 150 ticks of user+sys at 100 Hz = 1.5 CPU s over 2 wall s
    expect(cpuCoresUsed(at(1000, 100, 50), at(3000, 200, 100), 100)).toBeCloseTo(0.75, 12);
    // two threads busy: more than one core
    expect(cpuCoresUsed(at(0, 0, 0), at(1000, 180, 20), 100)).toBeCloseTo(2, 12);
    expect(cpuCoresUsed(at(5, 0, 0), at(5, 10, 0), 100)).toBe(0);
    expect(peakRssMiB(at(0, 0, 0))).toBe(3);
  });
  it('finds every descendant of a process and sums the tree over a window', () => {
    const parents = new Map([[10, 1], [11, 10], [12, 10], [13, 11], [20, 1], [21, 20]]);
    expect(descendantsFrom(10, parents)).toEqual([11, 12, 13]);
    expect(descendantsFrom(13, parents)).toEqual([]);
    const proc = (pid: number, comm: string, ticks: number, hwmKiB: number): ProcSample => ({
      atMs: 0,
      stat: { pid, comm, state: 'S', ppid: 1, utimeTicks: ticks, stimeTicks: 0, cutimeTicks: 0, cstimeTicks: 0, numThreads: 1 },
      status: { vmHwmKiB: hwmKiB, vmRssKiB: 0, threads: 1 },
    });
    const a: ProcTreeSample = { atMs: 0, root: 10, procs: new Map([[10, proc(10, 'node', 100, 1024)], [11, proc(11, 'node', 50, 2048)]]) };
    // 10 used 100 ticks, 11 used 20, 12 started meanwhile and used 30: 150 ticks = 1.5 s over 2 s
    const b: ProcTreeSample = { atMs: 2000, root: 10, procs: new Map([[10, proc(10, 'node', 200, 1024)], [11, proc(11, 'node', 70, 2048)], [12, proc(12, 'node', 30, 512)]]) };
    const cpu = treeCpuCoresUsed(a, b, 100);
    expect(cpu.total).toBeCloseTo(0.75, 12);
    expect(cpu.byPid[10]).toBeCloseTo(0.5, 12);
    expect(cpu.byPid[12]).toBeCloseTo(0.15, 12);
    expect(treePeakRssMiB(b)).toBeCloseTo(3.5, 12);
    const f = serverProcessFigures(a, b, (pid) => (pid === 10 ? 'main' : 'worker'));
    expect(f).toMatchObject({ cpuCoresUsed: 0.75, peakRssMiB: 3.5 });
    expect(f.processes.map((p) => p.role)).toEqual(['main', 'worker', 'worker']);
  });

  it('reads this process: CPU time grows with work, peak RSS is plausible', () => {
    const a = readProcSample(process.pid);
    let x = 0;
    const until = performance.now() + 150;
    while (performance.now() < until) x += Math.sqrt(x + 1);
    const b = readProcSample(process.pid);
    expect(x).toBeGreaterThan(0);
    expect(b.stat.utimeTicks + b.stat.stimeTicks).toBeGreaterThan(a.stat.utimeTicks + a.stat.stimeTicks);
    const cores = cpuCoresUsed(a, b);
    expect(cores).toBeGreaterThan(0.2);
    expect(cores).toBeLessThan(3);
    expect(peakRssMiB(b)).toBeGreaterThan(10);
    expect(b.status.vmHwmKiB).toBeGreaterThanOrEqual(b.status.vmRssKiB);
    // this test runs in a worker forked by the runner: its parent's tree contains it
    const tree = readProcTree(process.ppid);
    expect(tree.procs.has(process.pid)).toBe(true);
    expect(tree.procs.get(process.pid)!.stat.ppid).toBe(process.ppid);
  });
  it('reads the machine: busy and stolen cores from /proc/stat', () => {
    const text = 'cpu  100 5 40 900 3 2 1 20 0 0\ncpu0 50 2 20 450 1 1 0 10 0 0\nintr 1\n';
    const a = parseMachineCpu(text, 0);
    // user + nice + system + irq + softirq; steal is the 8th field
    expect(a).toEqual({ atMs: 0, busyTicks: 148, stealTicks: 20 });
    const b = parseMachineCpu('cpu  250 5 90 1000 3 2 1 70 0 0\n', 2000);
    expect(machineCpuFigures(a, b, 100)).toEqual({ busyCores: 1, stealCores: 0.25 });
    expect(() => parseMachineCpu('intr 1\n', 0)).toThrow(/no cpu line/);
    expect(() => parseMachineCpu('cpu  1 2 x\n', 0)).toThrow(/cpu line/);
    const now = readMachineCpu();
    expect(now.busyTicks).toBeGreaterThan(0);
    expect(now.stealTicks).toBeGreaterThanOrEqual(0);
  });
  it('reads the machine\'s UDP datagram counters from /proc/net/snmp, and they count real datagrams', async () => {
    const text = 'Ip: Forwarding DefaultTTL\nIp: 1 64\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors\nUdp: 120 3 0 150 0\nUdpLite: InDatagrams NoPorts InErrors OutDatagrams\nUdpLite: 0 0 0 0\n';
    expect(parseMachineUdp(text)).toEqual({ inDatagrams: 120, outDatagrams: 150 });
    expect(() => parseMachineUdp('Ip: Forwarding\nIp: 1\n')).toThrow(/no Udp lines/);
    expect(() => parseMachineUdp('Udp: InDatagrams NoPorts\nUdp: 1 2\n')).toThrow(/Udp OutDatagrams/);
    // 50 datagrams to ourselves over loopback: both counters move by at least 50 (other processes may add more)
    const before = readMachineUdp();
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const port = sock.address().port;
    let got = 0;
    const all = new Promise<void>((r) => sock.on('message', () => { if (++got === 50) r(); }));
    for (let i = 0; i < 50; i++) sock.send(Buffer.from([i]), port, '127.0.0.1');
    await all;
    sock.close();
    const after = readMachineUdp();
    expect(after.outDatagrams - before.outDatagrams).toBeGreaterThanOrEqual(50);
    expect(after.inDatagrams - before.inDatagrams).toBeGreaterThanOrEqual(50);
  });
  it('times the reference work: the same result every run, a positive time', () => {
    expect(referenceWork()).toBe(referenceWork());
    const ms = referenceMs(3);
    expect(ms).toBeGreaterThan(0);
    expect(Number.isFinite(ms)).toBe(true);
  });
  it('renices every thread of a process', async () => {
    // the child says it is up once Node has started its threads
    const child = spawn(process.execPath, ['-e', 'console.log("up"); setTimeout(() => {}, 20000)'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise((r) => child.stdout.once('data', r));
      const pid = child.pid!;
      const tids = readdirSync(`/proc/${pid}/task`).map(Number);
      expect(tids.length).toBeGreaterThan(1);
      expect(reniceProcess(pid, 7)).toBe(tids.length);
      for (const tid of tids) expect(getPriority(tid)).toBe(7);
      expect(() => reniceProcess(2 ** 22 + 12345, 7)).toThrow(/could not set nice/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

/** A /metrics page with the tick histogram (seconds) and counters, as the server renders it. */
function metricsPage(buckets: [string, number][], sum: number, count: number, ticks: number, bytesOut: number, maxSec?: number): string {
  const lines = ['# HELP tickwire_ticks_total Simulation ticks run.', '# TYPE tickwire_ticks_total counter', `tickwire_ticks_total ${ticks}`];
  lines.push(`tickwire_bytes_total{direction="out",channel="ws"} ${bytesOut}`, `tickwire_bytes_total{direction="out",channel="webrtc"} 0`, `tickwire_bytes_total{direction="in",channel="ws"} 999`);
  if (maxSec !== undefined) lines.push(`tickwire_tick_duration_max_seconds ${maxSec}`);
  lines.push('# TYPE tickwire_tick_duration_seconds histogram');
  for (const [le, c] of buckets) lines.push(`tickwire_tick_duration_seconds_bucket{le="${le}"} ${c}`);
  lines.push(`tickwire_tick_duration_seconds_sum ${sum}`, `tickwire_tick_duration_seconds_count ${count}`);
  return lines.join('\n') + '\n';
}

describe('Prometheus histogram math', () => {
  const before = parsePromText(metricsPage([['0.001', 10], ['0.002', 10], ['0.004', 10], ['+Inf', 10]], 0.005, 10, 10, 1000));
  // then: 50 ticks in (0, 1 ms], 40 in (1, 2 ms], 10 in (2, 4 ms]
  const after = parsePromText(metricsPage([['0.001', 60], ['0.002', 100], ['0.004', 110], ['+Inf', 110]], 0.15, 110, 130, 61000, 0.0035));

  it('parses samples with labels', () => {
    expect(promValue(after, 'tickwire_ticks_total')).toBe(130);
    expect(promValue(after, 'tickwire_bytes_total', { direction: 'out' })).toBe(61000);
    expect(promValue(after, 'tickwire_bytes_total')).toBe(61999);
    const h = promHistogram(after, 'tickwire_tick_duration_seconds');
    expect(h?.bounds).toEqual([0.001, 0.002, 0.004, Infinity]);
    expect(h?.count).toBe(110);
  });
  it('subtracts two scrapes bucket by bucket', () => {
    const d = histogramDelta(promHistogram(after, 'tickwire_tick_duration_seconds')!, promHistogram(before, 'tickwire_tick_duration_seconds')!);
    expect(d.cumulative).toEqual([50, 90, 100, 100]);
    expect(d.count).toBe(100);
    expect(d.sum).toBeCloseTo(0.145, 12);
    expect(() => histogramDelta(promHistogram(before, 'tickwire_tick_duration_seconds')!, promHistogram(after, 'tickwire_tick_duration_seconds')!)).toThrow(/backwards/);
  });
  it('interpolates quantiles inside buckets', () => {
    const d = histogramDelta(promHistogram(after, 'tickwire_tick_duration_seconds')!, promHistogram(before, 'tickwire_tick_duration_seconds')!);
    expect(histogramQuantile(d, 0.5)).toBeCloseTo(0.001, 12); // rank 50 = top of the first bucket
    expect(histogramQuantile(d, 0.7)).toBeCloseTo(0.0015, 12); // rank 70: halfway through (1, 2 ms]
    expect(histogramQuantile(d, 0.95)).toBeCloseTo(0.003, 12); // rank 95: halfway through (2, 4 ms]
    expect(histogramQuantile(d, 0.99, 0.0035)).toBeCloseTo(0.0035, 12); // capped by the true max
    expect(histogramMaxBound(d)).toBe(0.004);
    expect(histogramQuantile({ bounds: [1, Infinity], cumulative: [0, 0], sum: 0, count: 0 }, 0.5)).toBe(0);
  });
  it('gives the window figures the benchmark reports', () => {
    const f = serverWindowFigures({ atMs: 0, metrics: before }, { atMs: 2000, metrics: after });
    expect(f.ticksPerSec).toBe(60);
    expect(f.bytesOut).toBe(60000);
    expect(f.tickMs.p50).toBeCloseTo(1, 6);
    expect(f.tickMs.max).toBeCloseTo(3.5, 6);
    expect(f.tickMs.p99).toBeLessThanOrEqual(3.5);
  });
});
