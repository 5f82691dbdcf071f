// Plays a replay file headless, as the browser's player does, and keeps every frame it decodes.
import { expect } from 'vitest';
import { ReplayPlayer } from '../../netcode/replay-player.ts';
import { compileSchema } from '../../shared/protocol/schema.ts';
import { SnapshotFrame } from '../../shared/protocol/snapshot.ts';
import type { AnyGame } from '../../shared/sim/game.ts';

/** Plays the whole file from its start in 20 ms steps at speed 4; returns every frame decoded, copied, by tick. */
export function playAll(game: AnyGame, bytes: Uint8Array): { player: ReplayPlayer; frames: Map<number, SnapshotFrame> } {
  const schema = compileSchema(game);
  const frames = new Map<number, SnapshotFrame>();
  const player = new ReplayPlayer(game, bytes, {
    onFrame: (f) => {
      const copy = new SnapshotFrame(schema, f.count);
      copy.copyFrom(f);
      frames.set(f.tick, copy);
    },
  });
  player.setSpeed(4);
  player.play();
  for (let steps = 0; player.playing && steps < 1_000_000; steps++) player.advance(20);
  expect(player.error).toBeUndefined();
  expect(player.tick).toBe(player.endTick);
  return { player, frames };
}

