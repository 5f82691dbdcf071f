// Client-side prediction and reconciliation of the local player: every input is simulated at once
// with the game's shared step function; each snapshot resets the player to the server's state at
// the acknowledged input and replays the unacknowledged ones. Visible corrections are smoothed.
import type { AnyGame, Components, Store } from '../shared/sim/game.ts';
import { snapToNetGrid } from '../shared/sim/netgrid.ts';
import { bindFieldStores, type NetSchema } from '../shared/protocol/schema.ts';
import type { SnapshotFrame } from '../shared/protocol/snapshot.ts';
import { seqAdd, seqDiff } from '../shared/sequence.ts';

/** Settings of the predictor. */
export interface PredictionOptions {
  /** Time constant of the exponential decay of a smoothed correction, ms. Default 100. */
  smoothingMs: number;
  /** Corrections of the visible position larger than this are snapped, not smoothed, world units. Default 64. */
  snapDistance: number;
  /** The two networked fields holding the position, "Component.field". Default: the game's declared `position`. */
  positionFields?: readonly [string, string];
}

/** Defaults of PredictionOptions. */
export const DEFAULT_PREDICTION: Readonly<PredictionOptions> = Object.freeze({ smoothingMs: 100, snapDistance: 64 });

/** The position fields of a game ("Component.field"), or an error naming the game that declares none. */
export function gamePositionFields(game: AnyGame): readonly [string, string] {
  if (!game.position) throw new Error(`game ${JSON.stringify(game.name)} declares no position fields (GameDefinition.position: { x: 'Component.field', y: 'Component.field' }); clients need them to predict, interpolate and draw`);
  return [game.position.x, game.position.y];
}

/** Counters of the predictor. */
export interface PredictionStats {
  /** Inputs simulated when produced. */
  predicted: number;
  /** Reconciliations (snapshots that reset the local player). */
  reconciled: number;
  /** Inputs replayed during reconciliations. */
  replayed: number;
  /** Acknowledged inputs whose predicted state differed from the server's. */
  corrections: number;
  /** Sum of the position errors of those corrections, world units. */
  correctionUnits: number;
  /** Largest position error of a correction, world units. */
  maxCorrectionUnits: number;
  /** Visible corrections snapped because they exceeded snapDistance. */
  snaps: number;
}

/** Looks up the exact (quantized, dequantized) input of a sequence: Connection.inputAt. */
export type InputLookup = (seq: number, out: Record<string, number>) => Record<string, number>;

const RING = 64;

/**
 * Predicts one entity on a private copy of the game's components. Stores the predicted networked
 * state after each input (a 64-entry ring by sequence) so that each acknowledgement can be checked
 * exactly against the server's state and the unacknowledged inputs can be replayed.
 */
export class Predictor {
  /** The client's own components (only the local entity is used). */
  readonly c: Components;
  readonly stores: Store[];
  readonly stats: PredictionStats = { predicted: 0, reconciled: 0, replayed: 0, corrections: 0, correctionUnits: 0, maxCorrectionUnits: 0, snaps: 0 };
  /** The predicted entity, or -1. */
  eid = -1;
  /** True once the entity's state came from a snapshot. */
  initialized = false;
  /** Sequence of the newest predicted input (valid when hasInput). */
  newestSeq = 0;
  hasInput = false;
  /** Sequence of the first input predicted since setEntity (replayed from here until the server acks one). */
  firstSeq = 0;
  /** Position error of the most recent correction, world units (0 when the last check matched). */
  lastErrorUnits = 0;
  /** Visible smoothing offset added to the predicted position, world units. */
  offsetX = 0;
  offsetY = 0;
  /** Index of the position fields in the schema. */
  readonly xField: number;
  readonly yField: number;
  private readonly nf: number;
  private readonly hist: Float64Array;
  private readonly histSeq: Int32Array;
  /**
   * Fields of the components the step function has been seen to change (a whole component once
   * any of its fields changed): only these are compared at acks. Fields the step never touches
   * (hp changed by a server system, say) are taken from the server without counting a correction.
   */
  readonly predictedFields: Uint8Array;
  private readonly before: Float64Array;
  private readonly input: Record<string, number>;
  private readonly o: PredictionOptions;
  private lastReconciledTick = -1;

