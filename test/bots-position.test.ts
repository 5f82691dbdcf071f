// The bots on games other than arena-v1: full-netcode bots measure their render error on the
// position fields the game declares (tag's Body.x/Body.y, orbit's Pos.x/Pos.y), not on a guessed
// Position.x, so `npm run bots` against the default server (tag) reports no probe error.
import { afterAll, describe, expect, it } from 'vitest';
import { orbit } from '../games/orbit.ts';
import { tag } from '../games/tag.ts';
import type { TickwireServer } from '../server/server.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import { runBots } from '../tools/bots/cli.ts';
import { startTestServer, urlOf } from './helpers/server.ts';

const servers: TickwireServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

describe('bots on games with their own position fields', () => {
  for (const game of [tag, orbit] as AnyGame[]) {
    it(`${game.name} (${game.position!.x}, ${game.position!.y}): the full bot reports render error and no errors`, async () => {
      const srv = await startTestServer({ gameParams: { npcs: 6 } }, { game });
      servers.push(srv);
      const r = await runBots({ url: urlOf(srv), count: 3, transport: 'ws', seconds: 2, rampPerSec: 50, seed: 3, fullBots: 1, json: true, script: 'idle', inProcess: true });
      const s = r.summary;
      expect(s.errorReasons).toEqual({});
      expect(s.connected).toBe(3);
      expect(s.fullBots).toBe(1);
      expect(s.renderErrorSamples).toBeGreaterThan(20);
      expect(s.renderErrorUnits.mean).not.toBeNull();
      expect(s.renderErrorUnits.p99!).toBeLessThan(200);
    }, 30_000);
  }
});
