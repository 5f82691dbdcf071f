// The bundled page in headless Chromium through a live room handoff: two fleet members (real
// servers in this process, each with its WebSocket and HTTP listeners) on a real redis-server; the
// page joins through member a's matchmaker and plays; a is drained with handoff (POST
// /admin/drain over HTTP, the room offered to b over HTTP); the page follows `moved` to b and plays
// on there with the same session, entity and room: its net graph names b, the server moves its
// player when a key is held, and its prediction is corrected at most once for the move.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClient } from '../client/build.ts';
import type { TickwireServer } from '../server/server.ts';
import { launchChromium, openPage, untilIn } from './helpers/browser.ts';
import { startRedis, type TestRedis } from './helpers/redis.ts';
import { startTestServer, urlOf, waitFor } from './helpers/server.ts';

const ADMIN = 'browser-handoff-admin-token-0123456789';
let browser: Browser;
let dir: string;
let redis: TestRedis | undefined;
const members: TickwireServer[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tickwire-client-handoff-'));
  await buildClient(dir);
  browser = await launchChromium();
  redis = await startRedis();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const m of members) await m.stop().catch(() => undefined);
  await redis?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Api {
  phase: string;
  eid: number;
  sessionId: number;
  server: string;
  moves: number;
  stats: { corrections: number; snapshots: number; state: string } | undefined;
  entityPosition(eid: number): { x: number; y: number } | null;
}
declare const tickwire: Api;

const member = (id: string, prefix: string): Promise<TickwireServer> =>
  startTestServer({
    clientDir: dir, redisUrl: redis!.url, fleetPrefix: prefix, memberId: id, adminToken: ADMIN, fleetLeaseMs: 3000,
    resumeGraceMs: 10_000, drainMs: 60_000, matchmakePerSec: 1000,
  });

const read = (page: Page): Promise<{ eid: number; sessionId: number; server: string; moves: number; corrections: number; snapshots: number; x: number; y: number }> =>
  page.evaluate(() => {
    const p = tickwire.entityPosition(tickwire.eid);
    return { eid: tickwire.eid, sessionId: tickwire.sessionId, server: tickwire.server, moves: tickwire.moves, corrections: tickwire.stats?.corrections ?? -1, snapshots: tickwire.stats?.snapshots ?? -1, x: p?.x ?? NaN, y: p?.y ?? NaN };
  });

/** Holds `key` until the server has moved the page's player at least `units` from where it stood (bounded). */
async function holdUntilMoved(page: Page, srv: TickwireServer, eid: number, key: string, units: number): Promise<number> {
  const room = srv.rooms.list[0];
  const start = room.ctx.c.Position;
  const x0 = start.x[eid];
  const y0 = start.y[eid];
  await page.keyboard.down(key);
  try {
    await waitFor(() => Math.hypot(start.x[eid] - x0, start.y[eid] - y0) >= units, 10_000, `the server moving the player ${units} units`);
  } finally {
    await page.keyboard.up(key);
  }
  return Math.hypot(start.x[eid] - x0, start.y[eid] - y0);
}

describe('the page through a live room handoff', () => {
  it('follows its room from a drained member to another: same session, entity and room, it plays on there, at most one correction', async () => {
    const prefix = `tw-bh-${process.pid}-${Date.now() % 1e8}:`;
    const a = await member('a', prefix);
    members.push(a);
    const page = await openPage(browser, `${urlOf(a)}/?name=mover&room=moving`);
    await untilIn(page, () => tickwire.phase === 'playing' && tickwire.eid >= 0 && (tickwire.stats?.snapshots ?? 0) > 20, null, 'the page playing on a', 15_000);
    const before = await read(page);
    expect(before.server).toBe('a moving');
    expect(a.rooms.get('moving')?.players.length).toBe(1);
    // it plays on a: the server moves its player while a key is held
    await holdUntilMoved(page, a, before.eid, 'KeyD', 40);

    const b = await member('b', prefix);
    members.push(b);
    const fleetHasB = async (): Promise<boolean> => {
      const res = await fetch(`${urlOf(a)}/fleet`);
      return ((await res.json()) as { members: { id: string }[] }).members.some((m) => m.id === 'b');
    };
    for (let i = 0; i < 100 && !(await fleetHasB()); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await fleetHasB()).toBe(true);
    const corrections0 = (await read(page)).corrections;

    const res = await fetch(`${urlOf(a)}/admin/drain`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ handoff: true, reason: 'browser handoff test' }) });
    expect(res.status).toBe(202);
    await untilIn(page, () => tickwire.moves === 1 && tickwire.stats?.state === 'active', null, 'the page following the room to b', 15_000);
    await waitFor(() => b.rooms.get('moving')?.players.length === 1, 10_000, 'the room at b with its player');
    await waitFor(() => a.rooms.get('moving') === undefined, 10_000, 'the room gone from a');

    const after = await read(page);
    expect(after.server).toBe('b moving');
    expect(after.sessionId).toBe(before.sessionId);
    expect(after.eid).toBe(before.eid);
    expect(b.sessions.get(before.sessionId)?.player?.eid).toBe(before.eid);
    // snapshots flow from b, and b moves the player with the page's keys
    await untilIn(page, (n) => (tickwire.stats?.snapshots ?? 0) > n + 20, after.snapshots, 'snapshots from b', 10_000);
    const moved = await holdUntilMoved(page, b, before.eid, 'KeyA', 40);
    expect(moved).toBeGreaterThanOrEqual(40);
    // what the page draws follows what b simulates
    const drawn = await untilIn(page, (eid) => tickwire.entityPosition(eid), before.eid, 'the player drawn');
    const room = b.rooms.get('moving')!;
    const pos = room.ctx.c.Position;
    expect(Math.hypot(drawn.x - pos.x[before.eid], drawn.y - pos.y[before.eid])).toBeLessThan(60);
    // the move cost the page's prediction at most one correction
    const end = await read(page);
    expect(end.corrections - corrections0).toBeLessThanOrEqual(1);
    console.log('browser handoff', JSON.stringify({ before, after: end, corrections: end.corrections - corrections0 }));
  }, 120_000);
});
