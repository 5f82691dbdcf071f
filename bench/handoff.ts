// Live room handoff between two fleet members on a real redis-server (started here via
// tools/measure/redis-server.ts, or given with --redis): players with the whole client netcode join
// rooms on the first member through the matchmaker, the second joins the fleet, the first is
// drained with handoff (POST /admin/drain {"handoff": true}). Prints one JSON object: players,
// resumed, lostEntities, reliableLost/Duplicated/Reordered (chat through the move), gapMs.p50/p99
// (old owner's last snapshot to the new owner's first, every player), correctionsPerPlayer,
// bytesPerRoom, per player the inputs and corrections of its move (perPlayer, moveCorrections,
// newOwnerLost), spectators moved, and the machine's load; --save stores it in bench/results/handoff.json.
// `npm run bench:handoff -- [--players 40] [--rooms 4] [--spectators 0 (per room)] [--redis redis://127.0.0.1:6379] [--delay 0] [--loss 0] [--json] [--save]`
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../tools/bots/pool.ts';
import { runHandoff } from '../tools/measure/handoff-run.ts';
import { machineInfo } from '../tools/measure/report.ts';

const { values } = parseArgs({
  options: {
    players: { type: 'string', default: '40' }, rooms: { type: 'string', default: '4' }, spectators: { type: 'string', default: '0' }, redis: { type: 'string' },
    delay: { type: 'string', default: '0' }, loss: { type: 'string', default: '0' }, seed: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false }, save: { type: 'boolean', default: false },
  },
});
const players = Number(values.players);
const rooms = Number(values.rooms);
const delayMs = Number(values.delay);
const lossPct = Number(values.loss);
const spectatorsPerRoom = Number(values.spectators);
if (!(Number.isInteger(spectatorsPerRoom) && spectatorsPerRoom >= 0 && spectatorsPerRoom <= 16)) throw new Error('--spectators (per room) must be 0..16');
if (!(players >= 1 && players <= 400 && rooms >= 1 && rooms <= players)) throw new Error('--players must be 1..400 and --rooms 1..players');
const log = (l: string): void => void process.stderr.write(`${l}\n`);

const r = await runHandoff({
  root: REPO_ROOT, players, rooms, spectatorsPerRoom, seed: Number(values.seed), log,
  ...(values.redis ? { redisUrl: values.redis } : {}),
  ...(delayMs > 0 || lossPct > 0 ? { link: { delayMs, lossPct } } : {}),
});
const out = { bench: 'handoff', at: new Date().toISOString(), machine: machineInfo(), link: { delayMs, lossPct }, ...r };
if (values.save) {
  const dir = join(REPO_ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'handoff.json'), `${JSON.stringify(out, null, 2)}\n`);
  log('saved bench/results/handoff.json');
}
if (values.json) process.stdout.write(`${JSON.stringify(out)}\n`);
else {
  log(`${r.players} players in ${r.rooms} rooms: ${r.resumed} resumed on the new owner, ${r.lostEntities} lost; reliable lost ${r.reliableLost}, duplicated ${r.reliableDuplicated}, reordered ${r.reliableReordered}`);
  log(`gap p50 ${r.gapMs.p50} ms, p99 ${r.gapMs.p99} ms; corrections per player ${r.correctionsPerPlayer} (${r.correctionsPerPlayerBefore} in as long before); ${r.bytesPerRoom} bytes per room; load ${r.load.start} -> ${r.load.end}`);
  log(`at the old owner between the drain and moved: corrections per player p50 ${r.drainCorrections.p50}, max ${r.drainCorrections.max}`);
  log(`after moved: corrections per player p50 ${r.moveCorrections.p50}, max ${r.moveCorrections.max} (largest ${r.moveCorrections.maxUnits} units); inputs the new owner never applied p50 ${r.newOwnerLost.p50}, max ${r.newOwnerLost.max}; spectators moved ${r.spectatorsMoved} of ${r.spectators}`);
}
