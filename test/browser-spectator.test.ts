// The spectator page in headless Chromium (`?spectate=1`): it gets a spectator's seat from the
// matchmaker and joins a tag room a Node player plays in, draws that player and the NPCs, moves its
// free camera with held keys, zooms with +, follows a player with Tab, and the server makes no
// entity for it. A screenshot goes to test/artifacts/.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClient } from '../client/build.ts';
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
});
