// The browser client's replay viewer in real Chromium: `?replay=/replays/<name>` loads a recording
// the server serves, plays it through the client's interpolation onto the canvas, pauses, seeks and
// changes speed from its bar; a damaged file or a missing one is a message on the page, not a crash.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClient } from '../client/build.ts';
import type { TickwireServer } from '../server/server.ts';
import { BotPool } from '../tools/bots/pool.ts';
import { launchChromium, openPage, untilIn } from './helpers/browser.ts';
import { startTestServer, urlOf, waitFor } from './helpers/server.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
let browser: Browser;
let clientDir: string;
let replayDir: string;
let srv: TickwireServer | undefined;

beforeAll(async () => {
  clientDir = await mkdtemp(join(tmpdir(), 'tickwire-client-'));
  replayDir = await mkdtemp(join(tmpdir(), 'tickwire-replays-'));
  await buildClient(clientDir);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await srv?.stop();
  await rm(clientDir, { recursive: true, force: true });
  await rm(replayDir, { recursive: true, force: true });
});

interface ReplayView {
  phase: string;
  error: string;
  playing: boolean;
  tick: number;
  start: number;
  end: number;
  speed: number;
  drawn: number;
  mode: string;
}

declare const tickwire: {
  replay: {
    phase: string;
    error: string;
    player?: { playing: boolean; tick: number; startTick: number; endTick: number; speed: number; remote: { count: number; mode: string }; seek(t: number): void };
  };
};

describe('browser replay viewer', () => {
  it('plays a served recording with pause, seek and speed, and says what is wrong with a damaged one', async () => {
    srv = await startTestServer({ clientDir, gameParams: { npcs: 40 }, recordRooms: true, replayDir, replayKeyframeSec: 1 });
    const pool = await BotPool.start({ url: urlOf(srv), count: 2, transport: 'ws', inProcess: true, rampPerSec: 100, seed: 9, fullBots: 0, room: 'show' });
    let name = '';
    let entities = 0;
    try {
      await waitFor(() => (srv!.rooms.get('show')?.players.length ?? 0) === 2, 10_000, 'bots in the room');
      await new Promise((r) => setTimeout(r, 3000));
      name = srv.rooms.get('show')!.recorder!.name;
      entities = srv.rooms.get('show')!.replicated().length;
    } finally {
      await pool.stop();
    }
    const page = await openPage(browser, `${urlOf(srv)}/?replay=/replays/${name}`);
    const view = (): ReplayView => {
      const p = tickwire.replay.player;
      return {
        phase: tickwire.replay.phase, error: tickwire.replay.error, playing: p?.playing ?? false, tick: p?.tick ?? -1, start: p?.startTick ?? -1, end: p?.endTick ?? -1,
        speed: p?.speed ?? 0, drawn: p?.remote.count ?? 0, mode: p?.remote.mode ?? '',
      };
    };
    const first = await untilIn(page, () => tickwire.replay.phase === 'playing' && (tickwire.replay.player?.remote.count ?? 0) > 0, undefined, 'replay playing');
    expect(first).toBe(true);
    const v0 = await page.evaluate(view);
    // the room's entities (its NPCs and the two bots among them), drawn through the interpolator
    expect(entities).toBeGreaterThanOrEqual(42);
    expect(v0.drawn).toBe(entities);
    expect(v0.end - v0.start).toBeGreaterThan(60);
    await new Promise((r) => setTimeout(r, 500));
    const v1 = await page.evaluate(view);
    expect(v1.tick).toBeGreaterThan(v0.tick);
    expect(v1.mode).toBe('interpolate');
    // pause from the bar
    await page.click('#replay-toggle');
    const paused = await page.evaluate(view);
    expect(paused.playing).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    expect((await page.evaluate(view)).tick).toBe(paused.tick);
    // seek from the slider, to the middle
    const mid = Math.round((v0.start + v0.end) / 2);
    await page.evaluate((t) => {
      const el = document.getElementById('replay-seek') as HTMLInputElement;
      el.value = String(t);
      el.dispatchEvent(new Event('input'));
    }, mid);
    const sought = await page.evaluate(view);
    expect(Math.abs(sought.tick - mid)).toBeLessThanOrEqual(1);
    expect(sought.drawn).toBe(entities);
    // speed 4, play: recorded time runs about four times as fast as the wall clock
    await page.selectOption('#replay-speed', '4');
    await page.click('#replay-toggle');
    const t0 = await page.evaluate(() => [performance.now(), tickwire.replay.player!.tick]);
    await new Promise((r) => setTimeout(r, 400));
    const t1 = await page.evaluate(() => [performance.now(), tickwire.replay.player!.tick]);
    const rate = (t1[1] - t0[1]) / ((t1[0] - t0[0]) / 1000) / 60;
    expect((await page.evaluate(view)).speed).toBe(4);
    expect(rate).toBeGreaterThan(2);
    expect(rate).toBeLessThan(4.5);
    expect(await page.evaluate(() => document.getElementById('overlay')?.style.display)).toBe('none');
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'replay-viewer.png') });

    // a missing file, and a file that is not a replay
    const missing = await openPage(browser, `${urlOf(srv)}/?replay=/replays/nope.twr`);
    await untilIn(missing, () => tickwire.replay.phase === 'error', undefined, 'error phase');
    expect(await missing.evaluate(() => document.getElementById('overlay')?.textContent ?? '')).toMatch(/answered 404/);
    const junk = await openPage(browser, `${urlOf(srv)}/?replay=/config`);
    await untilIn(junk, () => tickwire.replay.phase === 'error', undefined, 'error phase');
    expect(await junk.evaluate(() => document.getElementById('overlay')?.textContent ?? '')).toMatch(/not a Tickwire replay/);
  }, 90_000);
});
