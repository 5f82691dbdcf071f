// The operator's side against a real server: kicks and room closes through the session life cycle
// (bye codes, sessions and rooms gone); the admin routes' gate (404 while off, 401 without the
// token) and hostile requests (bad JSON, huge bodies, wrong methods); and the monitor page in
// headless Chromium (Debian's chromium, driven by playwright-core): log in, see rooms and players
// with measured RTT and bytes, open a room's entity table, kick a player, close a room. Screenshot:
// test/artifacts/monitor.png, and the path in MONITOR_SCREENSHOT when set (the README's image:
// `MONITOR_SCREENSHOT=docs/images/monitor.png npx vitest run test/monitor.test.ts`).
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { request } from 'node:http';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from '../netcode/connection.ts';
import type { TickwireServer } from '../server/server.ts';
import type { AdminEntitiesReply, AdminRoomsReply } from '../shared/protocol/admin.ts';
import { CloseCode } from '../shared/protocol/ids.ts';
import { repoFile } from './helpers/docs.ts';
import { monitorScene, type MonitorScene, type ScenePlayer } from './helpers/monitor-scene.ts';
import { connectClient, startTestServer, urlOf, waitFor } from './helpers/server.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TOKEN = 'monitor-test-token-0123456789abcdef';

const servers: TickwireServer[] = [];
const clients: Connection[] = [];
let browser: Browser | undefined;
let scene: MonitorScene | undefined;

afterAll(async () => {
  await browser?.close();
  await scene?.stop();
  for (const c of clients) c.close();
  for (const s of servers) await s.stop();
});

/** A client that records the bye code it ends with. */
async function player(srv: TickwireServer, name: string, room: string): Promise<ScenePlayer> {
  const p: ScenePlayer = { name, c: undefined as unknown as Connection, closed: undefined };
  p.c = await connectClient(srv, { name, room }, { onClose: (reason, code) => (p.closed = { code, reason }) });
  clients.push(p.c);
  return p;
}