  constructor(
    readonly game: AnyGame,
    readonly schema: NetSchema,
    opts: Partial<PredictionOptions> = {},
  ) {
    this.o = { ...DEFAULT_PREDICTION, ...opts };
    this.c = game.components(game.maxEntities) as Components;
    this.stores = bindFieldStores(schema, this.c);
    this.nf = schema.fields.length;
    this.hist = new Float64Array(RING * this.nf);
    this.histSeq = new Int32Array(RING).fill(-1);
    this.predictedFields = new Uint8Array(this.nf);
    this.before = new Float64Array(this.nf);
    this.input = Object.fromEntries(schema.inputFields.map((f) => [f.name, 0]));
    const fields = this.o.positionFields ?? gamePositionFields(game);
    const find = (name: string): number => {
      const i = schema.fields.findIndex((f) => `${f.component}.${f.field}` === name);
      if (i < 0) throw new Error(`game ${JSON.stringify(game.name)}: position field ${name} is not a networked field`);
      return i;
    };
    this.xField = find(fields[0]);
    this.yField = find(fields[1]);
  }

  /** Selects the entity to predict (from the welcome); forgets previous state. */
  setEntity(eid: number): void {
    this.eid = eid;
    this.initialized = false;
    this.hasInput = false;
    this.histSeq.fill(-1);
    this.offsetX = 0;
    this.offsetY = 0;
    this.lastReconciledTick = -1;
  }

  /** Simulates input `seq` (its exact values from `inputAt`) one fixed step of `dtSec`. */
  predict(seq: number, inputAt: InputLookup, dtSec: number): void {
    if (!this.hasInput) this.firstSeq = seq;
    this.newestSeq = seq;
    this.hasInput = true;
    if (this.eid < 0 || !this.initialized) return;
    this.step(seq, inputAt, dtSec, true);
    this.stats.predicted++;
  }

  private step(seq: number, inputAt: InputLookup, dtSec: number, learn: boolean): void {
    const eid = this.eid;
    const stores = this.stores;
    const nf = this.nf;
    if (learn) for (let f = 0; f < nf; f++) this.before[f] = stores[f][eid];
    this.game.stepPlayer(this.c, eid, inputAt(seq, this.input), dtSec);
    snapToNetGrid(this.schema, stores, eid);
    const base = (seq & (RING - 1)) * nf;
    for (let f = 0; f < nf; f++) {
      const v = stores[f][eid];
      if (learn && v !== this.before[f] && !this.predictedFields[f]) this.learn(f);
      this.hist[base + f] = v;
    }
    this.histSeq[seq & (RING - 1)] = seq;
  }

  private learn(f: number): void {
    const ci = this.schema.fields[f].compIndex;
    for (let g = 0; g < this.nf; g++) if (this.schema.fields[g].compIndex === ci) this.predictedFields[g] = 1;
  }

  /**
   * Applies a snapshot: checks the prediction stored for the acknowledged input against the
   * server's state of the entity, then (with `reconcile`) resets to the server's state and replays
   * every input after the ack; without it the entity simply takes the server's state (what the
   * player sees without reconciliation). `hasAck` false means no input was applied yet. Older or
   * repeated snapshots are ignored. Returns true when the snapshot was applied.
   */
  onSnapshot(frame: SnapshotFrame, hasAck: boolean, ackSeq: number, inputAt: InputLookup, dtSec: number, reconcile: boolean): boolean {
    if (this.eid < 0 || frame.tick <= this.lastReconciledTick) return false;
    const row = frame.indexOf(this.eid);
    if (row < 0) return false;
    this.lastReconciledTick = frame.tick;
    const nf = this.nf;
    const fields = this.schema.fields;
    const stores = this.stores;
    const eid = this.eid;
    const vals = frame.values;
    const base = row * frame.fieldCount;
    // 1. Check: the state predicted after the acknowledged input against the server's.
    if (hasAck && this.initialized) {
      const slot = ackSeq & (RING - 1);
      if (this.histSeq[slot] === ackSeq) {
        let mismatch = false;
        const h = slot * nf;
        for (let f = 0; f < nf; f++) {
          if (this.predictedFields[f] && fields[f].q.quantize(this.hist[h + f]) !== vals[base + f]) mismatch = true;
        }
        if (mismatch) {
          const err = this.positionError(h, vals, base);
          this.stats.corrections++;
          this.stats.correctionUnits += err;
          if (err > this.stats.maxCorrectionUnits) this.stats.maxCorrectionUnits = err;
          this.lastErrorUnits = err;
          // What the client holds after this input is the server's state now: a later snapshot
          // acknowledging the same input (the server applied nothing newer) is not a new correction.
          for (let f = 0; f < nf; f++) this.hist[h + f] = fields[f].q.dequantize(vals[base + f]);
        } else {
          this.lastErrorUnits = 0;
        }
      }
    }
    // 2. Reset to the server's state.
    const oldX = this.xField >= 0 && this.initialized ? stores[this.xField][eid] : NaN;
    const oldY = this.yField >= 0 && this.initialized ? stores[this.yField][eid] : NaN;
    for (let f = 0; f < nf; f++) stores[f][eid] = fields[f].q.dequantize(vals[base + f]);
    const wasInitialized = this.initialized;
    this.initialized = true;
    this.stats.reconciled++;
    // 3. Replay the inputs the server has not applied yet.
    if (reconcile && this.hasInput) {
      // Before the server applied any input, every input sent so far is still to come.
      const from = hasAck ? seqAdd(ackSeq, 1) : this.firstSeq;
      const pending = seqDiff(this.newestSeq, from) + 1;
      if (pending > 0 && pending < RING) {
        for (let s = from, i = 0; i < pending; i++, s = seqAdd(s, 1)) {
          this.step(s, inputAt, dtSec, false);
          this.stats.replayed++;
        }
      }
    }
    // 4. Smooth the visible change of the present position, unless it is large.
    if (reconcile && wasInitialized && this.xField >= 0 && this.yField >= 0) {
      const dx = oldX - stores[this.xField][eid];
      const dy = oldY - stores[this.yField][eid];
      if (dx !== 0 || dy !== 0) {
        const ox = this.offsetX + dx;
        const oy = this.offsetY + dy;
        if (Math.sqrt(ox * ox + oy * oy) > this.o.snapDistance) {
          this.offsetX = 0;
          this.offsetY = 0;
          this.stats.snaps++;
        } else {
          this.offsetX = ox;
          this.offsetY = oy;
        }
      }
    } else {
      this.offsetX = 0;
      this.offsetY = 0;
    }
    return true;
  }

