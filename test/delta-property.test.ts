// Property tests: random worlds streamed by the server's delta encoder to a client receiver over a
// link that loses, duplicates and reorders snapshots and acks. Every complete frame the client
// decodes equals the server's frame of that tick, and the fallbacks to full snapshots are exercised.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { makeNetConfig } from '../shared/config.ts';
import { SnapshotReceiver } from '../netcode/receiver.ts';
import { readSnapshotAck, readSnapshotPacketHeader, newSnapshotHeader, SnapshotFrame, type SnapshotAck } from '../shared/protocol/snapshot.ts';
import { Rng } from '../shared/sim/rng.ts';
import { SnapshotHistory } from '../server/history.ts';
import { DeltaSnapshotEncoder, newEncoderStats, type EncoderStats, type SnapshotClient } from '../server/snapshots.ts';
import { cloneFrame, codecTestGame, frameDiff, LIVELY, RandomWorld } from './helpers/snapshot-world.ts';
import type { AnyGame } from '../shared/sim/game.ts';

/** One simulated link direction: loss, duplication and reordering (delays of 0..maxDelay steps). */
class Link {
  private queue: { at: number; order: number; bytes: Uint8Array }[] = [];
  constructor(private readonly rng: Rng, private readonly loss: number, private readonly dup: number, private readonly maxDelay: number) {}
  send(step: number, bytes: Uint8Array): void {
    if (this.rng.next() < this.loss) return;
    const copies = this.rng.next() < this.dup ? 2 : 1;
    for (let c = 0; c < copies; c++) this.queue.push({ at: step + this.rng.int(this.maxDelay + 1), order: this.rng.next(), bytes: bytes.slice() });
  }
  due(step: number): Uint8Array[] {
    const now = this.queue.filter((m) => m.at <= step).sort((a, b) => a.at - b.at || a.order - b.order);
    this.queue = this.queue.filter((m) => m.at > step);
    return now.map((m) => m.bytes);
  }
}

interface Scenario {
  seed: number;
  game: 'codec-test' | 'arena';
  entities: number;
  ticksPerSnapshot: number;
  maxPacketBytes: number;
  historyFrames: number;
  ringLength: number;
  loss: number;
  ackLoss: number;
  dup: number;
  maxDelay: number;
  steps: number;
}

interface Outcome {
  stats: EncoderStats;
  complete: number;
  partial: number;
  missingBaseline: number;
}

const games: Record<Scenario['game'], AnyGame> = { 'codec-test': codecTestGame(400), arena };

