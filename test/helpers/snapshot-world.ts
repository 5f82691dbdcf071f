// Test worlds for the snapshot codec: a game with every kind of quantizer, and a seeded random world
// that moves, turns, jumps, gains and loses components, spawns and despawns, captured as frames.
import { defineGame, type AnyGame } from '../../shared/sim/game.ts';
import { angle, bool, fixed, int, uint } from '../../shared/protocol/quantize.ts';
import { compileSchema, type NetSchema } from '../../shared/protocol/schema.ts';
import { SnapshotFrame, snapshotLayout } from '../../shared/protocol/snapshot.ts';
import { Rng } from '../../shared/sim/rng.ts';

const comps = (n: number) => ({
  Pos: { x: new Float32Array(n), y: new Float32Array(n) },
  Dir: { a: new Float32Array(n) },
  Flag: { on: new Uint8Array(n) },
  Hp: { v: new Uint8Array(n), small: new Int8Array(n) },
  Big: { n: new Float64Array(n), z: new Float32Array(n) },
  Tag: {},
});

/** A game whose networked table uses fixed (rated), angle (wrapping), bool, uint, int and 32-bit fields, plus a tag. */
export function codecTestGame(maxEntities = 300): AnyGame {
  return defineGame<ReturnType<typeof comps>, { b: number }>({
    name: 'codec-test',
    maxEntities,
    components: comps,
    networked: {
      Pos: { x: fixed(0, 1024, 1 / 8), y: fixed(-64, 64, 1 / 16) },
      Dir: { a: angle(6) },
      Flag: { on: bool() },
      Hp: { v: uint(7), small: int(-2, 3) },
      Big: { n: uint(32), z: fixed(0, 1, 1 / 4) },
      Tag: {},
    },
    local: [],
    input: { b: uint(1) },
    stepPlayer() {},
    systems: () => [],
    spawnPlayer: (ctx) => ctx.spawn(),
  });
}

/** Knobs of a random world (probabilities per entity per tick unless noted). */
export interface WorldKnobs {
  /** Entities at start. */
  entities: number;
  /** Chance per tick that an entity's rates change (a turn). */
  turn: number;
  /** Chance per snapshot that a non-rated field jumps to a random value. */
  jump: number;
  /** Chance per snapshot that an entity gains or loses a component. */
  maskFlip: number;
  /** Chance per snapshot that an entity is removed, and expected creations per snapshot. */
  despawn: number;
  spawn: number;
  /** Largest per-tick rate, in quantized steps. */
  maxRate: number;
}

/** Default knobs: a lively world where every codec path is hit. */
export const LIVELY: WorldKnobs = { entities: 40, turn: 0.05, jump: 0.05, maskFlip: 0.02, despawn: 0.02, spawn: 0.8, maxRate: 40 };

interface Ent {
  mask: number;
  values: number[];
  rates: number[];
}

/** A seeded random world over a schema; `advance` runs ticks, `capture` writes the current frame. */
export class RandomWorld {
  readonly schema: NetSchema;
  tick = 0;
  private readonly ents = new Map<number, Ent>();
  private readonly layout;
  private readonly rng: Rng;

  constructor(game: AnyGame, seed: number, readonly knobs: WorldKnobs = LIVELY) {
    this.schema = compileSchema(game);
    this.layout = snapshotLayout(this.schema);
    this.rng = new Rng(seed);
    for (let i = 0; i < knobs.entities; i++) this.spawn();
  }

  get size(): number {
    return this.ents.size;
  }

  private randomValue(f: number): number {
    const q = this.layout.q[f];
    return q.maxQ > 2 ** 31 ? Math.floor(this.rng.next() * (q.maxQ + 1)) : this.rng.int(q.maxQ + 1);
  }

  private randomRate(r: number): number {
    const f = this.layout.rateField[r];
    const m = Math.min(this.knobs.maxRate, this.layout.q[f].maxQ);
    return this.rng.next() < 0.25 ? 0 : this.rng.int(2 * m + 1) - m;
  }

  private spawn(): void {
    const free: number[] = [];
    for (let id = 0; id < this.schema.maxEntities && free.length < 64; id++) if (!this.ents.has((id * 7919) % this.schema.maxEntities)) free.push((id * 7919) % this.schema.maxEntities);
    if (free.length === 0) return;
    const id = free[this.rng.int(free.length)];
    const nc = this.layout.nc;
    let mask = 0;
    for (let c = 0; c < nc; c++) if (this.rng.next() < 0.7) mask |= 1 << c;
    if (mask === 0) mask = 1;
    const e: Ent = { mask, values: new Array(this.layout.nf).fill(0), rates: new Array(this.layout.nr).fill(0) };
    for (let f = 0; f < this.layout.nf; f++) if ((mask >>> this.schema.fields[f].compIndex) & 1) e.values[f] = this.randomValue(f);
    for (let r = 0; r < this.layout.nr; r++) if ((mask >>> this.layout.slotComp[r]) & 1) e.rates[r] = this.randomRate(r);
    this.ents.set(id, e);
  }

