// The Agones lifecycle over real gRPC: the official SDK client (@google-cloud/agones-sdk) in a real
// Tickwire server talks to an in-process sidecar built from the package's own service definition
// (test/helpers/agones.ts). Checked: Ready only once the server serves, health pings on the
// interval, labels after the first player (rate-limited), a broken health stream and a broken watch
// noticed, logged and replaced, Allocated and Shutdown followed from the watch (Shutdown drains),
// and Shutdown() called last, after the server stopped, then the process exits; and the example
// manifest deploy/agones/fleet.yaml agrees with the config.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGONES_LABEL_INTERVAL_MS, AGONES_LABELS } from '../server/agones.ts';
import { loadServerConfig } from '../server/config.ts';
import type { TickwireServer } from '../server/server.ts';
import { freePort, ServerProcess } from '../tools/measure/server-proc.ts';
import { promValue } from '../tools/measure/prom.ts';
import { FakeAgones } from './helpers/agones.ts';
import { connectClient, scrapeMetrics, startTestServer, waitFor } from './helpers/server.ts';

const root = new URL('..', import.meta.url).pathname;
const HEALTH_MS = 200;
const ADMIN = 'agones-test-admin-token-0123';

interface LogLine {
  level: number;
  time: number;
  msg: string;
  [k: string]: unknown;
}

/** pino JSON lines written by a server, parsed. */
function captureLogs(): { lines: LogLine[]; stream: Writable } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  return { lines, stream };
}

const gaps = (times: number[]): number[] => times.slice(1).map((t, i) => t - times[i]);

