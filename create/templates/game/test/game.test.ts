// The game's tests (node:test): its definition, its player step, and the game on the real server in this process (loopback transport) with a client that joins and moves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unclassifiedComponents } from 'tickwire/game';
import { startTestServer } from 'tickwire/testing';
import { game, SIZE, SPEED } from '../game.ts';

test('every component is networked or local', () => {
  assert.deepEqual(unclassifiedComponents(game), []);
});

test('one step moves a player SPEED * dt along its input and keeps it on the field', () => {
  const c = game.components(game.maxEntities);
  c.Pos.x[1] = 100;
  c.Pos.y[1] = 100;
  game.stepPlayer(c, 1, { x: 1, y: 0 }, 0.5);
  assert.equal(c.Pos.x[1], 100 + SPEED * 0.5);
  assert.equal(c.Pos.y[1], 100);
  game.stepPlayer(c, 1, { x: 0, y: -1 }, 10);
  assert.equal(c.Pos.y[1], 0);
});

test('a client joins, gets snapshots and moves', async () => {
  const t = startTestServer(game);
  try {
    const alice = t.join('alice');
    await t.waitFor(() => alice.joined && alice.position() !== undefined, 5000, 'alice in a snapshot');
    const from = alice.position()!;
    alice.input = { x: from.x < SIZE / 2 ? 1 : -1, y: 0 };
    await t.waitFor(() => Math.abs(alice.position()!.x - from.x) > 50, 5000, 'alice to move 50 units');
    assert.ok(alice.snapshots > 0);
    assert.equal(t.server.rooms.size, 1);
  } finally {
    await t.stop();
  }
});
