// `npm run screenshots`: starts a server hosting the demo game (tag) in this process, opens one
// page in headless Chromium playing itself (`?bot=1`) beside two headless players driven by the
// game's bot script (one of them chats), waits for a tag, and saves the page as
// docs/images/demo.png (the README shows it). `-- --out path` writes elsewhere.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { buildClient } from '../../client/build.ts';
import { tag } from '../../games/tag.ts';
import { loadServerConfig } from '../../server/config.ts';
import { TickwireServer } from '../../server/server.ts';
import { launchChromium, openPage } from '../helpers/browser.ts';
import { startScriptBot, type ScriptBot } from '../helpers/script-bot.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Options of takeDemoScreenshot. */
export interface DemoShotOptions {
  /** Where the PNG goes. Default docs/images/demo.png. */
  out?: string;
  /** Chromium binary. Default /usr/bin/chromium. */
  chromium?: string;
  /** Seconds to let the game run before the shot (after the first tag). Default 2. */
  settleSec?: number;
}

async function open(browser: Browser, url: string, size: { width: number; height: number }): Promise<Page> {
  const page = await openPage(browser, url, size);
  await page.waitForFunction(() => (globalThis as unknown as { tickwire?: { phase: string } }).tickwire?.phase === 'playing', undefined, { timeout: 15_000 });
  return page;
}

/** Runs the demo with three players and writes the screenshot; returns its path. */
export async function takeDemoScreenshot(o: DemoShotOptions = {}): Promise<string> {
  const out = resolve(o.out ?? join(ROOT, 'docs/images/demo.png'));
  const clientDir = await mkdtemp(join(tmpdir(), 'tickwire-shot-'));
  let browser: Browser | undefined;
  let srv: TickwireServer | undefined;
  const bots: ScriptBot[] = [];
  try {
    await buildClient(clientDir);
    const cfg = loadServerConfig({}, { port: 0, signalingPort: 0, webrtc: false, logLevel: 'warn', clientDir, seed: 7, gameParams: { npcs: 5 } });
    srv = new TickwireServer(cfg, { game: tag });
    await srv.start();
    const base = `http://127.0.0.1:${srv.http!.port}/`;
    browser = await launchChromium(o.chromium);
    const shot = await open(browser, `${base}?name=alice&bot=1&camera=world&seed=11`, { width: 1440, height: 900 });
    bots.push(startScriptBot(base, tag, 'bob', 12), startScriptBot(base, tag, 'carol', 13));
    await new Promise((r) => setTimeout(r, 1500));
    bots[0].say('hi all, catch me if you can');
    await shot.waitForFunction(() => Array.from(document.querySelectorAll('#feed .event')).some((e) => e.textContent?.includes('tagged')), undefined, { timeout: 30_000 });
    await new Promise((r) => setTimeout(r, (o.settleSec ?? 2) * 1000));
    await mkdir(dirname(out), { recursive: true });
    await shot.screenshot({ path: out });
    return out;
  } finally {
    for (const b of bots) b.stop();
    await browser?.close();
    await srv?.stop();
    await rm(clientDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({ options: { out: { type: 'string' } }, strict: true });
  takeDemoScreenshot(values.out ? { out: values.out } : {}).then(
    (path) => {
      console.log(`screenshot: ${path}`);
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
