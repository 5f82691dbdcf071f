// Property test of the slot and ack rules as both clients apply them: the decoding SnapshotReceiver
// and the thin bots' header-only ThinSnapshotTracker, fed the same server packet streams under
// loss, duplication, reordering, split parts, contradicting parts and cut headers, must give the
// same outcome and the same ack for every packet.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SnapshotReceiver } from '../netcode/receiver.ts';
import { BitWriter } from '../shared/protocol/bits.ts';
import { SectionEncoder, SectionParts } from '../shared/protocol/delta.ts';
import { DecodeError } from '../shared/protocol/errors.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { SnapshotFrame, snapshotHeaderBytes, SnapshotKind } from '../shared/protocol/snapshot.ts';
import { ThinSnapshotTracker } from '../tools/bots/bot.ts';
import { codecTestGame, frameDiff, LIVELY, RandomWorld, type WorldKnobs } from './helpers/snapshot-world.ts';

const TPS = 3;
const RUNS = 1000;
const game = codecTestGame();
const schema = compileSchema(game);

type Outcome = 'complete' | 'partial' | 'duplicate' | 'stale' | 'missingBaseline' | 'error';

/** One packet the server sent: which snapshot and part, whether it is an alternate encoding or a cut copy. */
interface Packet {
  bytes: Uint8Array;
  snap: number;
  part: number;
  /** 'none' for the main encoding, else which header the alternate encoding changes. */
  alt: SnapPlan['alt'];
  cut: boolean;
}

/**
 * How the server encodes snapshot s: full, or a delta `age` snapshots back. `alt` adds a second
 * encoding of the same frame whose headers contradict the first's: the other kind, another
 * baseline, or another packet size giving another part count.
 */
interface SnapPlan {
  full: boolean;
  age: number;
  alt: 'none' | 'kind' | 'baseline' | 'parts';
}

/** What the network does to one packet. */
interface Fate {
  lost: boolean;
  copies: number;
  delay: number;
  cut: boolean;
}

interface Scenario {
  seed: number;
  entities: number;
  /** A world where most entities change every snapshot (deltas as big as full snapshots, so they split too). */
  churn: boolean;
  mtu: number;
  ring: number;
  plans: SnapPlan[];
  fates: Fate[];
}

const percent = (p: number): fc.Arbitrary<boolean> => fc.integer({ min: 0, max: 99 }).map((x) => x < p);

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
  entities: fc.constantFrom(4, 30, 90, 160),
  churn: fc.boolean(),
  mtu: fc.constantFrom(256, 400, 1200),
  ring: fc.constantFrom(2, 3, 4, 6, 32, 40),
  plans: fc.array(
    fc.record({
      full: percent(20),
      age: fc.integer({ min: 1, max: 4 }),
      alt: fc.oneof({ weight: 9, arbitrary: fc.constant('none' as const) }, fc.constantFrom('kind' as const, 'baseline' as const, 'parts' as const)),
    }),
    // long streams too: the ack's oldest bit needs 33 snapshots
    { minLength: 3, maxLength: 40, size: 'max' },
  ),
  fates: fc.array(
    fc.record({
      lost: percent(15),
      copies: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 2, arbitrary: fc.integer({ min: 2, max: 3 }) }),
      delay: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 1, arbitrary: fc.integer({ min: 5, max: 60 }) }),
      cut: percent(3),
    }),
    { maxLength: 160, size: 'max' },
  ),
});

/** Packet sizes tried for an alternate that differs only in its baseline (the smallest hold one entity of the test game). */
const SMALL_MTUS = [64, 80, 100, 128, 160, 200, 256];
const CHURN: WorldKnobs = { ...LIVELY, turn: 0.5, jump: 0.5, maskFlip: 0.1 };

/** Encoders by packet size, shared across runs (each holds large scratch tables). */
const encoders = new Map<number, { enc: SectionEncoder; w: BitWriter }>();
function encoderFor(mtu: number): { enc: SectionEncoder; w: BitWriter } {
  let e = encoders.get(mtu);
  if (!e) {
    const enc = new SectionEncoder(schema, mtu);
    e = { enc, w: new BitWriter(enc.sectionCapacityBytes()) };
    encoders.set(mtu, e);
  }
  return e;
}