  /** Runs `ticks` simulation ticks, then the once-per-snapshot events (jumps, components, spawns). */
  advance(ticks: number): void {
    const { nr, rateField, slotComp, q } = this.layout;
    for (let t = 0; t < ticks; t++) {
      this.tick++;
      for (const e of this.ents.values()) {
        for (let r = 0; r < nr; r++) {
          if (!((e.mask >>> slotComp[r]) & 1)) continue;
          const f = rateField[r];
          if (this.rng.next() < this.knobs.turn) e.rates[r] = this.randomRate(r);
          let v = e.values[f] + e.rates[r];
          if (v < 0 || v > q[f].maxQ) {
            // Reflect off the bounds: this tick's change is whatever keeps it in range.
            const nv = v < 0 ? 0 : q[f].maxQ;
            e.rates[r] = nv - e.values[f];
            v = nv;
          }
          e.values[f] = v;
        }
      }
    }
    for (const [id, e] of [...this.ents]) {
      if (this.rng.next() < this.knobs.despawn) {
        this.ents.delete(id);
        continue;
      }
      for (let f = 0; f < this.layout.nf; f++) {
        if (this.layout.rateOfField[f] >= 0 || !((e.mask >>> this.schema.fields[f].compIndex) & 1)) continue;
        if (this.rng.next() < this.knobs.jump) e.values[f] = this.randomValue(f);
      }
      if (this.rng.next() < this.knobs.maskFlip) {
        const c = this.rng.int(this.layout.nc);
        e.mask ^= 1 << c;
        if (e.mask === 0) e.mask = 1 << c;
        for (let f = 0; f < this.layout.nf; f++) {
          if (this.schema.fields[f].compIndex !== c) continue;
          e.values[f] = (e.mask >>> c) & 1 ? this.randomValue(f) : 0;
        }
        for (let r = 0; r < nr; r++) if (slotComp[r] === c) e.rates[r] = (e.mask >>> c) & 1 ? this.randomRate(r) : 0;
      }
    }
    let spawns = Math.floor(this.knobs.spawn) + (this.rng.next() < this.knobs.spawn % 1 ? 1 : 0);
    while (spawns-- > 0) this.spawn();
  }

  /** Writes the current state into `frame` (ids ascending; absent components as 0). */
  capture(frame: SnapshotFrame): SnapshotFrame {
    const ids = [...this.ents.keys()].sort((a, b) => a - b);
    const { nf, nr } = this.layout;
    frame.ensureCapacity(ids.length);
    frame.tick = this.tick;
    frame.count = ids.length;
    frame.complete = true;
    ids.forEach((id, i) => {
      const e = this.ents.get(id) as Ent;
      frame.ids[i] = id;
      frame.masks[i] = e.mask;
      for (let f = 0; f < nf; f++) frame.values[i * nf + f] = e.values[f];
      for (let r = 0; r < nr; r++) frame.rates[i * nr + r] = e.rates[r];
    });
    return frame;
  }
}

/** A standalone copy of a frame. */
export function cloneFrame(schema: NetSchema, f: SnapshotFrame): SnapshotFrame {
  const c = new SnapshotFrame(schema, Math.max(1, f.count));
  c.copyFrom(f);
  return c;
}

/** A readable description of the first difference between two frames (or '' when equal, rates included). */
export function frameDiff(a: SnapshotFrame, b: SnapshotFrame): string {
  if (a.count !== b.count) return `count ${a.count} vs ${b.count}`;
  for (let i = 0; i < a.count; i++) {
    if (a.ids[i] !== b.ids[i]) return `row ${i}: id ${a.ids[i]} vs ${b.ids[i]}`;
    if (a.masks[i] !== b.masks[i]) return `entity ${a.ids[i]}: mask ${a.masks[i]} vs ${b.masks[i]}`;
    for (let f = 0; f < a.fieldCount; f++) {
      if (a.values[i * a.fieldCount + f] !== b.values[i * b.fieldCount + f]) return `entity ${a.ids[i]}: field ${f} ${a.values[i * a.fieldCount + f]} vs ${b.values[i * b.fieldCount + f]}`;
    }
    for (let r = 0; r < a.rateCount; r++) {
      if (a.rates[i * a.rateCount + r] !== b.rates[i * b.rateCount + r]) return `entity ${a.ids[i]}: rate ${r} ${a.rates[i * a.rateCount + r]} vs ${b.rates[i * b.rateCount + r]}`;
    }
  }
  return '';
}
