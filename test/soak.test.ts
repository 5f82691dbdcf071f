// Soak under bad networks, short version: each of the five link profiles for a few seconds with
// four bots, the seeded conditioner on both ends; no crash, every chat message exactly once and in
// order to every bot, every decoded frame equal to the server's, convergence after the link heals.
import { describe, expect, it } from 'vitest';
import { PROFILES, runSoak, summarize } from './harness/soak.ts';

/** Time under the bad link per profile, ms. */
const LINK_MS = 6000;
const BOTS = 4;

/** Every profile over the WebSocket (unreliable traffic conditioned as datagrams), and the 250 ms one over WebRTC too. */
const RUNS = [...PROFILES.map((profile) => ({ profile, transport: 'ws' as const })), { profile: PROFILES.find((p) => p.name === 'bad250')!, transport: 'webrtc' as const }];

describe('soak under bad networks (short)', () => {
  for (const { profile, transport } of RUNS) {
    it(`${profile.label} over ${transport}: no crash, reliable exactly once in order, converges within 2 snapshot intervals + RTT after healing`, async () => {
      const r = await runSoak({ profile, transport, durationMs: LINK_MS, bots: BOTS, seed: 42, memorySampleMs: 1000 });
      console.log(`soak ${summarize(r)}`);
      expect(r.crashes.uncaught).toEqual([]);
      expect(r.crashes.serverErrors).toEqual([]);
      expect(r.crashes.serverState).toBe('running');
      // Reliable: every bot got every bot's chat (its own included) once, in order.
      expect(r.reliable.sent).toBeGreaterThan(BOTS * 5);
      expect(r.reliable.duplicates).toBe(0);
      expect(r.reliable.outOfOrder).toBe(0);
      expect(r.reliable.missing).toBe(0);
      expect(r.reliable.delivered).toBe(r.reliable.expected);
      // Decoded state: every compared frame equals the server's; after the heal each bot catches up in time.
      expect(r.snapshots.compared).toBeGreaterThan(BOTS * 50);
      expect(r.snapshots.mismatched).toBe(0);
      for (const h of r.heal) {
        expect(h.convergedMs).toBeGreaterThanOrEqual(0);
        expect(h.convergedMs).toBeLessThanOrEqual(h.boundMs);
      }
      expect(r.server.decodeErrors).toBe(0);
      expect(r.botsActive).toBe(BOTS);
      // The link really was bad, at both ends.
      if (profile.lossPct > 0) {
        expect(r.conditioned.client.dropped).toBeGreaterThan(0);
        expect(r.conditioned.server.dropped).toBeGreaterThan(0);
      }
      if (profile.duplicatePct > 0) expect(r.conditioned.client.duplicated + r.conditioned.server.duplicated).toBeGreaterThan(0);
      if (profile.reorderPct > 0) expect(r.conditioned.client.reordered + r.conditioned.server.reordered).toBeGreaterThan(0);
      if (profile.delayMs > 0) for (const h of r.heal) expect(h.rttBeforeHealMs).toBeGreaterThan(1.5 * profile.delayMs);
      if (transport === 'webrtc') expect(r.botChannels.every((c) => c === 'webrtc')).toBe(true);
      expect(r.failures).toEqual([]);
    }, 40_000);
  }
});