  private positionError(h: number, vals: Uint32Array, base: number): number {
    if (this.xField < 0 || this.yField < 0) return 0;
    const fx = this.schema.fields[this.xField].q;
    const fy = this.schema.fields[this.yField].q;
    const dx = this.hist[h + this.xField] - fx.dequantize(vals[base + this.xField]);
    const dy = this.hist[h + this.yField] - fy.dequantize(vals[base + this.yField]);
    return Math.sqrt(dx * dx + dy * dy);
  }

  /** Decays the smoothing offset over `dtMs` of real time. */
  decay(dtMs: number): void {
    if (this.offsetX === 0 && this.offsetY === 0) return;
    const k = Math.exp(-Math.max(0, dtMs) / this.o.smoothingMs);
    this.offsetX *= k;
    this.offsetY *= k;
    if (Math.abs(this.offsetX) < 1e-3 && Math.abs(this.offsetY) < 1e-3) {
      this.offsetX = 0;
      this.offsetY = 0;
    }
  }

  /** Stored predicted value of field `f` after input `seq`, or NaN when not in the ring. */
  predictedAt(seq: number, f: number): number {
    const slot = seq & (RING - 1);
    return this.histSeq[slot] === seq ? this.hist[slot * this.nf + f] : NaN;
  }

  /**
   * The position to draw: the state after the newest input blended from the state one input
   * earlier by `alpha` (0..1, the command clock's progress through the current tick), plus the
   * smoothing offset. Returns false when nothing is predicted yet.
   */
  renderPosition(alpha: number, out: { x: number; y: number }): boolean {
    if (this.eid < 0 || !this.initialized || this.xField < 0 || this.yField < 0) return false;
    const x = this.stores[this.xField][this.eid];
    const y = this.stores[this.yField][this.eid];
    let px = x;
    let py = y;
    if (this.hasInput) {
      const prev = seqAdd(this.newestSeq, -1);
      const slot = prev & (RING - 1);
      if (this.histSeq[slot] === prev && this.histSeq[this.newestSeq & (RING - 1)] === this.newestSeq) {
        px = this.hist[slot * this.nf + this.xField];
        py = this.hist[slot * this.nf + this.yField];
      }
    }
    const a = alpha < 0 ? 0 : alpha > 1 ? 1 : alpha;
    out.x = px + (x - px) * a + this.offsetX;
    out.y = py + (y - py) * a + this.offsetY;
    return true;
  }

  /** Current predicted (unsmoothed) value of networked field `f` of the entity. */
  value(f: number): number {
    return this.eid < 0 ? NaN : this.stores[f][this.eid];
  }
}