/** The server's snapshots of a random world (one every TPS ticks) and every packet it sent for them, in send order. */
function serverStream(s: Scenario): { frames: SnapshotFrame[]; packets: Packet[] } {
  const world = new RandomWorld(game, s.seed, { ...(s.churn ? CHURN : LIVELY), entities: s.entities });
  const parts = new SectionParts();
  const frames: SnapshotFrame[] = [];
  const packets: Packet[] = [];
  const encode = (snap: number, base: SnapshotFrame | null, alt: SnapPlan['alt'], mtu = s.mtu): Packet[] => {
    const { enc, w } = encoderFor(mtu);
    enc.encode(frames[snap], base, w, parts);
    return Array.from({ length: parts.count }, (_, p) => ({ bytes: w.bytes.slice(parts.start[p], parts.end[p]), snap, part: p, alt, cut: false }));
  };
  s.plans.forEach((plan, snap) => {
    world.advance(TPS);
    frames.push(world.capture(new SnapshotFrame(schema)));
    const age = plan.full || snap === 0 ? 0 : Math.min(snap, plan.age);
    const base = age > 0 ? frames[snap - age] : null;
    let main = encode(snap, base, 'none');
    // the same frame again with a contradicting header (never one that agrees: a header-only
    // client cannot tell two splits with equal headers apart, a decoder can)
    let alt: Packet[] = [];
    if (plan.alt === 'kind' && (base || snap > 0)) alt = encode(snap, base ? null : frames[snap - 1], plan.alt);
    if (plan.alt === 'baseline' && base && snap > 1) {
      // only the baseline differs: a packet size that splits both into as many parts
      for (const mtu of SMALL_MTUS) {
        const m = encode(snap, base, 'none', mtu);
        const a = encode(snap, frames[snap - (age === 1 ? 2 : 1)], plan.alt, mtu);
        if (m.length > 1 && m.length === a.length) {
          main = m;
          alt = a;
          break;
        }
      }
    }
    if (plan.alt === 'parts') {
      alt = encode(snap, base, plan.alt, s.mtu === 256 ? 1200 : 256);
      if (alt.length === main.length) alt = [];
    }
    // interleaved, the one with more parts first, so that the other meets an incomplete slot
    const [a, b] = alt.length > main.length ? [alt, main] : [main, alt];
    for (let i = 0; i < a.length; i++) {
      packets.push(a[i]);
      if (i < b.length) packets.push(b[i]);
    }
  });
  return { frames, packets };
}

const NO_FATE: Fate = { lost: false, copies: 1, delay: 0, cut: false };

/** The packets as the client receives them: lost, duplicated, delayed (reordered) and sometimes cut inside the header. */
function deliver(packets: Packet[], fates: Fate[]): Packet[] {
  const queue: { at: number; seq: number; pkt: Packet }[] = [];
  packets.forEach((pkt, i) => {
    const f = fates.length > 0 ? fates[i % fates.length] : NO_FATE;
    if (f.lost) return;
    for (let c = 0; c < f.copies; c++) queue.push({ at: i + f.delay + c, seq: queue.length, pkt });
    if (f.cut) {
      const len = snapshotHeaderBytes(pkt.bytes[1] & 3) - 1 - (i % 4);
      queue.push({ at: i, seq: queue.length, pkt: { ...pkt, bytes: pkt.bytes.slice(0, Math.max(0, len)), cut: true } });
    }
  });
  queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
  return queue.map((q) => q.pkt);
}

/** What the receiver did with a packet, read from its counters (each packet moves exactly one). */
function receiverOutcome(rx: SnapshotReceiver, bytes: Uint8Array): { outcome: Outcome; frame: SnapshotFrame | undefined } {
  const c = rx.counters;
  const before = [c.received, c.completed, c.duplicates, c.stale, c.missingBaseline];
  let frame: SnapshotFrame | undefined;
  try {
    frame = rx.receive(bytes);
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    expect([c.received, c.completed, c.duplicates, c.stale, c.missingBaseline], 'a rejected packet counts nothing').toEqual(before);
    return { outcome: 'error', frame: undefined };
  }
  const moved = [c.received - before[0], c.completed - before[1], c.duplicates - before[2], c.stale - before[3], c.missingBaseline - before[4]];
  const key = moved.join('');
  const outcome: Outcome | undefined = ({ '11000': 'complete', '10000': 'partial', '00100': 'duplicate', '00010': 'stale', '00001': 'missingBaseline' } as const)[key];
  expect(outcome, `receiver counters moved ${key}`).toBeDefined();
  expect(frame !== undefined, 'a frame is returned exactly when a snapshot completes').toBe(outcome === 'complete');
  return { outcome: outcome as Outcome, frame };
}

