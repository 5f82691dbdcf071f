// `npm run dev`: builds the client, runs the server, and on every change rebuilds and/or restarts
// it and tells open pages to reload (a dev-only script in a copy of the bundle; production is untouched).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

/** Repository root. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Folders watched, relative to the root, and what a change there asks for. */
export const WATCHED: Readonly<Record<string, { readonly restart: boolean; readonly rebuild: boolean }>> = {
  server: { restart: true, rebuild: false },
  shared: { restart: true, rebuild: true },
  games: { restart: true, rebuild: true },
  netcode: { restart: false, rebuild: true }, // the server never imports netcode/
  client: { restart: false, rebuild: true },
};

/** File names that are source (editors' temporary and backup files are not). */
const SOURCE = /\.(ts|mts|js|mjs|json|html|css)$/;

/**
 * What a change of `rel` (a path relative to the root, '/' or the platform separator) asks for:
 * a server restart, a client rebuild, both, or nothing (not a watched source file).
 */
export function classifyChange(rel: string): { restart: boolean; rebuild: boolean } | undefined {
  const parts = rel.split(/[\\/]/).filter(Boolean);
  const kind = WATCHED[parts[0] ?? ''];
  if (!kind || parts.length < 2) return undefined;
  if (parts[0] === 'client' && parts[1] === 'dist') return undefined;
  if (parts.some((p) => p.startsWith('.') || p === 'node_modules')) return undefined;
  const name = parts[parts.length - 1];
  if (name.endsWith('~') || !SOURCE.test(name)) return undefined;
  return { ...kind };
}

/** The page's side: reload when the dev runner says the build changed (it also checks on every reconnect). */
export function reloadScript(devPort: number, build: string): string {
  return `<script data-tickwire-dev-build="${build}">(() => { const build = ${JSON.stringify(build)};` +
    ` const es = new EventSource(location.protocol + '//' + location.hostname + ':${devPort}/events');` +
    ` const check = (e) => { if (JSON.parse(e.data).build !== build) location.reload(); };` +
    ` es.addEventListener('hello', check); es.addEventListener('reload', () => location.reload()); })();</script>`;
}

/** Inserts the reload script into a page, before `</body>` (or at the end). */
export function injectReload(html: string, script: string): string {
  const at = html.lastIndexOf('</body>');
  return at < 0 ? `${html}\n${script}\n` : `${html.slice(0, at)}${script}\n${html.slice(at)}`;
}

interface Options {
  devPort: number;
  host: string;
}

function parse(argv: string[]): Options {
  const { values } = parseArgs({ args: argv, options: { 'dev-port': { type: 'string' }, help: { type: 'boolean', default: false } }, strict: true });
  if (values.help) {
    throw new Error('usage: npm run dev [-- --dev-port N]\n  every server option comes from the environment as for npm start (PORT, TICKWIRE_*, TICKWIRE_CONFIG)\n' +
      '  --dev-port   port of the reload events the page listens to (default TICKWIRE_DEV_PORT, else any free port)');
  }
  const raw = values['dev-port'] ?? process.env.TICKWIRE_DEV_PORT ?? '0';
  const devPort = Number(raw);
  if (!/^\d+$/.test(raw) || devPort > 65535) throw new Error(`--dev-port must be a port number (got ${JSON.stringify(raw)})`);
  return { devPort, host: process.env.HOST || '127.0.0.1' };
}

