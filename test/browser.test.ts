// The canvas client in headless Chromium (Debian's chromium, driven by playwright-core): two pages
// join one room, one moves and the other sees it move, the net graph names the transport (WebRTC,
// or the WebSocket when the URL forces it), and the page reconnects after the server goes away.
// Screenshots go to test/artifacts/.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClient } from '../client/build.ts';
import type { TickwireServer } from '../server/server.ts';
import { startTestServer } from './helpers/server.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let browser: Browser;
let clientDir: string;
const servers: TickwireServer[] = [];

beforeAll(async () => {
  // A private bundle, so a parallel `npm run build:client` cannot swap files under the server.
  clientDir = await mkdtemp(join(tmpdir(), 'tickwire-client-'));
  await buildClient(clientDir);
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: LAUNCH_ARGS, timeout: 15_000 });
}, 30_000);

afterAll(async () => {
  await browser?.close();
  for (const s of servers) await s.stop();
  await rm(clientDir, { recursive: true, force: true });
});

async function server(o: { webrtc: boolean }): Promise<TickwireServer> {
  const srv = await startTestServer({ webrtc: o.webrtc, clientDir });
  servers.push(srv);
  return srv;
}

/**
 * A TCP relay on a fixed local port to whichever server is current, so a page keeps its address
 * while the server behind it is replaced (a restarted server could not rebind the same port while
 * its old connections sit in TIME_WAIT).
 */
async function relay(): Promise<{ port: number; target: number; close(): Promise<void>; cut(): void }> {
  const sockets = new Set<Socket>();
  const state = {
    port: 0, target: 0, close: async (): Promise<void> => undefined,
    /** Ends every relayed connection (the page's kept-alive HTTP ones too), as a server process that exits does. */
    cut: (): void => {
      for (const s of sockets) s.destroy();
    },
  };
  const srv: Server = createServer((down) => {
    const up = connect(state.target, '127.0.0.1');
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        down.destroy();
        up.destroy();
      });
    }
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  state.port = (srv.address() as { port: number }).port;
  state.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      srv.close(() => r());
    });
  return state;
}

/** Opens the client in a fresh browser context (its own window, so both pages animate). */
async function open(url: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 960, height: 640 } });
  const page = await ctx.newPage();
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
  await page.goto(url, { timeout: 10_000 });
  return page;
}

/** Polls `fn` in the page until it returns a truthy value (bounded). */
async function until<T>(page: Page, fn: () => T, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await page.evaluate(fn);
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Api {
  phase: string;
  eid: number;
  transport: string;
  entityPosition(eid: number): { x: number; y: number } | null;
}
declare const tickwire: Api;

/** Page A walks for 0.9 s (away from the nearer wall); returns how far page B saw A's player move that way. */
async function walkAndWatch(a: Page, b: Page): Promise<number> {
  const eid = await a.evaluate(() => tickwire.eid);
  expect(eid).toBeGreaterThanOrEqual(0);
  await b.evaluate((e) => ((globalThis as unknown as { __eid: number }).__eid = e), eid);
  const before = await until(b, () => tickwire.entityPosition((globalThis as unknown as { __eid: number }).__eid), 'the other player on page B');
  const self = await until(a, () => tickwire.entityPosition(tickwire.eid), 'own player on page A');
  const key = self.x < 1024 ? 'KeyD' : 'KeyA';
  const sign = key === 'KeyD' ? 1 : -1;
  await a.bringToFront();
  await a.locator('#view').click({ position: { x: 480, y: 40 } }); // clear of the panels and the chat box
  await a.keyboard.down(key);
  try {
    await new Promise((r) => setTimeout(r, 900));
  } finally {
    await a.keyboard.up(key);
  }
  const deadline = Date.now() + 5000;
  let moved = 0;
  while (Date.now() < deadline) {
    const p = await b.evaluate(() => tickwire.entityPosition((globalThis as unknown as { __eid: number }).__eid));
    if (p) moved = sign * (p.x - before.x);
    if (moved > 100) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return moved;
}

describe('browser client (headless Chromium)', () => {
  it('two pages join one room over WebRTC; one moves, the other sees it; the net graph says WebRTC', async () => {
    const srv = await server({ webrtc: true });
    const url = `http://127.0.0.1:${srv.http!.port}/?room=browser-rtc`;
    const a = await open(`${url}&name=alice`);
    const b = await open(`${url}&name=bob`);
    for (const p of [a, b]) {
      await until(p, () => tickwire.phase === 'playing', 'welcome');
      await until(p, () => tickwire.transport === 'webrtc', 'the WebRTC channel', 15_000);
    }
    const moved = await walkAndWatch(a, b);
    expect(moved).toBeGreaterThan(100); // 0.9 s at 200 units/s
    for (const p of [a, b]) {
      await until(p, () => document.querySelector('#netgraph pre')?.textContent?.includes('WebRTC') ?? false, 'net graph update');
      expect(await p.locator('#netgraph').getAttribute('data-transport')).toBe('webrtc');
    }
    expect(srv.sessions.size).toBe(2);
    await b.screenshot({ path: join(ARTIFACTS, 'browser-webrtc.png') });
    await a.context().close();
    await b.context().close();
  }, 45_000);

  it('forced WebSocket-only (?transport=ws): plays over the WebSocket, and reconnects after the server goes away', async () => {
    const srv = await server({ webrtc: true });
    const via = await relay();
    via.target = srv.http!.port;
    const url = `http://127.0.0.1:${via.port}/?room=browser-ws&transport=ws`;
    const a = await open(`${url}&name=carol`);
    const b = await open(`${url}&name=dave`);
    for (const p of [a, b]) await until(p, () => tickwire.phase === 'playing', 'welcome');
    const moved = await walkAndWatch(a, b);
    expect(moved).toBeGreaterThan(100);
    for (const p of [a, b]) {
      await until(p, () => document.querySelector('#netgraph pre')?.textContent?.includes('WebSocket') ?? false, 'net graph update');
      expect(await p.evaluate(() => tickwire.transport)).toBe('ws');
    }
    expect(srv.rtc?.connectionCount() ?? 0).toBe(0);
    await a.screenshot({ path: join(ARTIFACTS, 'browser-ws.png') });

    // The server goes away: a clear message, then a reconnect once it is back.
    await srv.stop();
    via.cut();
    servers.splice(servers.indexOf(srv), 1);
    const message = await until(a, () => (tickwire.phase === 'waiting' ? document.getElementById('overlay')?.textContent : ''), 'the reconnect message');
    expect(message).toMatch(/server went away.*Reconnecting in/i);
    await a.screenshot({ path: join(ARTIFACTS, 'browser-server-gone.png') });
    via.target = (await server({ webrtc: false })).http!.port;
    await until(a, () => tickwire.phase === 'playing', 'the reconnect', 20_000);
    expect(await a.evaluate(() => document.getElementById('overlay')?.style.display)).toBe('none');
    // it went back to the matchmaker (the one server answers it too) and says so
    await until(a, () => document.querySelector('#netgraph pre')?.textContent?.includes('rejoins 1') ?? false, 'the rejoin in the net graph');
    expect(await a.evaluate(() => document.getElementById('feed')?.textContent ?? '')).toMatch(/rejoined through the matchmaker/);
    await a.context().close();
    await b.context().close();
    await via.close();
  }, 50_000);
});
