// Snapshot history: the replicated state captured at each snapshot tick, in a fixed ring, so
// delta encoding can find the baseline a client acknowledged.
import { SnapshotFrame } from '../shared/protocol/snapshot.ts';
import type { NetSchema } from '../shared/protocol/schema.ts';
import type { GameContext, Components, Store } from '../shared/game.ts';

/** Fixed ring of frames; `get(tick)` finds a stored tick or returns undefined when evicted. */
export class SnapshotHistory {
  private readonly frames: SnapshotFrame[];
  private readonly valid: Uint8Array;
  private next = 0;

  constructor(schema: NetSchema, readonly length: number) {
    this.frames = Array.from({ length }, () => new SnapshotFrame(schema));
    this.valid = new Uint8Array(length);
  }

  /** The frame the next capture should fill (the oldest slot is overwritten). */
  claim(tick: number): SnapshotFrame {
    const slot = this.next;
    this.next = (this.next + 1) % this.length;
    this.valid[slot] = 1;
    const f = this.frames[slot];
    f.tick = tick;
    f.count = 0;
    return f;
  }

  /** The stored frame of `tick`, or undefined when never captured or evicted. */
  get(tick: number): SnapshotFrame | undefined {
    for (let i = 0; i < this.length; i++) if (this.valid[i] && this.frames[i].tick === tick) return this.frames[i];
    return undefined;
  }

  /** The most recently captured frame. */
  latest(): SnapshotFrame | undefined {
    const slot = (this.next - 1 + this.length) % this.length;
    return this.valid[slot] ? this.frames[slot] : undefined;
  }
}

/**
 * Captures the replicated state of a world into `frame`: every entity with a networked component,
 * sorted by id, quantized. `presence` is scratch of maxEntities bytes; `compRefs` are the networked
 * components in schema order; `stores` the field stores in schema order.
 */
export function captureFrame<C extends Components>(
  ctx: GameContext<C>,
  schema: NetSchema,
  replicated: () => readonly number[],
  hasComponent: (eid: number, compIndex: number) => boolean,
  stores: readonly Store[],
  presence: Uint8Array,
  frame: SnapshotFrame,
): void {
  const list = replicated();
  let maxId = -1;
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    presence[e] = 1;
    if (e > maxId) maxId = e;
  }
  const nf = schema.fields.length;
  const nc = schema.components.length;
  let n = 0;
  for (let e = 0; e <= maxId; e++) {
    if (!presence[e]) continue;
    presence[e] = 0;
    let mask = 0;
    for (let ci = 0; ci < nc; ci++) if (hasComponent(e, ci)) mask |= 1 << ci;
    frame.ids[n] = e;
    frame.masks[n] = mask >>> 0;
    const base = n * nf;
    for (let f = 0; f < nf; f++) {
      frame.values[base + f] = (mask & (1 << schema.fields[f].compIndex)) !== 0 ? schema.fields[f].q.quantize(stores[f][e]) : 0;
    }
    n++;
  }
  frame.count = n;
  void ctx;
}
