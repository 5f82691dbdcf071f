// `npm run bench`: the socket benchmark CLI of arena-v1 and arena-v2 (one point, the sweep, the capacity search); the
// measurement itself is tools/measure/arena-bench.ts.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  capacitySearch, COMPARED_METRICS, NOTE, pointFileName, readJson, RESULTS_DIR, runPoint, save, SCENARIO_SWEEP, SCENARIOS, storedPoint, sweepChart, sweepMarkdown,
  type CapacityResult, type PointResult, type Scenario, type SweepFile,
} from '../tools/measure/arena-bench.ts';
import { compareResults, formatDifferences, machineInfo } from '../tools/measure/report.ts';
import { recordAb, recordAbMarkdown } from '../tools/measure/replay-bench.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      scenario: { type: 'string', default: 'arena-v1' }, players: { type: 'string' }, npcs: { type: 'string' },
      seconds: { type: 'string', default: '20' }, warmup: { type: 'string', default: '5' }, transport: { type: 'string' }, json: { type: 'boolean', default: false },
      sweep: { type: 'boolean', default: false }, capacity: { type: 'boolean', default: false }, save: { type: 'boolean', default: false },
      chart: { type: 'boolean', default: false },
      record: { type: 'string', default: 'off' }, rounds: { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' }, ramp: { type: 'string', default: '50' }, full: { type: 'string' }, 'input-packet-hz': { type: 'string' },
      'capacity-start': { type: 'string', default: '50' }, 'capacity-max': { type: 'string', default: '1000' }, 'capacity-resolution': { type: 'string', default: '25' },
      'capacity-budget': { type: 'string' }, 'bots-nice': { type: 'string' },
    },
    strict: true,
  });
  if (!(SCENARIOS as readonly string[]).includes(values.scenario)) throw new Error(`unknown scenario ${JSON.stringify(values.scenario)} (known: ${SCENARIOS.join(', ')})`);
  const scenario = values.scenario as Scenario;
  const grid = SCENARIO_SWEEP[scenario];
  const int = (name: string, raw: string | undefined, min: number, max: number): number => {
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`--${name} must be an integer in ${min}..${max}`);
    return v;
  };
  if (values.transport !== undefined && values.transport !== 'ws' && values.transport !== 'webrtc') throw new Error('--transport must be webrtc or ws');
  const transports: ('ws' | 'webrtc')[] = values.transport ? [values.transport as 'ws' | 'webrtc'] : values.sweep || values.capacity ? ['ws', 'webrtc'] : ['webrtc'];
  const seconds = int('seconds', values.seconds, 1, 3600);
  const warmupSec = int('warmup', values.warmup, 0, 600);
  const seed = int('seed', values.seed, 0, 0xffffffff);
  const rampPerSec = int('ramp', values.ramp, 1, 10_000);
  const log = (l: string): void => {
    process.stderr.write(`${l}\n`);
  };
  // the bot processes' nice value: above 0 they yield the shared cores to the server, as bots on other machines would
  const botsNice = values['bots-nice'] !== undefined ? int('bots-nice', values['bots-nice'], 0, 19) : undefined;
  const nice = botsNice !== undefined ? { botsNice } : {};
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();

  const drawChart = (): void => {
    const stored = (['ws', 'webrtc'] as const).map((t) => readJson<SweepFile>(join(RESULTS_DIR, `${scenario}-sweep-${t}.json`))).filter((s): s is SweepFile => s !== undefined);
    if (stored.length) log(`wrote ${save(`${scenario}-sweep.svg`, sweepChart(stored))}`);
  };
  if (values.chart) {
    drawChart();
    return;
  }

  if (values.sweep) {
    for (const transport of transports) {
      const previous = readJson<SweepFile>(join(RESULTS_DIR, `${scenario}-sweep-${transport}.json`));
      const points: PointResult[] = [];
      const failedPoints: SweepFile['failedPoints'] = [];
      for (const npcs of grid.npcs) {
        for (const players of grid.players) {
          let r: PointResult;
          try {
            r = await runPoint({ scenario, players, npcs, transport, seconds, warmupSec, seed, rampPerSec, log, ...nice });
          } catch (err) {
            log(`[${scenario} P=${players} N=${npcs} ${transport}] FAILED: ${(err as Error).message}`);
            failedPoints.push({ players, npcs, error: (err as Error).message.slice(0, 2000) });
            continue;
          }
          points.push(r);
          const old = previous?.points.find((p) => p.players === players && p.npcs === npcs);
          if (old) log(`  compared with the stored sweep (${old.at}):\n${formatDifferences(compareResults(r, old, COMPARED_METRICS))}`);
        }
      }
      const sweep: SweepFile = { scenario, transport, command, note: NOTE, machine: machineInfo(), at: new Date().toISOString(), points, failedPoints };
      log(`wrote ${save(`${scenario}-sweep-${transport}.json`, JSON.stringify(sweep, null, 2) + '\n')}`);
      const failed = failedPoints.length ? `\nNot measured: ${failedPoints.map((f) => `P=${f.players} N=${f.npcs} (${f.error.split('\n')[0]})`).join('; ')}\n` : '';
      const md = `# ${scenario} sweep, ${transport}\n\n${NOTE}\n\nMachine: ${sweep.machine.cores} cores, ${sweep.machine.cpuModel}, Node ${sweep.machine.node}. Measured ${sweep.at} (commit ${points[0]?.commit ?? 'unknown'}).\n\nCommand: \`${command}\`\n\n${sweepMarkdown(points)}\n${failed}`;
      log(`wrote ${save(`${scenario}-sweep-${transport}.md`, md)}`);
      if (values.json) console.log(JSON.stringify(sweep));
    }
    drawChart();
    return;
  }

  if (values.capacity) {
    const npcs = int('npcs', values.npcs ?? String(grid.defaultNpcs), 0, 4000);
    const timeBudgetSec = values['capacity-budget'] !== undefined ? int('capacity-budget', values['capacity-budget'], 10, 86_400) : undefined;
    for (const transport of transports) {
      const r = await capacitySearch({
        scenario, transport, npcs, ...(timeBudgetSec !== undefined ? { timeBudgetSec } : {}), ...nice, seconds, warmupSec, rampPerSec, log,
        start: int('capacity-start', values['capacity-start'], 1, 5000), max: int('capacity-max', values['capacity-max'], 1, 1024), resolution: int('capacity-resolution', values['capacity-resolution'], 1, 1000),
      });
      const m = machineInfo();
      const full: CapacityResult = { scenario, ...r, cores: m.cores, machine: m, command, at: new Date().toISOString() };
      // a search with niced bots is stored beside the one without (they answer different questions)
      const capacityFile = `${scenario}-capacity-${transport}${botsNice ? `-nice${botsNice}` : ''}.json`;
      const previous = readJson<CapacityResult>(join(RESULTS_DIR, capacityFile));
      log(`[capacity ${scenario} ${transport}]${full.stoppedByTimeBudget ? ' (time budget spent before the resolution was reached)' : ''} ${full.capacityIsLowerBound ? 'at least ' : ''}${full.capacity} bots with tick p99 < ${full.budgetMs} ms on ${full.cores} cores (N=${npcs})`);
      if (previous) log(`  compared with the stored search (${previous.at}):\n${formatDifferences(compareResults(full, previous, ['capacity']))}`);
      if (values.save) log(`wrote ${save(capacityFile, JSON.stringify(full, null, 2) + '\n')}`);
      console.log(values.json ? JSON.stringify(full) : `capacity (${transport}, ${npcs} NPCs): ${full.capacityIsLowerBound ? '>= ' : ''}${full.capacity} bots on ${full.cores} cores`);
    }
    return;
  }

  const players = int('players', values.players ?? String(grid.defaultPlayers), 1, 1024);
  const npcs = int('npcs', values.npcs ?? String(grid.defaultNpcs), 0, 4000);
  // --record on: the server records its room (TICKWIRE_RECORD_ROOMS); ab: off and on alternated --rounds times, side by side
  if (values.record !== 'off' && values.record !== 'on' && values.record !== 'ab') throw new Error('--record must be off, on or ab');
  if (values.record === 'on') {
    process.env.TICKWIRE_RECORD_ROOMS = '1';
    process.env.TICKWIRE_REPLAY_DIR ??= join(tmpdir(), 'tickwire-bench-replays');
    log(`recording into ${process.env.TICKWIRE_REPLAY_DIR}`);
  }
  if (values.record === 'ab') {
    if (scenario !== 'arena-v1') throw new Error('--record ab measures arena-v1 (games with interest rules are not recorded)');
    for (const transport of transports) {
      const r = { ...(await recordAb({ players, npcs, transport, seconds, warmupSec, seed, rampPerSec, log }, int('rounds', values.rounds, 1, 20))), command };
      log(recordAbMarkdown(r));
      if (values.save) log(`wrote ${save(`replay-ab-p${players}-n${npcs}-${transport}.json`, JSON.stringify(r, null, 2) + '\n')}`);
      console.log(values.json ? JSON.stringify(r) : recordAbMarkdown(r));
    }
    return;
  }
  for (const transport of transports) {
    const fullBots = values.full !== undefined ? int('full', values.full, 0, players) : undefined;
    const inputPacketRateHz = values['input-packet-hz'] !== undefined ? int('input-packet-hz', values['input-packet-hz'], 1, 128) : undefined;
    const r = await runPoint({
      scenario, players, npcs, transport, seconds, warmupSec, seed, rampPerSec, log, ...nice, ...(fullBots !== undefined ? { fullBots } : {}), ...(inputPacketRateHz !== undefined ? { inputPacketRateHz } : {}),
    });
    const old = storedPoint(players, npcs, transport, RESULTS_DIR, scenario);
    if (old) log(`compared with the stored result (${old.at}):\n${formatDifferences(compareResults(r, old, COMPARED_METRICS))}`);
    else log('no stored result for this point to compare with');
    if (values.save) log(`wrote ${save(pointFileName(players, npcs, transport, scenario), JSON.stringify({ ...r, command, note: NOTE }, null, 2) + '\n')}`);
    if (values.json) console.log(JSON.stringify(r));
    else console.log(JSON.stringify(r, null, 2));
  }
}

if (process.argv[1] && /runner\.ts$/.test(process.argv[1])) {
  main().catch((err: unknown) => {
    console.error(`bench failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