function thinOutcome(thin: ThinSnapshotTracker, bytes: Uint8Array): Outcome {
  try {
    return thin.receive(bytes);
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    return 'error';
  }
}

/** Outcomes seen across all runs (the generator must reach every rule). */
const seen: Record<Outcome, number> = { complete: 0, partial: 0, duplicate: 0, stale: 0, missingBaseline: 0, error: 0 };
/** Packets rejected for contradicting earlier parts of their tick (not for a cut header), by the header field that differs. */
const contradicting = { kind: 0, baseline: 0, parts: 0 };
/** Packets sent that are the second or later part of a split snapshot, full and delta. */
const laterParts = { full: 0, delta: 0 };
/** Acks whose oldest bit (the snapshot 32 intervals back) was set. */
let oldestBitAcks = 0;

/** Feeds one scenario to both clients and checks them packet by packet. */
function check(s: Scenario, makeThin: (ticksPerSnapshot: number, ring: number) => ThinSnapshotTracker): void {
  const { frames, packets } = serverStream(s);
  const stream = deliver(packets, s.fates);
  const rx = new SnapshotReceiver(schema, TPS, s.ring);
  const thin = makeThin(TPS, s.ring);
  const altTicks = new Set(packets.filter((p) => p.alt !== 'none').map((p) => p.snap));
  for (const p of packets) if (p.part > 0) laterParts[(p.bytes[1] & 3) === SnapshotKind.Delta ? 'delta' : 'full']++;
  stream.forEach((pkt, k) => {
    const at = `packet ${k} (snapshot ${pkt.snap} part ${pkt.part}${pkt.alt !== 'none' ? ` alt ${pkt.alt}` : ''}${pkt.cut ? ' cut' : ''})`;
    const r = receiverOutcome(rx, pkt.bytes);
    const t = thinOutcome(thin, pkt.bytes);
    seen[r.outcome]++;
    expect(t, at).toBe(r.outcome);
    const ack = rx.ack();
    expect(Array.from(thin.ack()), `ack after ${at}`).toEqual(Array.from(ack));
    if (ack[8] & 0x80) oldestBitAcks++;
    expect(thin.newestTick, at).toBe(rx.newestTick);
    // the stream is valid server output, so only header-level rules may reject a packet: both
    // clients see the same thing only if the decoder never fails on a body
    if (r.outcome === 'error') {
      expect(pkt.cut || altTicks.has(pkt.snap), `only cut or contradicting packets are rejected: ${at}`).toBe(true);
      if (!pkt.cut) {
        const plan = s.plans[pkt.snap].alt;
        if (plan !== 'none') contradicting[plan]++;
      }
    }
    if (r.frame) expect(frameDiff(r.frame, frames[pkt.snap]), at).toBe('');
  });
  for (const f of frames) expect(thin.has(f.tick), `tick ${f.tick} held complete`).toBe(rx.get(f.tick) !== undefined);
}

describe('SnapshotReceiver and ThinSnapshotTracker', () => {
  it('give the same outcome and ack for every packet of any server stream under loss, duplication and reordering', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => check(s, (tps, ring) => new ThinSnapshotTracker(tps, ring))),
      { numRuns: RUNS },
    );
    for (const [outcome, n] of Object.entries(seen)) expect(n, `${outcome} packets`).toBeGreaterThan(RUNS / 20);
    for (const [field, n] of Object.entries(contradicting)) expect(n, `parts contradicting on ${field}`).toBeGreaterThan(RUNS / 50);
    expect(laterParts.full, 'split full snapshots').toBeGreaterThan(RUNS);
    expect(laterParts.delta, 'split deltas').toBeGreaterThan(RUNS);
    expect(oldestBitAcks, 'acks with bit 31').toBeGreaterThan(RUNS / 20);
  }, 60_000);

  it('the comparison catches a tracker that keeps one slot more than the receiver', () => {
    const run = (): void =>
      fc.assert(
        fc.property(scenarioArb, (s) => check(s, (tps, ring) => new ThinSnapshotTracker(tps, ring + 1))),
        { numRuns: RUNS, seed: 1, endOnFailure: true },
      );
    let failure: unknown;
    try {
      run();
    } catch (err) {
      failure = err;
    }
    expect(failure, 'the property fails').toBeInstanceOf(Error);
    // on an outcome or an ack the two disagree on, not on some other error
    expect(String(((failure as Error).cause as Error | undefined)?.message)).toMatch(/^(ack after )?packet \d+ \(snapshot/);
  }, 60_000);
});
