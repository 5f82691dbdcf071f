// Runs arena-v1 on Colyseus 0.16 at one point and prints the same core figures as Tickwire's bench
// runner: downstream payload bytes per client per second (WebSocket message bytes the bots
// received), server CPU cores (user + sys of the server process from /proc over the window), peak
// RSS. Server and bots are separate processes on this machine.
// `npm run bench:colyseus -- [--players 50] [--npcs 500] [--seconds 20] [--warmup 5] [--save]`
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { execSync } from 'node:child_process';

const arg = (n, d) => {
  const i = process.argv.indexOf(`--${n}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const players = arg('players', 50);
const npcs = arg('npcs', 500);
const seconds = arg('seconds', 20);
const warmup = arg('warmup', 5);
const port = 25000 + Math.floor(Math.random() * 5000);
const hz = Number(execSync('getconf CLK_TCK').toString().trim());
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const cpuSec = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / hz;
};
const hwmMiB = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

const server = spawn(process.execPath, ['server.mjs', String(port), String(npcs)], { cwd: new URL('.', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((ok) => server.stdout.once('data', ok));
const bots = spawn(process.execPath, ['bots.mjs', String(port), String(players)], { cwd: new URL('.', import.meta.url).pathname, stdio: ['pipe', 'pipe', 'inherit'] });
const lines = [];
let partial = '';
bots.stdout.on('data', (d) => {
  const parts = (partial + d.toString()).split('\n');
  partial = parts.pop();
  lines.push(...parts.filter(Boolean));
});
// The bots print {"started"} once every join is under way; a loaded machine can take seconds to
// get there, and a report asked for before it would be answered by that line instead.
const isReport = (l) => l.includes('"bytes"');
while (!lines.some((l) => l.includes('"started"'))) await sleep(10);
const report = async () => {
  const n = lines.filter(isReport).length;
  bots.stdin.write('report\n');
  while (lines.filter(isReport).length === n) await sleep(10);
  return JSON.parse(lines.filter(isReport).at(-1));
};
// every bot joined (or failed), then the warm-up
const joinDeadline = Date.now() + players * 20 + 30_000;
for (let r = await report(); r.joined + r.failed < players && Date.now() < joinDeadline; r = await report()) await sleep(250);
await sleep(warmup * 1000);
const r0 = await report();
const c0 = cpuSec(server.pid);
const b0 = cpuSec(bots.pid);
const t0 = performance.now();
const load0 = loadavg()[0];
await sleep(seconds * 1000);
const r1 = await report();
const c1 = cpuSec(server.pid);
const b1 = cpuSec(bots.pid);
const wall = (performance.now() - t0) / 1000;
const out = {
  server: 'colyseus 0.16 (@colyseus/core 0.16.20, @colyseus/schema 3.0.76, ws transport)',
  scenario: 'arena-v1', players, npcs, seconds: +wall.toFixed(2), warmupSec: warmup,
  joined: r1.joined, failed: r1.failed,
  downPayloadBytesPerClientPerSec: +((r1.bytes - r0.bytes) / r1.joined / wall).toFixed(1),
  messagesPerClientPerSec: +((r1.messages - r0.messages) / r1.joined / wall).toFixed(2),
  serverCpuCoresUsed: +((c1 - c0) / wall).toFixed(3),
  serverPeakRssMiB: +hwmMiB(server.pid).toFixed(1),
  botCpuCoresUsed: +((b1 - b0) / wall).toFixed(3),
  cores: cpus().length, loadAverage1m: { start: load0, end: loadavg()[0] },
  at: new Date().toISOString(),
};
console.log(JSON.stringify(out));
if (process.argv.includes('--save')) {
  const dir = new URL('../../results/', import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  const command = `npm run bench:colyseus -- ${process.argv.slice(2).join(' ')}`;
  writeFileSync(`${dir}colyseus-arena-v1-p${players}-n${npcs}.json`, JSON.stringify({ command, ...out }, null, 2) + '\n');
}
bots.stdin.write('quit\n');
server.kill('SIGTERM');
setTimeout(() => server.kill('SIGKILL'), 2000).unref();
await sleep(300);
process.exit(0);
