// 1,000 connect/disconnect cycles over each transport, after a warm-up that brings the server to its
// working size: server memory (RSS of the server and its WebRTC worker) grows by at most 20 MB, the
// JavaScript heaps (after a full collection) by at most 2 MiB, and sessions, WebRTC peers and timers
// return to their baseline. The clients run in a process of their own; its death in a batch (a
// native abort in the WebRTC client library, seen once in many runs) is counted, and the run goes on.
import { describe, expect, it } from 'vitest';
import { ServerProcess } from '../tools/measure/server-proc.ts';
import { ChurnClients, runChurn } from './harness/churn.ts';

describe('connect/disconnect churn', () => {
  for (const transport of ['ws', 'webrtc'] as const) {
    it(`${transport}: 1000 cycles leave no sessions, peers or timers behind and grow memory < 20 MB`, async () => {
      const r = await runChurn({ cycles: 1000, transport, remeasureAboveMiB: 20 });
      console.log(JSON.stringify(r));
      expect(r.failed / (r.cycles + r.warmupCycles)).toBeLessThan(0.02);
      expect(r.end.sessions).toBe(0);
      expect(r.end.webrtcPeers).toBe(0);
      expect(r.end.timers).toBeLessThanOrEqual(r.baseline.timers);
      expect(r.end.handles).toBeLessThanOrEqual(r.baseline.handles + 2);
      expect(r.rssGrowthMiB).toBeLessThan(20);
      // the heap gauges are read (a wrong metric name read 0 on both sides and checked nothing)
      expect(r.baseline.serverHeapMiB).toBeGreaterThan(1);
      expect(r.end.serverHeapMiB - r.baseline.serverHeapMiB).toBeLessThan(2);
      expect(r.end.workerHeapMiB - r.baseline.workerHeapMiB).toBeLessThan(2);
      expect(r.clientAborts.length).toBeLessThanOrEqual(1);
      // a second round only after a first that grew 20 MiB or more; the limits above hold for the last
      expect(r.rounds).toBe(r.firstRoundRssGrowthMiB >= 20 ? 2 : 1);
    }, 480_000);
  }

  it('a first round over the re-measure bound runs a second one, and the run still ends with every session and peer gone', async () => {
    // every growth is at least -1e9 MiB: the second round always runs
    const r = await runChurn({ cycles: 100, transport: 'ws', warmup: 100, remeasureAboveMiB: -1e9 });
    expect(r.rounds).toBe(2);
    expect(r.failed).toBe(0);
    expect(r.end.sessions).toBe(0);
    expect(r.end.webrtcPeers).toBe(0);
    expect(r.seconds).toBeGreaterThan(0);
  }, 60_000);

  it('the clients\' process aborted in a batch: its running cycles count as failed, the rest run in a fresh process', async () => {
    const server = await ServerProcess.start({ root: new URL('..', import.meta.url).pathname, webrtc: false, npcs: 0, roomCapacity: 64 });
    const clients = new ChurnClients();
    try {
      expect(await clients.run(server.url, 'ws', 20, 4, 0)).toBe(0);
      const first = clients.pid;
      expect(first).toBeGreaterThan(0);
      let killed = false;
      const killer = setInterval(() => {
        if (killed || clients.pid === undefined) return;
        killed = true;
        process.kill(clients.pid, 'SIGABRT');
      }, 150);
      const failed = await clients.run(server.url, 'ws', 200, 4, 20).finally(() => clearInterval(killer));
      expect(clients.aborts).toEqual(['SIGABRT']);
      expect(failed).toBeLessThanOrEqual(4); // at most the cycles running when it died
      expect(clients.pid).not.toBe(first);
      expect(await clients.run(server.url, 'ws', 10, 4, 220)).toBe(0);
    } finally {
      clients.stop();
      await server.stop();
    }
  }, 60_000);
});
