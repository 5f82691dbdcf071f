// Every game in the browser client (headless Chromium): orbit (held keys move the player in the
// server's room state, and a second page sees it move), the demo tag (two pages: names, chat, game
// events), a game kept outside the registry and bundled with the build option (lantern, whose
// position fields are Lamp.east and Lamp.south), and what the page says when it lacks the server's
// game or has another version of it. Screenshots go to test/artifacts/.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClient } from '../client/build.ts';
import { orbit } from '../games/orbit.ts';
import { tag } from '../games/tag.ts';
import type { ServerConfig } from '../server/config.ts';
import type { Room } from '../server/rooms.ts';
import type { TickwireServer } from '../server/server.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import lantern from './fixtures/lantern-game.ts';
import { launchChromium, openPage, untilIn } from './helpers/browser.ts';
import { startTestServer } from './helpers/server.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const LANTERN_MODULE = join(import.meta.dirname, 'fixtures/lantern-game.ts');

let browser: Browser;
/** The plain bundle (games/index.ts) and one built with the lantern module. */
let plainDir: string;
let lanternDir: string;
const servers: TickwireServer[] = [];

beforeAll(async () => {
  plainDir = await mkdtemp(join(tmpdir(), 'tickwire-client-'));
  lanternDir = await mkdtemp(join(tmpdir(), 'tickwire-client-lantern-'));
  await buildClient(plainDir);
  await buildClient(lanternDir, { games: [LANTERN_MODULE] });
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const s of servers) await s.stop();
  for (const d of [plainDir, lanternDir]) if (d) await rm(d, { recursive: true, force: true });
});

async function server(game: AnyGame, clientDir: string, overrides: Partial<ServerConfig> = {}): Promise<TickwireServer> {
  const srv = await startTestServer({ clientDir, ...overrides }, { game });
  servers.push(srv);
  return srv;
}

interface Api {
  phase: string;
  game: string | undefined;
  error: string;
  eid: number;
  entityPosition(eid: number): { x: number; y: number } | null;
  names(): Record<number, string>;
}
declare const tickwire: Api;

const open = (url: string): Promise<Page> => openPage(browser, url);
const playing = (p: Page): Promise<boolean> => untilIn(p, () => tickwire.phase === 'playing', undefined, 'welcome', 15_000);
const textOf = (p: Page, selector: string): Promise<string> => p.evaluate((s) => document.querySelector(s)?.textContent ?? '', selector);

/**
 * Holds `key` on page `p` (after clicking the canvas clear of the panels, so it has the focus) until
 * `moved()` (the server's displacement of the player) passes `min`, at least `minMs` and at most
 * 10 s; then releases it and waits for the player to stop. Returns the displacement and how long the
 * key was down. Held until it moved rather than for a fixed time: on a loaded machine the page may
 * sample fewer ticks per second, and the assertion is that held keys move the player, at no more
 * than the game's speed.
 */
async function holdUntilMoved(p: Page, key: string, moved: () => number, min: number, minMs = 900): Promise<{ moved: number; heldMs: number }> {
  await p.bringToFront();
  await p.locator('#view').click({ position: { x: 480, y: 40 } });
  const start = Date.now();
  await p.keyboard.down(key);
  try {
    while (Date.now() - start < minMs || (moved() <= min && Date.now() - start < 10_000)) await new Promise((r) => setTimeout(r, 50));
  } finally {
    await p.keyboard.up(key);
  }
  const heldMs = Date.now() - start;
  // Stopped: no change over 300 ms (bounded).
  let last = moved();
  for (let still = 0, i = 0; still < 6 && i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const v = moved();
    still = v === last ? still + 1 : 0;
    last = v;
  }
  return { moved: last, heldMs };
}

/** Polls `read` until it exceeds `min` (bounded); returns the last value. */
async function growsPast(read: () => Promise<number> | number, min: number, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let v = await read();
  while (v <= min && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    v = await read();
  }
  return v;
}

/** Where page `p` draws entity `eid`. */
const seenAt = (p: Page, eid: number): Promise<{ x: number; y: number } | null> => p.evaluate((e) => tickwire.entityPosition(e), eid);

