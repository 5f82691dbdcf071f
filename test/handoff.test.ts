// Live room handoff with real server processes on a real redis-server (tools/measure/handoff-run.ts):
// 40 players with the whole client netcode in 4 rooms on member a, a drained with handoff; on a
// clean link and under 100 ms / 5% loss; and a member of another game version that refuses the
// rooms, which stay on a. No Redis mock, no server mock.
import { describe, expect, it } from 'vitest';
import { runHandoff, type HandoffRunResult } from '../tools/measure/handoff-run.ts';

const root = new URL('..', import.meta.url).pathname;

function expectMoved(r: HandoffRunResult): void {
  expect(r.players).toBe(40);
  expect(r.rooms).toBe(4);
  // every room moved to b, every player kept its session and entity and resumed there
  expect(r.roomsMoved).toBe(4);
  expect(r.roomsStayed).toBe(0);
  expect(r.resumed).toBe(40);
  expect(r.lostEntities).toBe(0);
  // every chat message of every sender reached every receiver of its room once, in order
  expect(r.reliableExpected).toBeGreaterThan(40 * 10 * 4);
  expect(r.reliableLost).toBe(0);
  expect(r.reliableDuplicated).toBe(0);
  expect(r.reliableReordered).toBe(0);
  // the counters of both sides moved: a handed off 4 rooms, b received them and their bytes
  expect(r.movedLogged).toBe(4);
  expect(r.handedOff).toBeGreaterThanOrEqual(1);
  expect(r.bytesPerRoom).toBeGreaterThan(0);
  expect(r.refusedBySender).toBe(0);
  // a left the fleet and exited by itself once its rooms were gone
  expect(r.senderExited).toBe(true);
  expect(r.senderExitCode).toBe(0);
  expect(Number.isFinite(r.gapMs.p99)).toBe(true);
  // at most one correction per player from the move (prediction continues from the restored tick)
  expect(r.correctionsExtraMax).toBeLessThanOrEqual(1);
}

describe('live room handoff between fleet members', () => {
  it('40 players in 4 rooms on a: drained with handoff, every room moves to b with its sessions, entities and reliable messages; a exits', async () => {
    const r = await runHandoff({ root, seed: 1 });
    console.log('handoff', JSON.stringify(r));
    expectMoved(r);
  }, 180_000);

  it('the same under 100 ms each way and 5% loss of snapshots and inputs', async () => {
    const r = await runHandoff({ root, seed: 2, link: { delayMs: 100, lossPct: 5 } });
    console.log('handoff under loss', JSON.stringify(r));
    expectMoved(r);
  }, 180_000);

  it('a member hosting another game version refuses the rooms: they stay on a and play on, nobody moves', async () => {
    const r = await runHandoff({ root, seed: 3, targetGame: 'arena-v2' });
    console.log('handoff refused', JSON.stringify(r));
    expect(r.roomsStayed).toBe(4);
    expect(r.roomsMoved).toBe(0);
    expect(r.resumed).toBe(0);
    expect(r.lostEntities).toBe(0);
    expect(r.handedOff).toBe(0);
    expect(r.refusedBySender).toBeGreaterThanOrEqual(4);
    expect(r.refusedByTarget).toBeGreaterThanOrEqual(4);
    expect(r.reliableLost).toBe(0);
    expect(r.reliableDuplicated).toBe(0);
    expect(r.reliableReordered).toBe(0);
    expect(r.senderExited).toBe(false);
  }, 180_000);
});
