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