describe('any game in the browser client', () => {
  it('orbit: the page plays it, held keys move the player on the server, the other page sees it move', async () => {
    const srv = await server(orbit, plainDir);
    const url = `http://127.0.0.1:${srv.http!.port}/?room=orbit-room`;
    const a = await open(`${url}&name=ann`);
    const b = await open(`${url}&name=ben`);
    for (const p of [a, b]) {
      await playing(p);
      expect(await p.evaluate(() => tickwire.game)).toBe('orbit');
    }
    const eid = await a.evaluate(() => tickwire.eid);
    const room = srv.rooms.get('orbit-room') as Room;
    const wrapped = (from: number, to: number): number => (to - from + 1024) % 1024; // orbit wraps at the edges
    const x0 = room.ctx.c.Pos.x[eid];
    const seen0 = await untilIn(b, (e) => tickwire.entityPosition(e), eid, 'ann on page B');
    const { moved, heldMs } = await holdUntilMoved(a, 'KeyD', () => wrapped(x0, room.ctx.c.Pos.x[eid]), 100);
    expect(moved).toBeGreaterThan(100); // at least 0.9 s at 150 units/s
    expect(moved).toBeLessThan(150 * (heldMs / 1000) + 60); // never faster than the game's speed
    const seen = await growsPast(async () => wrapped(seen0.x, (await seenAt(b, eid))?.x ?? seen0.x), 100);
    expect(seen).toBeGreaterThan(100);
    await untilIn(b, () => document.querySelector('#netgraph pre')?.textContent?.includes('transport') ?? false, undefined, 'the net graph');
    await untilIn(b, () => document.getElementById('players')?.textContent?.includes('ann') ?? false, undefined, 'ann in the players table');
    await b.screenshot({ path: join(ARTIFACTS, 'browser-orbit.png') });
    await a.context().close();
    await b.context().close();
  }, 60_000);

  it('tag: two pages play; names, chat and game events show on both', async () => {
    // No NPCs: the first to join is "it".
    const srv = await server(tag, plainDir, { clientRoomParams: { npcs: 0 } });
    const url = `http://127.0.0.1:${srv.http!.port}/?room=tag-room`;
    const a = await open(`${url}&name=alice&bot=1`); // plays itself with the game's bot script: it chases
    await playing(a);
    await untilIn(a, () => document.getElementById('feed')?.textContent?.includes('alice is it') ?? false, undefined, '"alice is it" on page A');
    const b = await open(`${url}&name=bob`);
    await playing(b);
    const [aEid, bEid] = [await a.evaluate(() => tickwire.eid), await b.evaluate(() => tickwire.eid)];
    // Names: in the players table and over heads (the names the page draws by entity).
    await untilIn(a, () => document.getElementById('players')?.textContent?.includes('bob') ?? false, undefined, 'bob in A\'s table');
    await untilIn(b, () => document.getElementById('players')?.textContent?.includes('alice') ?? false, undefined, 'alice in B\'s table');
    expect(await a.evaluate(() => tickwire.names())).toEqual({ [aEid]: 'alice', [bEid]: 'bob' });
    expect(await b.evaluate(() => tickwire.names())).toEqual({ [bEid]: 'bob', [aEid]: 'alice' });
    // A game event: alice (it, driven by the bot script) catches bob, who stands still.
    for (const p of [a, b]) await untilIn(p, () => document.getElementById('feed')?.textContent?.includes('alice tagged bob') ?? false, undefined, 'the tag event', 20_000);
    const room = srv.rooms.get('tag-room') as Room;
    expect(room.ctx.c.Tag.it[bEid]).toBe(1);
    await untilIn(b, () => Array.from(document.querySelectorAll('#players tr')).some((r) => r.textContent?.includes('bob') && r.textContent.includes('IT')), undefined, 'bob marked IT');
    // Chat, typed on page B, shows on page A.
    await b.bringToFront();
    await b.locator('#chat-input').fill('hello from bob');
    await b.locator('#chat-input').press('Enter');
    await untilIn(a, () => document.getElementById('feed')?.textContent?.includes('bob: hello from bob') ?? false, undefined, 'the chat line on page A');
    expect(await b.locator('#chat-input').inputValue()).toBe('');
    await a.screenshot({ path: join(ARTIFACTS, 'browser-tag.png') });
    await a.context().close();
    await b.context().close();
  }, 60_000);

  it('a game from outside the registry, bundled with buildClient({ games }): position fields Lamp.east/Lamp.south', async () => {
    const srv = await server(lantern, lanternDir);
    const url = `http://127.0.0.1:${srv.http!.port}/?room=lamps`;
    const a = await open(`${url}&name=lamp-a`);
    const b = await open(`${url}&name=lamp-b`);
    for (const p of [a, b]) {
      await playing(p);
      expect(await p.evaluate(() => tickwire.game)).toBe('lantern');
    }
    const eid = await a.evaluate(() => tickwire.eid);
    const room = srv.rooms.get('lamps') as Room;
    const east0 = room.ctx.c.Lamp.east[eid];
    const seen0 = await untilIn(b, (e) => tickwire.entityPosition(e), eid, 'lamp-a on page B');
    expect(Math.abs(seen0.x - east0)).toBeLessThan(1);
    const { moved, heldMs } = await holdUntilMoved(a, 'KeyD', () => room.ctx.c.Lamp.east[eid] - east0, 100);
    expect(moved).toBeGreaterThan(100); // at least 0.9 s at 160 units/s
    expect(moved).toBeLessThan(160 * (heldMs / 1000) + 60);
    const seen = await growsPast(async () => ((await seenAt(b, eid))?.x ?? seen0.x) - seen0.x, 100);
    expect(seen).toBeGreaterThan(100);
    expect(await b.evaluate(() => tickwire.names())).toMatchObject({ [eid]: 'lamp-a' });
    expect(await textOf(b, '#help')).toContain('arrows or WASD push your lantern');
    await b.screenshot({ path: join(ARTIFACTS, 'browser-lantern.png') });
    await a.context().close();
    await b.context().close();
  }, 60_000);

  it('says so when the page lacks the server\'s game, or has another version of it', async () => {
    const missing = await server(lantern, plainDir);
    const p = await open(`http://127.0.0.1:${missing.http!.port}/`);
    const text = await untilIn(p, () => (tickwire.phase === 'unsupported' ? document.getElementById('overlay')?.textContent : ''), undefined, 'the unsupported message');
    expect(text).toMatch(/runs the game "lantern", which this page does not include \(it has: .*orbit.*\)/);
    expect(text).toContain('npm run build:client -- --game');
    expect(await p.evaluate(() => tickwire.error)).toBe(text);
    await p.context().close();

    const other = await server({ ...orbit, maxEntities: 300 } as AnyGame, plainDir);
    const q = await open(`http://127.0.0.1:${other.http!.port}/`);
    const text2 = await untilIn(q, () => (tickwire.phase === 'unsupported' ? document.getElementById('overlay')?.textContent : ''), undefined, 'the mismatch message');
    expect(text2).toMatch(/runs a different version of the game "orbit" than this page \(config hash \d+ on the server, \d+ here\)/);
    expect(other.sessions.size).toBe(0); // it never tried to join
    await q.context().close();
  }, 40_000);
});
