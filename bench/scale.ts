// `npm run bench:scale`: the server-side scale benchmark (tools/measure/scale-bench.ts) from the
// command line: one point, printed as one JSON object with --json, stored in bench/results/ with --save.
// --budget sets the per-client view byte budget (viewBudgetBytesPerSec) of the run; --joins-per-tick
// the clients joining on each frame of the ramp before the warm-up (default 50); --cpu-prof FILE
// writes a CPU profile (.cpuprofile, for Chrome DevTools) of the measured window alone.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { arena } from '../games/arena.ts';
import { arenaV2 } from '../games/arena-v2.ts';
import { save } from '../tools/measure/arena-bench.ts';
import { machineInfo } from '../tools/measure/report.ts';
import { runScale } from './scale-bench.ts';

const SCENARIOS = { 'arena-v1': arena, 'arena-v2': arenaV2 } as const;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      scenario: { type: 'string', default: 'arena-v2' }, players: { type: 'string', default: '1000' }, npcs: { type: 'string' },
      seconds: { type: 'string', default: '20' }, warmup: { type: 'string', default: '3' }, sample: { type: 'string', default: '20' },
      seed: { type: 'string', default: '1' }, budget: { type: 'string' }, 'joins-per-tick': { type: 'string', default: '50' }, 'cpu-prof': { type: 'string' }, json: { type: 'boolean', default: false }, save: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const game = SCENARIOS[values.scenario as keyof typeof SCENARIOS];
  if (!game) throw new Error(`unknown scenario ${JSON.stringify(values.scenario)} (known: ${Object.keys(SCENARIOS).join(', ')})`);
  const int = (name: string, raw: string | undefined, min: number, max: number): number => {
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`--${name} must be an integer in ${min}..${max}`);
    return v;
  };
  const log = (l: string): void => {
    process.stderr.write(`${l}\n`);
  };
  const profFile = values['cpu-prof'];
  const inspector = profFile !== undefined ? new Session() : undefined;
  const onWindow = async (at: 'start' | 'end'): Promise<void> => {
    if (!inspector || profFile === undefined) return;
    if (at === 'start') {
      inspector.connect();
      await inspector.post('Profiler.enable');
      await inspector.post('Profiler.start');
      return;
    }
    const { profile } = await inspector.post('Profiler.stop');
    writeFileSync(profFile, JSON.stringify(profile));
    inspector.disconnect();
    log(`wrote ${profFile}`);
  };
  const r = await runScale({
    onWindow,
    game, players: int('players', values.players, 1, 1024), seconds: int('seconds', values.seconds, 1, 600), warmupSec: int('warmup', values.warmup, 0, 60),
    sample: int('sample', values.sample, 0, 1024), joinsPerTick: int('joins-per-tick', values['joins-per-tick'], 1, 1024), seed: int('seed', values.seed, 0, 0xffffffff), log,
    ...(values.npcs !== undefined ? { npcs: int('npcs', values.npcs, 0, 4000) } : {}),
    ...(values.budget !== undefined ? { viewBudgetBytesPerSec: int('budget', values.budget, 0, 100_000_000) } : {}),
  });
  const out = { ...r, command: `npm run bench:scale -- ${process.argv.slice(2).join(' ')}`.trim(), machine: machineInfo() };
  if (values.json) process.stdout.write(`${JSON.stringify(out)}\n`);
  else {
    log(`${r.scenario}: ${r.players} players, ${r.entities} entities, ${r.meanViewEntities} per view`);
    log(`tick p50 ${r.tickMs.p50} ms, p99 ${r.tickMs.p99} ms, max ${r.tickMs.max} ms ; with the hand-off p50 ${r.frameMs.p50}, p99 ${r.frameMs.p99} ms (CPU p50 ${r.frameCpuMs.p50}, p99 ${r.frameCpuMs.p99} ms); server ${r.serverCpuCoresUsed} cores`);
    log(`down ${r.downPayloadBytesPerClientPerSec} B/s per client; ${r.sampledMismatches} mismatches in ${r.sampledFramesChecked} frames of ${r.sampledClients} sampled clients`);
  }
  if (values.save) log(`wrote ${save(`${r.scenario}-scale-p${r.players}.json`, `${JSON.stringify(out, null, 2)}\n`)}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