/** Runs the dev loop until SIGINT, SIGTERM or SIGHUP (the terminal closed). */
async function main(): Promise<void> {
  let o: Options;
  try {
    o = parse(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const tty = process.stdout.isTTY === true;
  const prettyOptions = { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service', sync: true };
  const log: Logger = tty ? pino({ base: { service: 'tickwire-dev' } }, pretty(prettyOptions)) : pino({ base: { service: 'tickwire-dev' } });
  const formatServerLine = tty ? pretty.prettyFactory(prettyOptions) : undefined;

  // The served copy of the bundle (with the reload script) and the server's config file live here.
  const devRoot = await mkdtemp(join(tmpdir(), 'tickwire-dev-'));
  const clientDir = join(devRoot, 'client');
  const configFile = join(devRoot, 'config.json');
  let userConfig: Record<string, unknown> = {};
  const userFile = process.env.TICKWIRE_CONFIG;
  if (userFile) {
    try {
      const v = JSON.parse(await readFile(userFile, 'utf8')) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) userConfig = v as Record<string, unknown>;
    } catch {
      // the server names the problem when it reads the file itself
    }
  }
  await writeFile(configFile, JSON.stringify({ ...userConfig, clientDir }));

  // Reload events: the page keeps an EventSource open here; the runner outlives every server restart.
  const pages = new Set<ServerResponse>();
  let build = '';
  let builds = 0;
  let server: ChildProcess | undefined;
  let serverStarts = 0;
  let serverHttp = '';
  let stopping = false;
  const send = (event: string, data: object): void => {
    for (const res of pages) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const http = createServer((req, res) => {
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('cache-control', 'no-store');
    if (req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', connection: 'keep-alive' });
      res.write(`event: hello\ndata: ${JSON.stringify({ build })}\n\n`);
      pages.add(res);
      req.on('close', () => pages.delete(res));
    } else if (req.url === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ build, builds, serverPid: server?.pid ?? null, serverStarts, http: serverHttp, pages: pages.size }));
    } else {
      res.writeHead(404).end();
    }
  });
  const keepAlive = setInterval(() => {
    for (const res of pages) res.write(': keep-alive\n\n');
  }, 15_000);
  await new Promise<void>((ok, fail) => {
    http.once('error', fail);
    http.listen(o.devPort, o.host, () => ok());
  });
  const devPort = (http.address() as { port: number }).port;

  /** Builds the client (client/build.ts, as npm run build:client) and copies it, with the reload script, to the served folder. */
  const buildClient = async (): Promise<boolean> => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', 'client/build.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    if (code !== 0) {
      log.error({ output: output.trim().slice(-4000) }, 'client build failed; the page keeps the previous build');
      return false;
    }
    const dist = join(ROOT, 'client/dist');
    await rm(clientDir, { recursive: true, force: true });
    await cp(dist, clientDir, { recursive: true });
    const bundle = await readFile(join(clientDir, 'main.js')).catch(() => Buffer.alloc(0));
    builds++;
    build = `${builds}-${createHash('sha256').update(bundle).digest('hex').slice(0, 8)}`;
    const page = join(clientDir, 'index.html');
    await writeFile(page, injectReload(await readFile(page, 'utf8'), reloadScript(devPort, build)));
    log.info({ build, ms: Date.now() - t0 }, 'client built');
    return true;
  };

  const stopServer = async (): Promise<void> => {
    const child = server;
    server = undefined; // its exit is expected: not reported
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGINT'); // stop now (SIGTERM would drain: wait for open pages to leave)
    const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
    await exited;
    clearTimeout(timer);
  };

  /** Starts the server; resolves true once it listens, false when it exits first. */
  const startServer = (): Promise<boolean> => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      cwd: ROOT, env: { ...process.env, TICKWIRE_CONFIG: configFile }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    server = child;
    serverStarts++;
    child.stderr.pipe(process.stderr, { end: false });
    return new Promise<boolean>((ok) => {
      let listening = false;
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          process.stdout.write(formatServerLine && line.startsWith('{') ? formatServerLine(line) : `${line}\n`);
          if (!listening && line.includes('"tickwire listening"')) {
            listening = true;
            try {
              serverHttp = String((JSON.parse(line) as { http?: unknown }).http ?? '');
            } catch {
              serverHttp = '';
            }
            ok(true);
          }
        }
      });
      child.on('exit', (code, signal) => {
        if (server === child && !stopping) log.warn({ code, signal }, 'server exited; the next change starts it again');
        if (!listening) ok(false);
      });
    });
  };

  // Changes are gathered for a short while, then one cycle: rebuild, restart, reload. A change
  // during a cycle starts another after it.
  let pending = { restart: false, rebuild: false };
  let changed = new Set<string>();
  let debounce: NodeJS.Timeout | undefined;
  let cycling = false;
  const cycle = async (): Promise<void> => {
    if (cycling || stopping) return;
    cycling = true;
    try {
      while ((pending.restart || pending.rebuild) && !stopping) {
        const work = pending;
        const files = [...changed].slice(0, 10);
        pending = { restart: false, rebuild: false };
        changed = new Set();
        log.info({ files, rebuild: work.rebuild, restart: true }, 'change');
        if (work.rebuild && !(await buildClient())) continue;
        // the server reads the bundle when it starts, so a new build restarts it too
        await stopServer();
        if (stopping) break;
        if (await startServer()) send('reload', { build });
      }
    } finally {
      cycling = false;
    }
  };
  const onChange = (rel: string): void => {
    const c = classifyChange(rel);
    if (!c) return;
    pending = { restart: pending.restart || c.restart, rebuild: pending.rebuild || c.rebuild };
    changed.add(rel.split(sep).join('/'));
    clearTimeout(debounce);
    debounce = setTimeout(() => void cycle(), 150);
  };
  const watchers: FSWatcher[] = Object.keys(WATCHED).map((dir) => watch(join(ROOT, dir), { recursive: true }, (_ev, file) => {
    if (file) onChange(`${dir}/${file.toString()}`);
  }));

  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'dev runner stopping');
    for (const w of watchers) w.close();
    clearTimeout(debounce);
    clearInterval(keepAlive);
    for (const res of pages) res.end();
    http.close();
    await stopServer();
    await rm(devRoot, { recursive: true, force: true });
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal));

  log.info({ reload: `http://${o.host}:${devPort}/events`, status: `http://${o.host}:${devPort}/status`, watching: Object.keys(WATCHED), clientDir }, 'tickwire dev');
  // a failed first build still starts the server (its page then says the client is not built)
  if (!(await buildClient())) log.error('fix the client build; the next change tries again');
  await startServer();
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) void main();