/** Runs one scenario; throws (failing the property) on any mismatch. */
function run(s: Scenario): Outcome {
  const game = games[s.game];
  const world = new RandomWorld(game, s.seed, { ...LIVELY, entities: s.entities, maxRate: 30 });
  const schema = world.schema;
  const net = makeNetConfig({ tickRateHz: 60, snapshotRateHz: 60 / s.ticksPerSnapshot, maxPacketBytes: s.maxPacketBytes });
  const stats = newEncoderStats();
  const encoder = new DeltaSnapshotEncoder(schema, net, stats, { maxSections: 2 });
  const history = new SnapshotHistory(schema, s.historyFrames);
  const receiver = new SnapshotReceiver(schema, s.ticksPerSnapshot, s.ringLength);
  const rng = new Rng(s.seed ^ 0x5bd1e995);
  const down = new Link(rng, s.loss, s.dup, s.maxDelay);
  const up = new Link(rng, s.ackLoss, s.dup, s.maxDelay);
  const client: SnapshotClient = { ackedTick: -1, ackedBits: 0, inputAck: 0, hasInputAck: false };
  const truth = new Map<number, SnapshotFrame>();
  const ack: SnapshotAck = { tick: 0, bits: 0 };
  const h = newSnapshotHeader();
  let complete = 0;
  const deliver = (step: number): void => {
    for (const bytes of down.due(step)) {
      expect(bytes.length).toBeLessThanOrEqual(s.maxPacketBytes);
      let frame = receiver.receive(bytes);
      readSnapshotPacketHeader(bytes, h);
      // Now and then look at an incomplete snapshot's display frame.
      if (!frame && h.partCount > 1 && rng.next() < 0.3) frame = receiver.display(h.tick);
      if (frame) {
        expect(frame.tick).toBe(h.tick);
        for (let i = 1; i < frame.count; i++) expect(frame.ids[i]).toBeGreaterThan(frame.ids[i - 1]);
        if (frame.complete) {
          complete++;
          const want = truth.get(frame.tick);
          expect(want, `truth of tick ${frame.tick}`).toBeDefined();
          expect(frameDiff(frame, want as SnapshotFrame), `tick ${frame.tick}`).toBe('');
        }
      }
      up.send(step, receiver.ack());
    }
    for (const bytes of up.due(step)) {
      readSnapshotAck(bytes, ack);
      // The server's rule (server.ts): newer acks only, never a tick from the future.
      if ((client.ackedTick < 0 || ack.tick > client.ackedTick) && ack.tick <= world.tick) {
        client.ackedTick = ack.tick;
        client.ackedBits = ack.bits;
      }
    }
  };
  for (let step = 0; step < s.steps; step++) {
    world.advance(s.ticksPerSnapshot);
    const frame = history.claim(world.tick);
    world.capture(frame);
    truth.set(world.tick, cloneFrame(schema, frame));
    encoder.begin(frame, history);
    encoder.encodeFor(client, (bytes) => down.send(step, bytes));
    deliver(step);
  }
  // Then a clean link: the client must converge on the newest frame.
  const cleanDown = new Link(rng, 0, 0, 0);
  const cleanUp = new Link(rng, 0, 0, 0);
  let lastTick = -1;
  for (let step = s.steps; step < s.steps + 40 && (lastTick < 0 || receiver.newestTick !== lastTick); step++) {
    world.advance(s.ticksPerSnapshot);
    const frame = history.claim(world.tick);
    world.capture(frame);
    truth.set(world.tick, cloneFrame(schema, frame));
    lastTick = world.tick;
    encoder.begin(frame, history);
    encoder.encodeFor(client, (bytes) => cleanDown.send(step, bytes));
    for (const bytes of [...down.due(step), ...cleanDown.due(step)]) {
      const f = receiver.receive(bytes);
      if (f?.complete) {
        complete++;
        expect(frameDiff(f, truth.get(f.tick) as SnapshotFrame)).toBe('');
      }
      cleanUp.send(step, receiver.ack());
    }
    for (const bytes of [...up.due(step), ...cleanUp.due(step)]) {
      readSnapshotAck(bytes, ack);
      if ((client.ackedTick < 0 || ack.tick > client.ackedTick) && ack.tick <= world.tick) {
        client.ackedTick = ack.tick;
        client.ackedBits = ack.bits;
      }
    }
  }
  expect(receiver.newestTick, 'converged on the newest snapshot').toBe(lastTick);
  expect(frameDiff(receiver.latest() as SnapshotFrame, truth.get(lastTick) as SnapshotFrame)).toBe('');
  return { stats, complete, partial: receiver.counters.partial, missingBaseline: receiver.counters.missingBaseline };
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
  game: fc.constantFrom<Scenario['game']>('codec-test', 'codec-test', 'arena'),
  entities: fc.integer({ min: 0, max: 150 }),
  ticksPerSnapshot: fc.constantFrom(1, 2, 3, 4),
  maxPacketBytes: fc.constantFrom(256, 400, 1200),
  historyFrames: fc.integer({ min: 2, max: 24 }),
  ringLength: fc.constantFrom(4, 8, 32),
  loss: fc.double({ min: 0, max: 0.5, noNaN: true }),
  ackLoss: fc.double({ min: 0, max: 0.7, noNaN: true }),
  dup: fc.double({ min: 0, max: 0.3, noNaN: true }),
  maxDelay: fc.integer({ min: 0, max: 3 }),
  steps: fc.integer({ min: 10, max: 60 }),
});

describe('snapshot stream under loss, duplication and reordering', () => {
  it('client frames always equal the server frames of their tick; fallbacks are taken', () => {
    const total = { ...newEncoderStats(), complete: 0, partial: 0, missingBaseline: 0 };
    fc.assert(
      fc.property(scenario, (s) => {
        const o = run(s);
        for (const k of Object.keys(o.stats) as (keyof EncoderStats)[]) total[k] = k === 'largestPacketBytes' ? Math.max(total[k], o.stats[k]) : total[k] + o.stats[k];
        total.complete += o.complete;
        total.partial += o.partial;
        total.missingBaseline += o.missingBaseline;
      }),
      { numRuns: Number(process.env.SNAPSHOT_PROPERTY_RUNS ?? 120) },
    );
    expect(total.complete).toBeGreaterThan(1000);
    expect(total.deltaSnapshots).toBeGreaterThan(total.fullSnapshots);
    expect(total.fullNoAck).toBeGreaterThan(0);
    expect(total.fullBaselineGone).toBeGreaterThan(0);
    expect(total.splitSnapshots).toBeGreaterThan(0);
    expect(total.partial).toBeGreaterThan(0);
    expect(total.deltaUnacked).toBeGreaterThan(0);
    expect(total.largestPacketBytes).toBeLessThanOrEqual(1200);
  }, 60_000); // 120 scenarios: seconds alone, more on a loaded machine

  it('keeps up through a long ack blackout by falling back to full snapshots, then returns to deltas', () => {
    const o = run({ seed: 42, game: 'arena', entities: 120, ticksPerSnapshot: 3, maxPacketBytes: 1200, historyFrames: 6, ringLength: 32, loss: 0.1, ackLoss: 0.95, dup: 0, maxDelay: 0, steps: 60 });
    expect(o.stats.fullBaselineGone).toBeGreaterThan(0);
    expect(o.stats.deltaSnapshots).toBeGreaterThan(0);
  });
});
