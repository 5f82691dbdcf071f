// The spectator page in headless Chromium (`?spectate=1`): it gets a spectator's seat from the
// matchmaker and joins a tag room a Node player plays in, draws that player and the NPCs, moves its
// free camera with held keys, zooms with +, follows a player with Tab, and the server makes no
// entity for it. In an arena-v2 room (interest rules) the page sends its camera and is sent the
// view around it: what it draws follows a pan. Screenshots go to test/artifacts/.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClient } from '../client/build.ts';
import { arenaV2, ARENA_V2_LEAVE_RADIUS } from '../games/arena-v2.ts';
import { tag } from '../games/tag.ts';
import { Connection } from '../netcode/connection.ts';
import type { TickwireServer } from '../server/server.ts';
import { NO_ENTITY } from '../shared/protocol/control.ts';
import { nodeClientIO } from '../tools/node-client/io.ts';
import { launchChromium, openPage, untilIn } from './helpers/browser.ts';
import { startTestServer, urlOf, waitFor } from './helpers/server.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
let browser: Browser;
let dir: string;
let srv: TickwireServer | undefined;
let player: Connection | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tickwire-client-spectator-'));
  await buildClient(dir);
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  player?.close();
  await browser?.close();
  await srv?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Api {
  phase: string;
  eid: number;
  spectator: boolean;
  camera: { x: number; y: number; zoom: number; following: number } | null;
  entityPosition(eid: number): { x: number; y: number } | null;
  names(): Record<number, string>;
}
declare const tickwire: Api;