/** One raw HTTP request (fetch cannot send some of these), answered status and body. */
function raw(srv: TickwireServer, o: { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port: srv.http!.port, method: o.method, path: o.path, headers: o.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

describe('operator actions', () => {
  it('a kick ends one session with bye Kicked; closing a room ends all of its sessions with bye RoomClosed and disposes it', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const a = await player(srv, 'a', 'one');
    const b = await player(srv, 'b', 'one');
    const others = [await player(srv, 'c', 'two'), await player(srv, 'd', 'two'), await player(srv, 'e', 'two')];
    expect(srv.sessions.size).toBe(5);

    expect(srv.inbound.kick(a.c.welcome!.sessionId, 'testing kicks')).toBe(true);
    expect(srv.inbound.kick(9999, 'nobody')).toBe(false);
    await waitFor(() => a.closed !== undefined, 3000, 'the kicked client hears bye');
    expect(a.closed).toEqual({ code: CloseCode.Kicked, reason: 'testing kicks' });
    expect(srv.sessions.size).toBe(4);
    expect(srv.rooms.get('one')?.players.length).toBe(1);
    expect(b.closed).toBeUndefined();

    expect(srv.inbound.closeRoom('two', 'closing two')).toBe(3);
    expect(srv.inbound.closeRoom('no-such-room', 'x')).toBe(-1);
    await waitFor(() => others.every((o) => o.closed !== undefined), 3000, 'every client of the closed room hears bye');
    for (const o of others) expect(o.closed).toEqual({ code: CloseCode.RoomClosed, reason: 'closing two' });
    expect(srv.rooms.get('two')).toBeUndefined();
    expect(srv.rooms.list.map((r) => r.name)).toEqual(['one']);
    expect(srv.sessions.size).toBe(1);
    expect(b.closed).toBeUndefined();
    expect(b.c.state).toBe('active');
  });
});

describe('admin routes', () => {
  it('do not exist without an admin token: 404 for the page, its script and every admin route', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    for (const [method, path] of [['GET', '/monitor'], ['GET', '/monitor/monitor.js'], ['GET', '/admin/rooms'], ['GET', '/admin/entities?room=x'], ['POST', '/admin/kick'], ['POST', '/admin/close-room']]) {
      const r = await raw(srv, { method, path, headers: bearer(''), body: method === 'POST' ? '{}' : undefined });
      expect(r.status, `${method} ${path}`).toBe(404);
    }
    expect(srv.stats.adminUnauthorized).toBe(0);
  });

  it('need the bearer token (401 otherwise, before any body is read) and survive hostile requests', async () => {
    const srv = await startTestServer({ adminToken: TOKEN });
    servers.push(srv);
    const p = await player(srv, 'pat', 'gate');
    const wrong = [{}, bearer('not-the-token-0123456789abcdef'), bearer(TOKEN.slice(0, -1)), bearer(`${TOKEN}x`), { authorization: TOKEN }, { authorization: `Basic ${TOKEN}` }];
    for (const headers of wrong) {
      for (const [method, path] of [['GET', '/admin/rooms'], ['GET', '/admin/entities?room=gate'], ['POST', '/admin/kick'], ['POST', '/admin/close-room']]) {
        const body = method === 'POST' ? JSON.stringify({ sessionId: p.c.welcome!.sessionId, room: 'gate' }) : undefined;
        expect((await raw(srv, { method, path, headers, body })).status, `${method} ${path} with ${JSON.stringify(headers)}`).toBe(401);
      }
    }
    expect(srv.stats.adminUnauthorized).toBe(wrong.length * 4);
    expect(p.c.state).toBe('active');
    // The page itself needs no header (a browser opens it) and is served with a strict policy.
    const page = await fetch(`${urlOf(srv)}/monitor`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await page.text()).toContain('monitor/monitor.js');
    expect((await fetch(`${urlOf(srv)}/monitor/monitor.js`)).headers.get('content-type')).toContain('javascript');

    const ok = bearer(TOKEN);
    const json = { ...ok, 'content-type': 'application/json' };
    const cases: [string, { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer }, number][] = [
      ['a body that is not JSON', { method: 'POST', path: '/admin/kick', headers: json, body: '{"sessionId":' }, 400],
      ['an empty body', { method: 'POST', path: '/admin/kick', headers: json }, 400],
      ['JSON of the wrong shape', { method: 'POST', path: '/admin/kick', headers: json, body: '[1,2,3]' }, 400],
      ['a sessionId that is not an integer', { method: 'POST', path: '/admin/kick', headers: json, body: '{"sessionId":"1"}' }, 400],
      ['a reason that is not a string', { method: 'POST', path: '/admin/kick', headers: json, body: `{"sessionId":${p.c.welcome!.sessionId},"reason":{}}` }, 400],
      ['an unknown session', { method: 'POST', path: '/admin/kick', headers: json, body: '{"sessionId":424242}' }, 404],
      ['a body over the cap (content-length)', { method: 'POST', path: '/admin/kick', headers: json, body: `{"x":"${'a'.repeat(20_000)}"}` }, 413],
      ['a body over the cap (chunked)', { method: 'POST', path: '/admin/close-room', headers: { ...json, 'transfer-encoding': 'chunked' }, body: `{"x":"${'a'.repeat(40_000)}"}` }, 413],
      ['deeply nested JSON', { method: 'POST', path: '/admin/close-room', headers: json, body: '['.repeat(8000) + ']'.repeat(8000) }, 400],
      ['invalid UTF-8', { method: 'POST', path: '/admin/close-room', headers: json, body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }, 400],
      ['an unknown room', { method: 'POST', path: '/admin/close-room', headers: json, body: '{"room":"nowhere"}' }, 404],
      ['entities of an unknown room', { method: 'GET', path: '/admin/entities?room=nowhere', headers: ok }, 404],
      ['entities without a room', { method: 'GET', path: '/admin/entities', headers: ok }, 400],
      ['an entity limit out of range', { method: 'GET', path: '/admin/entities?room=gate&limit=1e9', headers: ok }, 400],
      ['a GET on a POST route', { method: 'GET', path: '/admin/kick', headers: ok }, 404],
      ['a PUT', { method: 'PUT', path: '/admin/kick', headers: json, body: '{}' }, 405],
      ['a CORS preflight', { method: 'OPTIONS', path: '/admin/kick', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } }, 405],
    ];
    for (const [what, req, status] of cases) {
      const r = await raw(srv, req);
      expect(r.status, what).toBe(status);
      expect(r.body.length, what).toBeLessThan(1000);
    }
    // A client that sends half a body and goes away is never answered, and the server carries on.
    const half = request({ host: '127.0.0.1', port: srv.http!.port, method: 'POST', path: '/admin/kick', headers: { ...json, 'content-length': '1000' } });
    half.on('error', () => undefined);
    half.write('{"sessionId":');
    await new Promise((r) => setTimeout(r, 100));
    half.destroy();
    const rooms = (await (await fetch(`${urlOf(srv)}/admin/rooms`, { headers: ok })).json()) as AdminRoomsReply;
    expect(rooms.rooms.map((r) => r.name)).toEqual(['gate']);
    expect(p.c.state).toBe('active');
  });

  it('the README documents the fields GET /admin/rooms returns', async () => {
    const srv = await startTestServer({ adminToken: TOKEN });
    servers.push(srv);
    const p = await player(srv, 'doc', 'docs');
    await waitFor(() => (srv.rooms.get('docs')?.players[0]?.link.rttSamples ?? 0) > 0, 3000, 'a round-trip sample');
    const body = (await (await fetch(`${urlOf(srv)}/admin/rooms`, { headers: bearer(TOKEN) })).json()) as AdminRoomsReply;
    const line = repoFile('README.md').split('\n').find((l) => l.startsWith('- `GET /admin/rooms`:')) as string;
    expect(line).toBeDefined();
    const documented = fieldPaths(JSON.parse(shapeToJson(/`(\{.*\})`/.exec(line)?.[1] ?? '{}')) as Record<string, unknown>);
    expect(documented.sort()).toEqual(fieldPaths(body as unknown as Record<string, unknown>).sort());
    expect(p.c.state).toBe('active');
  });
});

