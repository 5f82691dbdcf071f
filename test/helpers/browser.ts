// Headless Chromium for tests and scripts (Debian's chromium driven by playwright-core, nothing
// downloaded): the launch flags, a page in its own browser context, and bounded polling in a page.
import { chromium, type Browser, type Page } from 'playwright-core';

/** Chromium flags of every browser run (no sandbox, no GPU, no background traffic). */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Launches Debian's Chromium. */
export function launchChromium(executablePath = '/usr/bin/chromium'): Promise<Browser> {
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS, timeout: 15_000 });
}

/** Opens `url` in a fresh browser context (its own window, so every page animates). */
export async function openPage(browser: Browser, url: string, viewport = { width: 960, height: 640 }): Promise<Page> {
  const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
  await page.goto(url, { timeout: 10_000 });
  return page;
}

/** Polls `fn` (with `arg`) in the page until it returns a truthy value (bounded). */
export async function untilIn<T, A>(page: Page, fn: (arg: A) => T, arg: A, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await page.evaluate(fn as (a: unknown) => T, arg as unknown);
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
