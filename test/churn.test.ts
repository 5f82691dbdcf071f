// 1,000 connect/disconnect cycles over each transport, after a warm-up that brings the server to its
// working size: server memory (RSS of the server and its WebRTC worker) grows by at most 20 MB, the
// JavaScript heaps (after a full collection) by at most 2 MiB, and sessions, WebRTC peers and timers
// return to their baseline.
import { describe, expect, it } from 'vitest';
import { runChurn } from './harness/churn.ts';

describe('connect/disconnect churn', () => {
  for (const transport of ['ws', 'webrtc'] as const) {
    it(`${transport}: 1000 cycles leave no sessions, peers or timers behind and grow memory < 20 MB`, async () => {
      const r = await runChurn({ cycles: 1000, transport });
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
    }, 480_000);
  }
});