describe('Agones lifecycle, in-process server', () => {
  let fake: FakeAgones;
  let srv: TickwireServer | undefined;
  const logs = captureLogs();
  const log = (msg: string): LogLine | undefined => logs.lines.find((l) => l.msg === msg);
  let healthAtReady = 0;
  let listeningAtShutdown: boolean | undefined;
  let port = 0;

  beforeAll(async () => {
    fake = await FakeAgones.start();
    process.env.AGONES_SDK_GRPC_PORT = String(fake.port);
    port = await freePort();
    // Ready must find the server serving: the sidecar probes it before answering
    fake.onReady = async () => {
      healthAtReady = (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) })).status;
    };
    fake.onShutdown = async () => {
      // a new TCP connection (fetch would reuse a kept-alive one)
      listeningAtShutdown = await new Promise<boolean>((r) => {
        const s = connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
        s.once('error', () => r(false));
      });
    };
    srv = await startTestServer({ port, agones: true, agonesHealthMs: HEALTH_MS, adminToken: ADMIN, drainMs: 20_000 }, { logger: pino({ level: 'debug', base: { service: 'tickwire' } }, logs.stream) });
  }, 40_000);
  afterAll(async () => {
    await srv?.stop();
    fake?.close();
    delete process.env.AGONES_SDK_GRPC_PORT;
  });

  it('Ready once the server serves; health pings every agonesHealthMs; labels for rooms and players', async () => {
    const ready = fake.named('ready');
    expect(ready).toHaveLength(1);
    expect(healthAtReady).toBe(200);
    const listening = log('tickwire listening');
    expect(listening).toBeDefined();
    expect(ready[0].atMs).toBeGreaterThanOrEqual(listening!.time);
    expect(log('agones: Ready sent')).toMatchObject({ level: 30, healthMs: HEALTH_MS });
    // nothing before Ready but the connection; the watch, health and labels after it
    const first = (name: string): number => fake.calls.findIndex((c) => c.name === name);
    expect(first('ready')).toBe(0);
    await waitFor(() => ['watchGameServer', 'health', 'setLabel'].every((n) => first(n) >= 0), 3000, 'the watch, health and labels');
    for (const name of ['watchGameServer', 'health', 'setLabel']) expect(first(name), name).toBeGreaterThan(first('ready'));
    await waitFor(() => fake.named('ping').length >= 6, 5000, 'six health pings');
    // from the second ping on (the first rides the new stream's setup)
    const pingGaps = gaps(fake.named('ping').map((c) => c.atMs)).slice(1);
    const mean = pingGaps.reduce((a, b) => a + b, 0) / pingGaps.length;
    console.log(`agones: Ready ${ready[0].atMs - listening!.time} ms after 'tickwire listening'; health ping gaps ${pingGaps.join(', ')} ms (mean ${mean.toFixed(0)}, interval ${HEALTH_MS})`);
    expect(mean).toBeGreaterThan(HEALTH_MS * 0.7);
    expect(mean).toBeLessThan(HEALTH_MS * 1.6);
    expect(fake.labels.get(AGONES_LABELS.rooms)).toBe('0');
    expect(fake.labels.get(AGONES_LABELS.players)).toBe('0');
    // the first player: a room and a player, set within the rate limit
    const c = await connectClient(srv!, { room: 'agones-room' });
    const joined = Date.now();
    try {
      expect(c.state).toBe('active');
      await waitFor(() => fake.labels.get(AGONES_LABELS.players) === '1' && fake.labels.get(AGONES_LABELS.rooms) === '1', AGONES_LABEL_INTERVAL_MS + 2000, 'labels for the first player');
      const set = fake.named('setLabel').filter((l) => l.detail === `${AGONES_LABELS.players}=1`)[0];
      console.log(`agones: players label set ${set.atMs - joined} ms after the first player's welcome (rate limit ${AGONES_LABEL_INTERVAL_MS} ms)`);
      expect(set.atMs - joined).toBeLessThanOrEqual(AGONES_LABEL_INTERVAL_MS + 500);
      // never two label updates closer than the rate limit (an update sends its changed keys together:
      // calls less than 200 ms apart are one update)
      const updates: number[] = [];
      let lastCall = -Infinity;
      for (const l of fake.named('setLabel')) {
        if (l.atMs - lastCall >= 200) updates.push(l.atMs);
        lastCall = l.atMs;
      }
      expect(updates.length).toBeGreaterThanOrEqual(2);
      for (const g of gaps(updates)) expect(g).toBeGreaterThanOrEqual(AGONES_LABEL_INTERVAL_MS - 100);
    } finally {
      c.close();
    }
    await waitFor(() => fake.labels.get(AGONES_LABELS.players) === '0', AGONES_LABEL_INTERVAL_MS + 3000, 'players label back to 0');
    const m = await scrapeMetrics(srv!);
    expect(promValue(m.samples, 'tickwire_agones_health_pings_total', {})).toBeGreaterThanOrEqual(6);
    expect(promValue(m.samples, 'tickwire_agones_label_updates_total', {})).toBeGreaterThanOrEqual(4);
  }, 20_000);

  it('a broken health stream is noticed, logged as JSON, counted, and a new one carries the pings', async () => {
    const streams0 = fake.named('health').length;
    const broken = Date.now();
    expect(fake.failHealth()).toBe(true);
    await waitFor(() => logs.lines.some((l) => l.msg.startsWith('agones: health stream failed')), 3000, 'the failure logged');
    const line = logs.lines.find((l) => l.msg.startsWith('agones: health stream failed'))!;
    expect(line.level).toBe(40);
    expect(line.code).toBe(14); // UNAVAILABLE, as the sidecar sent it
    expect(String(line.err)).toContain('health stream broken');
    await waitFor(() => fake.named('health').length > streams0, 3000, 'a new health stream');
    const reopened = fake.named('health').at(-1)!.atMs;
    await waitFor(() => fake.named('ping').some((p) => p.atMs > reopened + HEALTH_MS), 3000, 'pings on the new stream');
    console.log(`agones: health stream broken -> logged ${line.time - broken} ms, new stream ${reopened - broken} ms later`);
    expect(reopened - broken).toBeLessThanOrEqual(HEALTH_MS * 2 + 500);
    const m = await scrapeMetrics(srv!);
    expect(promValue(m.samples, 'tickwire_agones_stream_failures_total', { stream: 'health' })).toBe(1);
  }, 10_000);

  it('a broken watch is watched again; Allocated is logged and exposed', async () => {
    const watches0 = fake.named('watchGameServer').length;
    expect(fake.failWatch()).toBeGreaterThan(0);
    await waitFor(() => fake.named('watchGameServer').length > watches0, 4000, 'the watch again');
    expect(logs.lines.find((l) => l.msg.startsWith('agones: GameServer watch failed'))).toMatchObject({ level: 40, code: 14 });
    fake.setState('Allocated');
    await waitFor(() => srv!.agones.state === 'Allocated', 3000, 'Allocated seen');
    expect(log('agones: GameServer Allocated')).toMatchObject({ level: 30, state: 'Allocated', previous: 'Ready', gameServer: 'tickwire-test-gs' });
    const m = await scrapeMetrics(srv!);
    expect(promValue(m.samples, 'tickwire_agones_state', { state: 'Allocated' })).toBe(1);
    expect(promValue(m.samples, 'tickwire_agones_state', { state: 'Ready' })).toBe(0);
    expect(promValue(m.samples, 'tickwire_agones_stream_failures_total', { stream: 'watch' })).toBe(1);
    expect(srv!.fleet.draining).toBe(false);
  }, 10_000);

  it('Shutdown from the watch drains; the drain ends, the server stops, then Shutdown() is called last', async () => {
    const c = await connectClient(srv!, { room: 'agones-room' });
    expect(c.state).toBe('active');
    const asked = Date.now();
    fake.setState('Shutdown');
    await waitFor(() => srv!.fleet.draining, 3000, 'the drain');
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(503);
    expect(log('draining: no new players; stopping when the rooms empty or the drain limit passes')).toMatchObject({ reason: 'Agones set the GameServer to Shutdown' });
    // the match goes on while a player is there
    await new Promise((r) => setTimeout(r, 1500));
    expect(srv!.state).toBe('running');
    expect(fake.named('shutdown')).toHaveLength(0);
    const left = Date.now();
    c.close();
    await waitFor(() => srv!.state === 'stopped', 8000, 'the server stopped after the drain');
    const shutdown = fake.named('shutdown');
    expect(shutdown).toHaveLength(1);
    // last: nothing after it, and the server no longer listened when it came
    expect(fake.calls.at(-1)!.name).toBe('shutdown');
    expect(listeningAtShutdown).toBe(false);
    const stopped = log('tickwire stopped')!;
    expect(shutdown[0].atMs).toBeLessThanOrEqual(stopped.time);
    const drained = log('draining: no new players; stopping when the rooms empty or the drain limit passes')!;
    console.log(`agones: Shutdown state -> drain ${drained.time - asked} ms; last player left -> Shutdown() ${shutdown[0].atMs - left} ms`);
    await new Promise((r) => setTimeout(r, HEALTH_MS * 2));
    expect(fake.calls.at(-1)!.name).toBe('shutdown');
  }, 20_000);
});

