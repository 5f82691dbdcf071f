// Process CPU and memory accounting from Linux /proc: user+sys CPU time from /proc/<pid>/stat and
// peak/current RSS from /proc/<pid>/status, turned into "CPU cores used" over a wall-clock window.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { round } from './stats.ts';

/** CPU fields of /proc/<pid>/stat, in clock ticks (USER_HZ). */
export interface ProcStat {
  pid: number;
  /** Executable name (field 2, without the parentheses). */
  comm: string;
  /** Process state letter (field 3). */
  state: string;
  /** Parent PID (field 4). */
  ppid: number;
  /** User-mode CPU time of the process (all its threads), clock ticks (field 14). */
  utimeTicks: number;
  /** Kernel-mode CPU time, clock ticks (field 15). */
  stimeTicks: number;
  /** User time of waited-for children, clock ticks (field 16). */
  cutimeTicks: number;
  /** Kernel time of waited-for children, clock ticks (field 17). */
  cstimeTicks: number;
  /** Threads in the process (field 20). */
  numThreads: number;
}

/**
 * Parses the text of /proc/<pid>/stat. The command name may contain spaces and parentheses, so
 * fields are counted from the last ')' (as proc(5) advises). Throws on malformed text.
 */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error('malformed /proc/<pid>/stat: no (comm)');
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 1).trim().split(/\s+/);
  // rest[0] is field 3 (state); field n is rest[n - 3]
  const field = (n: number): number => {
    const v = Number(rest[n - 3]);
    if (!Number.isFinite(v)) throw new Error(`malformed /proc/<pid>/stat: field ${n}`);
    return v;
  };
  return {
    pid, comm: text.slice(open + 1, close), state: rest[0] ?? '?', ppid: field(4),
    utimeTicks: field(14), stimeTicks: field(15), cutimeTicks: field(16), cstimeTicks: field(17), numThreads: field(20),
  };
}

/** Memory fields of /proc/<pid>/status, in KiB. */
export interface ProcStatus {
  /** Peak resident set size ("high water mark"), KiB. */
  vmHwmKiB: number;
  /** Current resident set size, KiB. */
  vmRssKiB: number;
  /** Threads. */
  threads: number;
}

/** Parses the text of /proc/<pid>/status (missing fields read as 0). */
export function parseProcStatus(text: string): ProcStatus {
  const kib = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  const threads = /^Threads:\s+(\d+)/m.exec(text);
  return { vmHwmKiB: kib('VmHWM'), vmRssKiB: kib('VmRSS'), threads: threads ? Number(threads[1]) : 0 };
}

let clkTck: number | undefined;

/** USER_HZ, the unit of /proc/<pid>/stat CPU times (from `getconf CLK_TCK`; 100 when unavailable). */
export function clockTicksPerSec(): number {
  if (clkTck === undefined) {
    try {
      const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim());
      clkTck = Number.isInteger(v) && v > 0 ? v : 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** One reading of a process: CPU ticks and memory, with the wall time it was taken. */
export interface ProcSample {
  /** Wall time of the reading, ms (monotonic clock). */
  atMs: number;
  stat: ProcStat;
  status: ProcStatus;
}

/** Reads /proc/<pid>/stat and /proc/<pid>/status now. Throws when the process is gone. */
export function readProcSample(pid: number, nowMs: number = performance.now()): ProcSample {
  return {
    atMs: nowMs,
    stat: parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8')),
    status: parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8')),
  };
}

/**
 * CPU cores used between two readings of one process: (user + sys CPU seconds) per wall second.
 * 1.0 means one core fully busy; a multi-threaded process can exceed 1.
 */
export function cpuCoresUsed(a: ProcSample, b: ProcSample, ticksPerSec: number = clockTicksPerSec()): number {
  const wallSec = (b.atMs - a.atMs) / 1000;
  if (!(wallSec > 0)) return 0;
  const cpuTicks = b.stat.utimeTicks + b.stat.stimeTicks - (a.stat.utimeTicks + a.stat.stimeTicks);
  return cpuTicks / ticksPerSec / wallSec;
}

/** Peak RSS in MiB from a reading (VmHWM). */
export function peakRssMiB(s: ProcSample): number {
  return s.status.vmHwmKiB / 1024;
}

/** CPU seconds used by a process, from its reading. */
export function cpuSeconds(s: ProcSample, ticksPerSec: number = clockTicksPerSec()): number {
  return (s.stat.utimeTicks + s.stat.stimeTicks) / ticksPerSec;
}

/** Readings of a process and all its descendants at one instant. */
export interface ProcTreeSample {
  atMs: number;
  /** Root PID. */
  root: number;
  /** Readings by PID (the root and every descendant alive at the time). */
  procs: Map<number, ProcSample>;
}

/** Whether process `pid` exists (signal 0: no signal is sent). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** PIDs of every descendant of `root`, from the parent PIDs in /proc/<pid>/stat (processes that vanish meanwhile are skipped). */
export function descendants(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      parentOf.set(Number(name), parseProcStat(readFileSync(`/proc/${name}/stat`, 'utf8')).ppid);
    } catch {
      // exited while we looked
    }
  }
  return descendantsFrom(root, parentOf);
}