/** The README's shape `{"a","b":{"c"},"d":[{"e"}]}` as JSON with null leaves. */
function shapeToJson(shape: string): string {
  return shape.replace(/"([a-zA-Z]+)"(?=\s*[,}\]])/g, '"$1":null');
}

/** Dotted paths of every field of a JSON value (an array's first element stands for all; `[]` marks it). */
function fieldPaths(o: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) => {
    const here = prefix + k;
    if (Array.isArray(v)) return [here, ...(v[0] && typeof v[0] === 'object' ? fieldPaths(v[0] as Record<string, unknown>, `${here}[].`) : [])];
    if (v && typeof v === 'object') return [here, ...fieldPaths(v as Record<string, unknown>, `${here}.`)];
    return [here];
  });
}

describe('monitor page (headless Chromium)', () => {
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: LAUNCH_ARGS, timeout: 15_000 });
    await mkdir(ARTIFACTS, { recursive: true });
  }, 30_000);

  it('shows rooms and players with measured RTT and bytes, a room\'s entities; kicks a player and closes a room', async () => {
    scene = await monitorScene({ adminToken: TOKEN });
    const { srv, arena, duel, hideout } = scene;
    const url = urlOf(srv);
    // Wait until the server has measured every player and sampled byte rates twice.
    await waitFor(() => srv.rooms.list.every((r) => r.players.every((p) => p.link.rttSamples > 5 && p.link.settled > 0)), 10_000, 'round trips and settled snapshots');
    await waitFor(() => [...srv.sessions.values()].every((s) => s.bytesInPerSec > 0 && s.bytesOutPerSec > 0), 5000, 'byte rates');

    const ctx = await browser!.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    // Resource errors are expected (the favicon is 404; the wrong token below is 401); anything else is a bug.
    page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && errors.push(m.text()));
    const prompts: string[] = [];
    page.on('dialog', (d) => {
      prompts.push(d.message());
      void d.accept(prompts.length === 1 ? 'kicked by the monitor test' : 'closed by the monitor test');
    });
    await page.goto(`${url}/monitor`, { timeout: 10_000 });

    // A wrong token is refused and asked for again; the right one opens the monitor.
    await page.fill('#token', 'wrong-token-0123456789abcdef');
    await page.click('#login button[type=submit]');
    await page.waitForFunction(() => document.getElementById('login-error')?.textContent?.includes('refused'), undefined, { timeout: 5000 });
    await page.fill('#token', TOKEN);
    await page.click('#login button[type=submit]');
    await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) >= 2, undefined, { timeout: 10_000 });
    expect(await page.evaluate(() => sessionStorage.getItem('tickwire.adminToken'))).toBe(TOKEN);
    expect(page.url()).not.toContain(TOKEN);

    // Rooms: all three, with who made them and whether they are listed.
    const roomRow = (name: string) => page.locator(`#rooms tbody tr[data-room="${name}"]`);
    for (const name of [arena, duel, hideout]) await expect.poll(() => roomRow(name).count()).toBe(1);
    expect(await roomRow(arena).innerText()).toMatch(/\bserver\b/);
    expect(await roomRow(duel).innerText()).toContain('eve (#');
    expect(await roomRow(duel).innerText()).toMatch(/\blisted\b/);
    expect(await roomRow(hideout).innerText()).toMatch(/\bunlisted\b/);

    // Players: every session, with a measured RTT and bytes per second both ways.
    const rows = await page.$$eval('#players tbody tr[data-session]', (trs) => trs.map((tr) => Array.from((tr as HTMLTableRowElement).cells, (td) => td.textContent ?? '')));
    expect(rows.length).toBe(srv.sessions.size);
    for (const cells of rows) {
      const [, , name, transport, state, rtt, , , inRate, outRate] = cells;
      expect(state, name).toBe('active');
      expect(['ws', 'webrtc'], name).toContain(transport);
      expect(parseFloat(rtt), `${name} RTT`).toBeGreaterThan(0);
      expect(parseFloat(inRate), `${name} bytes in/s`).toBeGreaterThan(0);
      expect(parseFloat(outRate), `${name} bytes out/s`).toBeGreaterThan(0);
    }
    expect(rows.map((c) => c[3])).toContain('webrtc');
    // The slow client's RTT is its link's (40 ms each way).
    const slow = rows.find((c) => c[2] === 'slow') as string[];
    expect(parseFloat(slow[5])).toBeGreaterThan(70);

    // The entity table of the busy room: every networked field, the player entities marked.
    await roomRow(arena).locator('button[data-action="entities"]').click();
    await page.waitForFunction(() => (document.querySelector('#entities tbody')?.children.length ?? 0) > 0, undefined, { timeout: 5000 });
    const entities = (await (await fetch(`${url}/admin/entities?room=${arena}`, { headers: bearer(TOKEN) })).json()) as AdminEntitiesReply;
    const head = await page.$$eval('#entities thead th', (ths) => ths.map((th) => th.textContent));
    expect(head).toEqual(['id', 'player', ...entities.columns]);
    expect(entities.count).toBeGreaterThan(40); // 40 NPCs and the players
    await page.waitForFunction(() => /\b\d+ entities/.test(document.getElementById('entities-count')?.textContent ?? ''), undefined, { timeout: 5000 });
    const shown = Number(/(\d+) entities/.exec((await page.textContent('#entities-count')) ?? '')?.[1]);
    expect(shown).toBeGreaterThan(40);
    await expect.poll(() => page.locator('#entities tbody tr').count()).toBe(Math.min(200, shown));
    expect(await page.locator('#entities tbody tr', { hasText: `#${scene.players[arena][0].c.welcome!.sessionId}` }).count()).toBe(1);

    await page.screenshot({ path: join(ARTIFACTS, 'monitor.png'), fullPage: true });
    const docsShot = process.env.MONITOR_SCREENSHOT;
    if (docsShot) {
      const path = resolve(import.meta.dirname, '..', docsShot);
      await mkdir(dirname(path), { recursive: true });
      await page.screenshot({ path });
    }

    // Kick: the player gets bye Kicked with the reason typed into the prompt; the session is gone.
    const victim = scene.players[arena][1];
    const before = srv.sessions.size;
    await page.locator(`#players tbody tr[data-session="${victim.c.welcome!.sessionId}"] button[data-action="kick"]`).click();
    await waitFor(() => victim.closed !== undefined, 5000, 'the kicked client hears bye');
    expect(victim.closed).toEqual({ code: CloseCode.Kicked, reason: 'kicked by the monitor test' });
    await waitFor(() => srv.sessions.size === before - 1, 3000, 'the session count drops');
    await expect.poll(() => page.locator(`#players tbody tr[data-session="${victim.c.welcome!.sessionId}"]`).count()).toBe(0);

    // Close the duel room: each of its clients gets bye RoomClosed, and the room leaves GET /rooms.
    const listed = async (): Promise<string[]> => ((await (await fetch(`${url}/rooms`)).json()) as { rooms: { name: string }[] }).rooms.map((r) => r.name);
    expect(await listed()).toEqual([arena, duel]);
    await roomRow(duel).locator('button[data-action="close"]').click();
    for (const p of scene.players[duel]) await waitFor(() => p.closed !== undefined, 5000, `${p.name} hears bye`);
    for (const p of scene.players[duel]) expect(p.closed).toEqual({ code: CloseCode.RoomClosed, reason: 'closed by the monitor test' });
    expect(srv.rooms.get(duel)).toBeUndefined();
    expect(await listed()).toEqual([arena]);
    await expect.poll(() => roomRow(duel).count()).toBe(0);
    expect(scene.players[hideout][0].c.state).toBe('active');
    expect(prompts).toHaveLength(2);
    for (const p of scene.players[arena]) if (p !== victim) expect(p.c.state).toBe('active');
    expect(errors).toEqual([]);
    await ctx.close();
  }, 60_000);
});