describe('Agones lifecycle, server process', () => {
  let fake: FakeAgones;
  let sp: ServerProcess | undefined;
  beforeAll(async () => {
    fake = await FakeAgones.start();
  });
  afterAll(async () => {
    await sp?.stop(3000);
    fake?.close();
  });

  it('start, a broken health stream, POST /admin/drain, exit: Ready after listening, Shutdown() last, then exit 0', async () => {
    const t0 = Date.now();
    sp = await ServerProcess.start({
      root, webrtc: false, npcs: 5, roomCapacity: 8,
      env: { TICKWIRE_AGONES: '1', AGONES_SDK_GRPC_PORT: String(fake.port), TICKWIRE_AGONES_HEALTH_MS: String(HEALTH_MS), TICKWIRE_ADMIN_TOKEN: ADMIN, TICKWIRE_DRAIN_MS: '5000', LOG_LEVEL: 'info' },
    });
    let exitAt = 0;
    sp.child.once('exit', () => (exitAt = Date.now()));
    const lines = (): LogLine[] => sp!.output.flatMap((l) => {
      try {
        return [JSON.parse(l) as LogLine];
      } catch {
        return [];
      }
    });
    await waitFor(() => fake.named('ready').length === 1, 10_000, 'Ready');
    const listening = lines().find((l) => l.msg === 'tickwire listening')!;
    expect(listening).toBeDefined();
    expect(fake.named('ready')[0].atMs).toBeGreaterThanOrEqual(listening.time);
    await waitFor(() => fake.named('ping').length >= 3, 5000, 'health pings');
    expect(fake.failHealth()).toBe(true);
    await waitFor(() => lines().some((l) => l.msg.startsWith('agones: health stream failed')), 3000, 'the failure in the process log');
    expect(lines().find((l) => l.msg.startsWith('agones: health stream failed'))).toMatchObject({ level: 40, service: 'tickwire', code: 14 });
    await waitFor(() => fake.named('health').length === 2, 3000, 'a new health stream');
    const metrics = await (await fetch(`${sp.url}/metrics`)).text();
    expect(metrics).toMatch(/^tickwire_agones_stream_failures_total\{stream="health"\} 1$/m);
    const drainAt = Date.now();
    const res = await fetch(`${sp.url}/admin/drain`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: '{"reason":"agones test"}' });
    expect(res.status).toBe(202);
    await waitFor(() => sp!.exited, 8000, 'the process to exit');
    expect(sp.exitCode).toBe(0);
    const shutdown = fake.named('shutdown');
    expect(shutdown).toHaveLength(1);
    expect(fake.calls.at(-1)!.name).toBe('shutdown');
    expect(exitAt).toBeGreaterThanOrEqual(shutdown[0].atMs);
    const order = fake.calls.map((c) => c.name).filter((n, i, a) => n !== a[i - 1]);
    expect(order[0]).toBe('ready');
    expect(order.at(-1)).toBe('shutdown');
    console.log(`agones process: spawn -> Ready ${fake.named('ready')[0].atMs - t0} ms (listening -> Ready ${fake.named('ready')[0].atMs - listening.time} ms); POST /admin/drain (no players) -> Shutdown() ${shutdown[0].atMs - drainAt} ms -> exit ${exitAt - shutdown[0].atMs} ms; calls ${order.join(' > ')}`);
  }, 60_000);
});

