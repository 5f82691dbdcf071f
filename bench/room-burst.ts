// What a room-amplification burst costs an existing match. Runs the server in this process (its
// tick times recorded exactly, one by one) with P WebSocket bots in one room (bot processes, from
// 127.0.0.1), then alternates quiet windows with attack windows in which one attacker (127.0.0.2)
// makes 63 hello-and-leave connections naming new rooms as fast as it can. The same run is made
// twice: with the default limits, and with them lifted (what the server did before it had any),
// so the figures compare side by side on one machine.
// `npm run bench:room-burst -- [--players 50] [--npcs 500] [--rounds 2] [--seconds 10] [--json] [--save]`
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { arena } from '../games/arena.ts';
import { loadServerConfig, type ServerConfig } from '../server/config.ts';
import { TickwireServer } from '../server/server.ts';
import { configHash, PROTOCOL_VERSION } from '../shared/config.ts';
import { decodeServerControl, encodeControl } from '../shared/protocol/control.ts';
import { BotPool, REPO_ROOT } from '../tools/bots/pool.ts';
import { machineInfo } from '../tools/measure/report.ts';
import { percentile, round } from '../tools/measure/stats.ts';

const { values } = parseArgs({
  options: {
    players: { type: 'string', default: '50' }, npcs: { type: 'string', default: '500' }, rounds: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '10' }, json: { type: 'boolean', default: false }, save: { type: 'boolean', default: false },
  },
});
const players = Number(values.players);
const npcs = Number(values.npcs);
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const log = (l: string): void => void process.stderr.write(`${l}\n`);

/** One hello-and-leave naming a new room, from the attacker's address; resolves with what the server answered. */
function helloAndLeave(port: number, room: string): Promise<'welcome' | number | 'refused'> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { localAddress: '127.0.0.2', perMessageDeflate: false });
    ws.on('error', () => resolve('refused'));
    ws.on('unexpected-response', () => resolve('refused'));
    ws.on('open', () => ws.send(encodeControl({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arena), name: 'burst', room })));
    ws.on('message', (d: Buffer) => {
      if (d[0] !== 1) return;
      const m = decodeServerControl(new Uint8Array(d));
      if (m.t !== 'welcome' && m.t !== 'reject') return;
      if (m.t === 'welcome') ws.send(encodeControl({ t: 'leave' }));
      ws.close();
      resolve(m.t === 'welcome' ? 'welcome' : m.code);
    });
  });
}

interface Window {
  kind: 'quiet' | 'attack';
  ticks: number;
  p50: number;
  p99: number;
  max: number;
  roomsAtEnd: number;
}

async function run(label: string, overrides: Partial<ServerConfig>): Promise<{ label: string; windows: Window[]; burst: { created: number; refused: number; seconds: number }[]; quiet: { p50: number; p99: number }; attack: { p50: number; p99: number }; p99Rise: number }> {
  const config = loadServerConfig({}, { port: 0, signalingPort: 0, webrtc: false, logLevel: 'warn', gameParams: { npcs }, roomCapacity: players + 8, maxSessionsPerAddress: 5000, ...overrides });
  const srv = new TickwireServer(config, { game: arena });
  let samples: number[] = [];
  const tickOnce = srv.tickOnce.bind(srv);
  srv.tickOnce = () => {
    const t0 = performance.now();
    tickOnce();
    samples.push(performance.now() - t0);
  };
  await srv.start();
  const port = srv.http!.port;
  const pool = await BotPool.start({ url: `http://127.0.0.1:${port}`, count: players, transport: 'ws', rampPerSec: 50, seed: 1, fullBots: 0 });
  const windows: Window[] = [];
  const burst: { created: number; refused: number; seconds: number }[] = [];
  try {
    for (let t = Date.now() + 15_000; (await pool.read()).active < players && Date.now() < t; ) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 5000)); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const kind of ['quiet', 'attack'] as const) {
        samples = [];
        const end = Date.now() + seconds * 1000;
        if (kind === 'attack') {
          const b0 = performance.now();
          const outcomes: ('welcome' | number | 'refused')[] = [];
          for (let i = 0; i < 63; i++) outcomes.push(await helloAndLeave(port, `evil-${r}-${i}`));
          burst.push({ created: outcomes.filter((o) => o === 'welcome').length, refused: outcomes.filter((o) => o !== 'welcome').length, seconds: round((performance.now() - b0) / 1000, 2) });
        }
        await new Promise((res) => setTimeout(res, Math.max(0, end - Date.now())));
        const s = [...samples].sort((a, b) => a - b);
        windows.push({ kind, ticks: s.length, p50: round(percentile(s, 0.5), 3), p99: round(percentile(s, 0.99), 3), max: round(s[s.length - 1], 3), roomsAtEnd: srv.rooms.size });
        log(`${label} ${kind.padEnd(6)} round ${r + 1}: tick p50 ${windows.at(-1)!.p50} p99 ${windows.at(-1)!.p99} max ${windows.at(-1)!.max} ms, rooms ${srv.rooms.size}${kind === 'attack' ? `, burst ${JSON.stringify(burst.at(-1))}` : ''}`);
      }
    }
  } finally {
    await pool.stop();
    await srv.stop();
  }
  const pooled = (kind: Window['kind']) => {
    const w = windows.filter((x) => x.kind === kind);
    return { p50: round(w.reduce((a, x) => a + x.p50, 0) / w.length, 3), p99: round(w.reduce((a, x) => a + x.p99, 0) / w.length, 3) };
  };
  const quiet = pooled('quiet');
  const attack = pooled('attack');
  return { label, windows, burst, quiet, attack, p99Rise: round(attack.p99 / quiet.p99 - 1, 3) };
}

const limited = await run('default limits', {});
const unlimited = await run('no limits', { roomCreatesPerAddressPerMin: 100_000, roomCreatesPerSec: 100_000, clientRoomParams: { npcs }, roomUnusedGraceMs: 30_000, maxRooms: 10_000 });
const result = {
  scenario: 'arena-v1 room burst', players, npcs, rounds, windowSec: seconds, at: new Date().toISOString(), machine: machineInfo(),
  command: `npm run bench:room-burst -- --players ${players} --npcs ${npcs} --rounds ${rounds} --seconds ${seconds}`,
  note: 'server in the bench process (tick times recorded one by one); bots in their own processes on the same 2-core machine',
  runs: [limited, unlimited],
};
if (values.save) {
  const dir = join(REPO_ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'room-burst.json'), JSON.stringify(result, null, 2) + '\n');
  log('saved bench/results/room-burst.json');
}
if (values.json) console.log(JSON.stringify(result));
else for (const r of result.runs) console.log(`${r.label}: tick p99 quiet ${r.quiet.p99} ms, during bursts ${r.attack.p99} ms (${(r.p99Rise * 100).toFixed(1)}%); rooms created per burst ${r.burst.map((b) => b.created).join(', ')}`);
process.exit(0);
