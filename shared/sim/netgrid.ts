// Snaps an entity's networked fields to their quantization grid, so the server's state equals what
// clients decode and prediction replays bit-exactly (Quake III snaps vectors the same way).
import type { Store } from './game.ts';
import type { NetSchema } from '../protocol/schema.ts';

/** Rounds every networked field of `eid` to its quantized value, in place. */
export function snapToNetGrid(schema: NetSchema, stores: readonly Store[], eid: number): void {
  const fields = schema.fields;
  for (let f = 0; f < fields.length; f++) {
    const q = fields[f].q;
    const s = stores[f];
    s[eid] = q.dequantize(q.quantize(s[eid]));
  }
}

/**
 * Rounds every networked field of every entity in `eids` to its quantized value, in place: the
 * same values as snapToNetGrid on each entity, field by field (a column at a time, with each
 * quantizer's own loop where it has one), the way the server's tick snaps a whole room.
 */
export function snapAllToNetGrid(schema: NetSchema, stores: readonly Store[], eids: readonly number[]): void {
  const fields = schema.fields;
  for (let f = 0; f < fields.length; f++) {
    const q = fields[f].q;
    const s = stores[f];
    if (q.snapColumn) q.snapColumn(s, eids);
    else for (let i = 0; i < eids.length; i++) s[eids[i]] = q.dequantize(q.quantize(s[eids[i]]));
  }
}