/** Descendants of `root` given every process's parent (pure, for tests). */
export function descendantsFrom(root: number, parentOf: ReadonlyMap<number, number>): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parentOf) {
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    for (const c of children.get(stack.pop()!) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out.sort((a, b) => a - b);
}

/** Reads a process and its descendants now. Throws when the root is gone. */
export function readProcTree(root: number, nowMs: number = performance.now()): ProcTreeSample {
  const procs = new Map<number, ProcSample>();
  procs.set(root, readProcSample(root, nowMs));
  for (const pid of descendants(root)) {
    try {
      procs.set(pid, readProcSample(pid, nowMs));
    } catch {
      // exited while we looked
    }
  }
  return { atMs: nowMs, root, procs };
}

/**
 * CPU cores used by a process tree between two readings: for each process alive at the end, its
 * CPU time since the first reading (all of it for a process started in between), per wall second.
 * CPU time of processes that exited in between is not seen.
 */
export function treeCpuCoresUsed(a: ProcTreeSample, b: ProcTreeSample, ticksPerSec: number = clockTicksPerSec()): { total: number; byPid: Record<number, number> } {
  const wallSec = (b.atMs - a.atMs) / 1000;
  const byPid: Record<number, number> = {};
  let total = 0;
  if (!(wallSec > 0)) return { total: 0, byPid };
  for (const [pid, end] of b.procs) {
    const start = a.procs.get(pid);
    const startTicks = start && start.stat.comm === end.stat.comm ? start.stat.utimeTicks + start.stat.stimeTicks : 0;
    const cores = (end.stat.utimeTicks + end.stat.stimeTicks - startTicks) / ticksPerSec / wallSec;
    byPid[pid] = cores;
    total += cores;
  }
  return { total, byPid };
}

/** Sum of the peak RSS (VmHWM) of every process of a tree reading, MiB (an upper bound of the tree's peak). */
export function treePeakRssMiB(s: ProcTreeSample): number {
  let kib = 0;
  for (const p of s.procs.values()) kib += p.status.vmHwmKiB;
  return kib / 1024;
}

/**
 * Sets the nice value of every thread of process `pid` (Linux keeps one per thread: setpriority on
 * a PID reaches only its main thread, and threads started before it keep theirs). Returns the
 * number of threads set; throws when none could be (the process is gone or the value is refused).
 */
export function reniceProcess(pid: number, nice: number): number {
  let tids: number[];
  try {
    tids = readdirSync(`/proc/${pid}/task`).filter((t) => /^\d+$/.test(t)).map(Number);
  } catch {
    tids = [pid];
  }
  let set = 0;
  let last: unknown;
  for (const tid of tids) {
    try {
      setPriority(tid, nice);
      set++;
    } catch (err) {
      last = err;
    }
  }
  if (set === 0) throw new Error(`could not set nice ${nice} on process ${pid}: ${(last as Error | undefined)?.message ?? 'no threads'}`);
  return set;
}

/** The machine's CPU time from the first line of /proc/stat, clock ticks (USER_HZ). */
export interface MachineCpuSample {
  atMs: number;
  /** user + nice + system + irq + softirq: time the cores ran something. */
  busyTicks: number;
  /** Time the hypervisor ran something else while this machine's cores wanted to run (field 8, steal). */
  stealTicks: number;
}

/** Parses the `cpu` line of /proc/stat (the machine's totals). Throws on malformed text. */
export function parseMachineCpu(text: string, atMs: number): MachineCpuSample {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('malformed /proc/stat: no cpu line');
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 8 || f.some((v) => !Number.isFinite(v))) throw new Error('malformed /proc/stat: cpu line');
  const [user, nice, system, , , irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
  return { atMs, busyTicks: user + nice + system + irq + softirq, stealTicks: steal };
}

/** Reads the machine's CPU totals now (zeros where /proc/stat is unreadable). */
export function readMachineCpu(nowMs: number = performance.now()): MachineCpuSample {
  try {
    return parseMachineCpu(readFileSync('/proc/stat', 'utf8'), nowMs);
  } catch {
    return { atMs: nowMs, busyTicks: 0, stealTicks: 0 };
  }
}

/**
 * The machine between two readings, in cores: how busy all its processes kept it (the measured
 * ones and anything else) and how much CPU the hypervisor took from it (steal). A run whose steal
 * is not near 0 measured a slower machine than its core count says.
 */
export function machineCpuFigures(a: MachineCpuSample, b: MachineCpuSample, ticksPerSec: number = clockTicksPerSec()): { busyCores: number; stealCores: number } {
  const wallSec = (b.atMs - a.atMs) / 1000;
  if (!(wallSec > 0)) return { busyCores: 0, stealCores: 0 };
  // to the thousandth of a core, as every figure of the results
  return { busyCores: round((b.busyTicks - a.busyTicks) / ticksPerSec / wallSec, 3), stealCores: round((b.stealTicks - a.stealTicks) / ticksPerSec / wallSec, 3) };
}

/** The machine's UDP datagram counters (/proc/net/snmp, every socket of this network namespace). */
export interface MachineUdpSample {
  inDatagrams: number;
  outDatagrams: number;
}

/** Parses the `Udp:` header and value lines of /proc/net/snmp. Throws on malformed text. */
export function parseMachineUdp(text: string): MachineUdpSample {
  const lines = text.split('\n').filter((l) => l.startsWith('Udp: '));
  if (lines.length < 2) throw new Error('malformed /proc/net/snmp: no Udp lines');
  const names = lines[0]!.trim().split(/\s+/).slice(1);
  const values = lines[1]!.trim().split(/\s+/).slice(1).map(Number);
  const get = (name: string): number => {
    const v = values[names.indexOf(name)];
    if (v === undefined || !Number.isFinite(v)) throw new Error(`malformed /proc/net/snmp: Udp ${name}`);
    return v;
  };
  return { inDatagrams: get('InDatagrams'), outDatagrams: get('OutDatagrams') };
}

/** Reads the machine's UDP counters now (zeros where /proc/net/snmp is unreadable). */
export function readMachineUdp(): MachineUdpSample {
  try {
    return parseMachineUdp(readFileSync('/proc/net/snmp', 'utf8'));
  } catch {
    return { inDatagrams: 0, outDatagrams: 0 };
  }
}