describe('the spectator page', () => {
  it('watches a room through the matchmaker with a free camera, and no entity is made for it', async () => {
    srv = await startTestServer({ clientDir: dir, resumeGraceMs: 0 }, { game: tag });
    player = new Connection(tag, nodeClientIO({ webrtc: false }), { url: urlOf(srv), name: 'runner', room: 'watched', transport: 'ws' });
    player.connect();
    await waitFor(() => player!.state === 'active', 5000, 'the player joins');
    const room = srv.rooms.get('watched')!;
    const entities = room.replicated().length;
    const runner = player.welcome!.eid;

    const page = await openPage(browser, `${urlOf(srv)}/?spectate=1&room=watched&name=watcher&transport=ws`);
    await untilIn(page, () => (tickwire.phase === 'playing' && tickwire.spectator ? true : undefined), undefined, 'the spectator welcome', 15_000);
    expect(await page.evaluate(() => tickwire.eid)).toBe(NO_ENTITY);
    // it sees the room: the player, named, drawn where the server has it
    await untilIn(page, (eid) => (tickwire.entityPosition(eid) ? true : undefined), runner, 'the player drawn');
    expect(await page.evaluate(() => tickwire.names())).toMatchObject({ [runner]: 'runner' });
    expect(await page.locator('#help').textContent()).toContain('Spectating');
    // no entity, no player place: one spectator
    expect(room.players.length).toBe(1);
    expect(room.spectators.length).toBe(1);
    expect(room.replicated().length).toBe(entities);
    // on the WebSocket it watches on the room's shared stream (no acks), and draws from it
    expect(room.spectators[0].streamed).toBe(true);
    expect(srv.stats.spectatorStream.packets.delta).toBeGreaterThan(0);

    // held keys pan the camera; + zooms; Tab follows the player
    const c0 = (await page.evaluate(() => tickwire.camera))!;
    expect(c0.following).toBe(-1);
    await page.keyboard.down('ArrowRight');
    await page.keyboard.down('KeyS');
    await page.waitForTimeout(400);
    await page.keyboard.up('ArrowRight');
    await page.keyboard.up('KeyS');
    const c1 = (await page.evaluate(() => tickwire.camera))!;
    expect(c1.x).toBeGreaterThan(c0.x + 20);
    expect(c1.y).toBeGreaterThan(c0.y + 20);
    await page.keyboard.press('Equal');
    expect((await page.evaluate(() => tickwire.camera))!.zoom).toBeGreaterThan(c1.zoom);
    // the score table lists the player; Tab follows it and the camera goes to it
    await untilIn(page, () => (document.querySelector('#players tr[data-eid]') ? true : undefined), undefined, 'the score table');
    // the table lists the players only, not the spectator
    expect(await page.evaluate(() => Array.from(document.querySelectorAll<HTMLTableRowElement>('#players tr[data-eid]')).filter((tr) => !tr.hidden).map((tr) => tr.cells[0].textContent))).toEqual(['runner']);
    await page.keyboard.press('Tab');
    const followed = await untilIn(page, (eid) => {
      const c = tickwire.camera;
      const p = tickwire.entityPosition(eid);
      return c && p && c.following === eid && Math.abs(c.x - p.x) < 1 && Math.abs(c.y - p.y) < 1 ? c : undefined;
    }, runner, 'the camera on the followed player');
    expect(followed.following).toBe(runner);
    // a drag lets go and pans
    const box = (await page.locator('#view').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 - 120, box.y + box.height / 2, { steps: 4 });
    await page.mouse.up();
    const c2 = (await page.evaluate(() => tickwire.camera))!;
    expect(c2.following).toBe(-1);
    expect(c2.x).toBeGreaterThan(followed.x);
    await page.screenshot({ path: join(ARTIFACTS, 'spectator-tag.png') });
    expect(srv.stats.spectatorInputsIgnored).toBe(0);
    await page.close();
    await waitFor(() => room.spectators.length === 0, 5000, 'the spectator gone');
    expect(room.players.length).toBe(1);
  }, 60_000);

  it('watches an arena-v2 room (interest rules): the view around its camera, following a pan', async () => {
    const v2 = await startTestServer({ clientDir: dir, resumeGraceMs: 0, game: 'arena-v2', gameParams: { npcs: 2000 }, clientRoomParams: { npcs: 2000 } }, { game: arenaV2 });
    const runner = new Connection(arenaV2, nodeClientIO({ webrtc: false }), { url: urlOf(v2), name: 'runner', room: 'wide', transport: 'ws' });
    try {
      runner.connect();
      await waitFor(() => runner.state === 'active', 5000, 'the player joins');
      const room = v2.rooms.get('wide')!;
      const xf = room.schema.fields.findIndex((f) => f.component === 'Position' && f.field === 'x');
      const yf = room.schema.fields.findIndex((f) => f.component === 'Position' && f.field === 'y');
      /** Entities of the newest room frame by their distance from (x, y): [within `near`], [beyond `far`]. */
      const around = (x: number, y: number, near: number, far: number): [number[], number[]] => {
        const f = room.history.latest()!;
        const inside: number[] = [];
        const outside: number[] = [];
        for (let i = 0; i < f.count; i++) {
          const d = Math.hypot(f.values[i * f.fieldCount + xf] / 16 - x, f.values[i * f.fieldCount + yf] / 16 - y);
          if (d < near) inside.push(f.ids[i]);
          else if (d > far) outside.push(f.ids[i]);
        }
        return [inside, outside];
      };
      const drawn = (ids: number[]): Promise<number> => page.evaluate((list) => list.filter((e) => tickwire.entityPosition(e) !== null).length, ids);

      const page = await openPage(browser, `${urlOf(v2)}/?spectate=1&room=wide&name=watcher&transport=ws`);
      await untilIn(page, () => (tickwire.phase === 'playing' && tickwire.spectator ? true : undefined), undefined, 'the spectator welcome', 15_000);
      expect(room.spectators.length).toBe(1);
      const spectator = room.spectators[0];
      // the page reports its camera (the world centre, at first): the server centres the view there
      const c0 = (await page.evaluate(() => tickwire.camera))!;
      await waitFor(() => room.interest!.peek(spectator)?.placed === true, 5000, 'the first camera');
      expect(room.interest!.peek(spectator)).toMatchObject({ camX: c0.x, camY: c0.y });
      await waitFor(() => v2.stats.spectatorCameras.applied > 0, 3000, 'camera applied');
      // it draws the entities near its camera, and none far away
      const [near0] = around(c0.x, c0.y, 400, ARENA_V2_LEAVE_RADIUS + 400);
      expect(near0.length).toBeGreaterThan(0);
      await untilIn(page, (ids) => (ids.filter((e) => tickwire.entityPosition(e) !== null).length >= ids.length - 1 ? true : undefined), near0, 'the entities near the camera drawn');
      const [, far0] = around(c0.x, c0.y, 0, ARENA_V2_LEAVE_RADIUS + 400);
      expect(await drawn(far0)).toBe(0);

      // pan right (held until the camera has moved 1,500 units, bounded): the view follows
      await page.keyboard.down('ArrowRight');
      const c1 = await untilIn(page, (x0) => (tickwire.camera && tickwire.camera.x > x0 + 1500 ? tickwire.camera : undefined), c0.x, 'the camera panned', 15_000);
      await page.keyboard.up('ArrowRight');
      const c2 = (await page.evaluate(() => tickwire.camera))!;
      expect(c2.x).toBeGreaterThanOrEqual(c1.x);
      await waitFor(() => Math.abs(room.interest!.peek(spectator)!.camX - c2.x) < 1, 5000, 'the server camera where the page is');
      // the entities near the old point left the page; those near the new one entered it
      await untilIn(page, (ids) => (ids.every((e) => tickwire.entityPosition(e) === null) ? true : undefined), around(c2.x, c2.y, 0, ARENA_V2_LEAVE_RADIUS + 400)[1], 'the entities far from the camera gone');
      const [near2] = around(c2.x, c2.y, 400, ARENA_V2_LEAVE_RADIUS + 400);
      expect(near2.length).toBeGreaterThan(0);
      expect(near2.filter((e) => near0.includes(e))).toEqual([]);
      await untilIn(page, (ids) => (ids.filter((e) => tickwire.entityPosition(e) !== null).length >= ids.length - 1 ? true : undefined), near2, 'the entities near the panned camera drawn');
      // zooming out asks for a wider view (within the server's cap)
      const r0 = room.interest!.peek(spectator)!.camRadius;
      for (let i = 0; i < 4; i++) await page.keyboard.press('Minus');
      await waitFor(() => room.interest!.peek(spectator)!.camRadius > r0, 5000, 'a wider view');
      expect(room.interest!.peek(spectator)!.camRadius).toBeLessThanOrEqual(2 * arenaV2.interest!.viewRadius);
      await page.screenshot({ path: join(ARTIFACTS, 'spectator-arena-v2.png') });
      expect(room.players.length).toBe(1);
      await page.close();
      await waitFor(() => room.spectators.length === 0, 5000, 'the spectator gone');
    } finally {
      runner.close();
      await v2.stop();
    }
  }, 90_000);
});
