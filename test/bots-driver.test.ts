// The bot driver against a real in-process server: a few WebSocket bots for a couple of seconds,
// in this process and in child processes (the bots CLI path); the summary's fields are present and sane.
import { readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { runBots } from '../tools/bots/cli.ts';
import { BotPool } from '../tools/bots/pool.ts';
import { summarizeBots } from '../tools/measure/summary.ts';
import { diffTotals } from '../tools/measure/totals.ts';
import type { TickwireServer } from '../server/server.ts';
import { startTestServer, urlOf, waitFor } from './helpers/server.ts';

let servers: TickwireServer[] = [];
afterEach(async () => {
  for (const s of servers) await s.stop();
  servers = [];
});

async function server(npcs: number): Promise<TickwireServer> {
  const s = await startTestServer({ gameParams: { npcs }, roomCapacity: 64 });
  servers.push(s);
  return s;
}

describe('bot driver', () => {
  it('runs bots in this process: they connect, send 60 inputs/s, receive 20 snapshots/s and ack both ways', async () => {
    const srv = await server(50);
    const pool = await BotPool.start({ url: urlOf(srv), count: 4, transport: 'ws', inProcess: true, rampPerSec: 100, seed: 5, fullBots: 1 });
    // every bot welcomed, then a 2 s window
    let first = await pool.read();
    for (const deadline = Date.now() + 5000; first.active < 4 && Date.now() < deadline; first = await pool.read()) await new Promise((r) => setTimeout(r, 20));
    expect(first.active).toBe(4);
    await new Promise((r) => setTimeout(r, 2000));
    const last = await pool.read();
    const s = summarizeBots(diffTotals(last, first), (last.atMs - first.atMs) / 1000);
    await pool.stop();

    expect(s.connected).toBe(4);
    expect(s.failed).toBe(0);
    expect(s.errors).toBe(0);
    expect(s.activeAtEnd).toBe(4);
    expect(s.snapshotsPerClientPerSec).toBeGreaterThan(15);
    expect(s.snapshotsPerClientPerSec).toBeLessThan(25);
    // at least a snapshot header (10 bytes) per snapshot
    expect(s.downPayloadBytesPerClientPerSec).toBeGreaterThan(s.snapshotsPerClientPerSec * 10);
    // inputs at 60 Hz, each packet at least a few bytes, plus acks
    expect(s.upPayloadBytesPerClientPerSec).toBeGreaterThan(60 * 5);
    expect(s.downWireBytesPerClientPerSec).toBeGreaterThan(s.downPayloadBytesPerClientPerSec);
    const perBotInputs = s.inputsSent / 4 / s.windowSec;
    expect(perBotInputs).toBeGreaterThan(45);
    expect(perBotInputs).toBeLessThan(70);
    expect(s.inputsAcked).toBeGreaterThan(s.inputsSent * 0.8);
    expect(s.inputsAcked).toBeLessThanOrEqual(s.inputsSent + 4 * 10);
    expect(s.rttMs.p50).toBeGreaterThan(0);
    expect(s.rttMs.p99).toBeGreaterThanOrEqual(s.rttMs.p50);
    expect(s.rttMs.p99).toBeLessThan(1000);
    // the full bot ran the client netcode and measured its render error
    expect(s.fullBots).toBe(1);
    expect(s.renderErrorSamples).toBeGreaterThan(20);
    expect(s.renderErrorUnits.mean).not.toBeNull();
    // (p99 may sit below the mean: a few large errors in many exact samples)
    expect(s.renderErrorUnits.mean!).toBeGreaterThanOrEqual(0);
    expect(s.renderErrorUnits.p99!).toBeGreaterThanOrEqual(0);
    expect(s.renderErrorUnits.p99!).toBeLessThan(200);
    expect(s.predictionCorrectionsPerSec).not.toBeNull();
    // the server saw the bots' inputs
    expect(srv.stats.inputsReceived).toBeGreaterThan(0);
  });

  it('applies the link conditions on the bots side: every round trip grows by twice the latency', async () => {
    const srv = await server(10);
    const pool = await BotPool.start({ url: urlOf(srv), count: 2, transport: 'ws', inProcess: true, rampPerSec: 100, fullBots: 0, pingIntervalMs: 100, conditions: { latencyMs: 40, jitterMs: 5, lossPct: 0 } });
    let t = await pool.read();
    for (const deadline = Date.now() + 8000; t.rttMs.count < 10 && Date.now() < deadline; t = await pool.read()) await new Promise((r) => setTimeout(r, 50));
    await pool.stop();
    const s = summarizeBots(t, 1);
    expect(s.connected).toBe(2);
    // 2 x (40 +- 5) ms of added delay, plus the server's answer at its next tick
    expect(s.rttMs.p50).toBeGreaterThan(70);
    expect(s.rttMs.p50).toBeLessThan(200);
    expect(s.connectMs.p50).toBeGreaterThan(70); // the handshake crosses the link too
  });

  it('runs the bots CLI path in child processes and returns the JSON summary', async () => {
    const srv = await server(20);
    const r = await runBots({ url: urlOf(srv), count: 3, transport: 'ws', seconds: 2, rampPerSec: 50, seed: 2, fullBots: 1, json: true, script: 'chase-nearest' });
    const s = r.summary;
    for (const k of ['connected', 'failed', 'rttMs', 'snapshotsPerClientPerSec', 'downPayloadBytesPerClientPerSec', 'upPayloadBytesPerClientPerSec', 'predictionCorrectionsPerSec', 'renderErrorUnits', 'inputsSent', 'inputsAcked', 'errors']) {
      expect(s, k).toHaveProperty(k);
    }
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    expect(s.connected).toBe(3);
    expect(s.failed).toBe(0);
    expect(s.errors).toBe(0);
    expect(s.snapshotsPerClientPerSec).toBeGreaterThan(10);
    expect(s.inputsSent).toBeGreaterThan(3 * 60);
    expect(s.inputsAcked).toBeGreaterThan(0);
    // the bots left: their sessions end
    await waitFor(() => srv.sessions.size === 0, 5000, 'sessions to close');
  }, 40_000);

  it('runs the bot processes at the nice value asked for, every thread of them', async () => {
    const srv = await server(0);
    const pool = await BotPool.start({ url: urlOf(srv), count: 2, transport: 'ws', rampPerSec: 100, fullBots: 0, nice: 6 });
    try {
      expect(pool.pids.length).toBe(1);
      const tids = readdirSync(`/proc/${pool.pids[0]}/task`).map(Number);
      expect(tids.length).toBeGreaterThan(1);
      for (const tid of tids) expect(getPriority(tid), `thread ${tid}`).toBe(6);
      // and they play at it
      await waitFor(() => srv.sessions.size === 2, 10_000, 'both bots to connect');
    } finally {
      await pool.stop();
    }
  }, 40_000);
});