describe('deploy/agones/fleet.yaml (the example manifest; not applied anywhere)', () => {
  const text = readFileSync(join(root, 'deploy/agones/fleet.yaml'), 'utf8');
  /** The container's `- name: X / value: Y` environment (valueFrom entries left out). */
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^\s*- name: ([A-Z_]+)\n\s*value: "?([^"\n]*)"?$/gm)) env[m[1]] = m[2].trim();
  const ports = [...text.matchAll(/^\s*- name: ([a-z0-9-]+)\n\s*portPolicy: (\w+)\n\s*containerPort: (\d+)\n\s*hostPort: (\d+)\n\s*protocol: (TCP|UDP)$/gm)].map((m) => ({ name: m[1], policy: m[2], container: Number(m[3]), host: Number(m[4]), protocol: m[5] }));

  it('its environment is a valid config with the Agones lifecycle on, and its ports and grace period agree with it', () => {
    expect(env.TICKWIRE_AGONES).toBe('1');
    expect(env.TICKWIRE_REDIS_URL).toMatch(/^redis:\/\//);
    expect(text).toMatch(/name: TICKWIRE_PUBLIC_URL\n\s*value: http:\/\/\$\(NODE_IP\):7700/);
    const cfg = loadServerConfig({ ...env, TICKWIRE_PUBLIC_URL: 'http://10.0.0.1:7700' });
    expect(cfg.agones).toBe(true);
    const tcp = ports.filter((p) => p.protocol === 'TCP');
    expect(tcp.map((p) => p.container).sort()).toEqual([cfg.port, cfg.signalingPort].sort());
    const udp = ports.filter((p) => p.protocol === 'UDP').map((p) => p.container).sort((a, b) => a - b);
    const range = Array.from({ length: cfg.udpPortMax - cfg.udpPortMin + 1 }, (_, i) => cfg.udpPortMin + i);
    expect(udp).toEqual(range);
    for (const p of ports) expect(p.host, `${p.name}: Static, host port = container port (the URLs handed out are the container's)`).toBe(p.container);
    const grace = Number(/terminationGracePeriodSeconds: (\d+)/.exec(text)?.[1]);
    expect(grace * 1000).toBeGreaterThan(cfg.drainMs + cfg.shutdownMs);
    const period = Number(/periodSeconds: (\d+)/.exec(text)?.[1]);
    expect(cfg.agonesHealthMs).toBeLessThan(period * 1000);
  });
});
