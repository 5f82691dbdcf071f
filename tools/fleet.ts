// `npm run fleet -- --processes N [--port 8080] [--webrtc]`: a fleet on one machine. Starts N server
// processes on consecutive ports (HTTP/WebSocket on port + 2k, signaling on port + 2k + 1, each its
// own UDP range) against the Redis named by TICKWIRE_REDIS_URL, prefixes each one's log lines with
// its member id, and stops them all on Ctrl-C (SIGINT: each stops now, every client told); SIGTERM
// drains them (each exits once its rooms empty or its drain limit passes).
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values } = parseArgs({
  options: {
    processes: { type: 'string', default: '2' }, port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' },
    webrtc: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('usage: TICKWIRE_REDIS_URL=redis://127.0.0.1:6379 npm run fleet -- --processes N [--port 8080] [--host 127.0.0.1] [--webrtc]');
  process.exit(0);
}
const n = Number(values.processes);
const base = Number(values.port);
if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error('--processes must be 1..64');
if (!Number.isInteger(base) || base < 1024 || base + 2 * n > 65535) throw new Error('--port must leave room for 2 ports per process');
if (!process.env.TICKWIRE_REDIS_URL) {
  console.error('TICKWIRE_REDIS_URL is not set. Start a Redis first, for example:\n  redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no &\n  TICKWIRE_REDIS_URL=redis://127.0.0.1:6379 npm run fleet -- --processes 2');
  process.exit(2);
}

const children: ChildProcess[] = [];
let stopping = false;
for (let i = 0; i < n; i++) {
  const port = base + 2 * i;
  const id = `m${i + 1}`;
  const udp = 20000 + i * 1000;
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env, HOST: values.host, PORT: String(port), TICKWIRE_SIGNALING_PORT: String(port + 1), TICKWIRE_MEMBER_ID: id,
      TICKWIRE_PUBLIC_URL: `http://${values.host}:${port}`, TICKWIRE_WEBRTC: values.webrtc ? '1' : '0',
      TICKWIRE_UDP_PORT_MIN: String(udp), TICKWIRE_UDP_PORT_MAX: String(udp + 999),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = `[${id} :${port}] `;
  const forward = (stream: NodeJS.ReadableStream | null, out: NodeJS.WriteStream): void => {
    let rest = '';
    stream?.on('data', (d: Buffer) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) out.write(prefix + line + '\n');
    });
  };
  forward(child.stdout, process.stdout);
  forward(child.stderr, process.stderr);
  child.on('exit', (code, signal) => {
    process.stderr.write(`${prefix}exited (${signal ?? code})\n`);
    if (!stopping && children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(1);
  });
  children.push(child);
}

const stop = (signal: NodeJS.Signals): void => {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill(signal);
  const deadline = setTimeout(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    process.exit(1);
  }, signal === 'SIGINT' ? 15_000 : 600_000);
  deadline.unref();
  Promise.all(children.map((c) => (c.exitCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r))))).then(() => process.exit(0));
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
