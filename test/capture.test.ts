// Capturing a snapshot frame (server/history.ts captureFrame), field by field: every entity with a
// networked component in id order, each present field quantized as its quantizer says, absent
// components as 0, each rated field's change over the last tick; the same with a hand-written
// quantizer that has no batch form.
import { addComponent } from 'bitecs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_NET_CONFIG } from '../shared/config.ts';
import { angle, fixed, uint, type Quantizer } from '../shared/protocol/quantize.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { SnapshotFrame, snapshotLayout } from '../shared/protocol/snapshot.ts';
import { defineGame, type GameContext } from '../shared/sim/game.ts';
import { Rng } from '../shared/sim/rng.ts';
import { captureFrame } from '../server/history.ts';
import { Room } from '../server/rooms.ts';
import { FullSnapshotEncoder, newEncoderStats } from '../server/snapshots.ts';

const f32 = (n: number): Float32Array => new Float32Array(n);
function components(n: number) {
  return { Pos: { x: f32(n), y: f32(n) }, Look: { a: f32(n), hue: new Uint8Array(n) } };
}
type C = ReturnType<typeof components>;

/** A quantizer written by hand, as a game may: no batch forms. */
function halves(): Quantizer {
  return {
    kind: 'uint', bits: 8, maxQ: 255, min: 0, max: 127.5, wraps: false, signature: 'halves',
    quantize: (v) => (v === v ? Math.min(255, Math.max(0, Math.round(v * 2))) : 0),
    dequantize: (q) => q / 2,
  };
}

function world(hue: Quantizer) {
  const game = defineGame<C, { dir: number }>({
    name: 'capture',
    maxEntities: 256,
    components,
    networked: { Pos: { x: fixed(0, 1000, 1 / 16), y: fixed(0, 1000, 1 / 16) }, Look: { a: angle(8), hue } },
    local: [],
    input: { dir: uint(4) },
    stepPlayer() {},
    systems: () => [],
    spawnPlayer: (ctx) => ctx.spawn(),
  });
  const schema = compileSchema(game);
  const room = new Room('r', game, schema, DEFAULT_NET_CONFIG, 4, 1, {}, (s, _n, st) => new FullSnapshotEncoder(s, st), 0, newEncoderStats());
  return { room, ctx: room.ctx as unknown as GameContext<C> };
}

describe('captureFrame', () => {
  for (const [name, hue] of [['built-in quantizers', uint(7)], ['a hand-written quantizer without batch forms', halves()]] as const) {
    it(`equals quantizing entity by entity, absent components as 0 (${name})`, () => {
      const { room, ctx } = world(hue);
      const rng = new Rng(5);
      const eids: number[] = [];
      for (let i = 0; i < 120; i++) {
        const e = ctx.spawn();
        // some with a position only, some with a look only, most with both
        const k = i % 5;
        if (k !== 4) addComponent(ctx.world, e, ctx.c.Pos);
        if (k !== 3) addComponent(ctx.world, e, ctx.c.Look);
        eids.push(e);
      }
      const stores = room.stores;
      const fields = room.schema.fields;
      const layout = snapshotLayout(room.schema);
      expect(layout.nr).toBe(2); // x and y are rated
      let prevFrame: SnapshotFrame | undefined;
      for (let tick = 1; tick <= 3; tick++) {
        for (const e of eids) {
          ctx.c.Pos.x[e] = rng.range(-10, 1010);
          ctx.c.Pos.y[e] = tick === 3 ? Number.NaN : rng.range(0, 1000);
          ctx.c.Look.a[e] = rng.range(-7, 7);
          ctx.c.Look.hue[e] = Math.floor(rng.range(0, 255));
        }
        const frame = room.history.claim(tick);
        captureFrame(room.schema, room.replicated, room.hasNetComponent, stores, room.presence, frame, room.history.rates);
        const sorted = [...eids].sort((a, b) => a - b);
        expect(Array.from(frame.ids.subarray(0, frame.count))).toEqual(sorted);
        const nf = frame.fieldCount;
        const nr = frame.rateCount;
        sorted.forEach((e, i) => {
          let mask = 0;
          for (let ci = 0; ci < room.schema.components.length; ci++) if (room.hasNetComponent(e, ci)) mask |= 1 << ci;
          expect(frame.masks[i]).toBe(mask);
          fields.forEach((f, fi) => {
            const want = (mask >>> f.compIndex) & 1 ? f.q.quantize(stores[fi][e]) : 0;
            expect(frame.values[i * nf + fi]).toBe(want);
          });
          if (prevFrame) {
            const p = prevFrame.indexOf(e);
            for (let r = 0; r < nr; r++) {
              const fi = layout.rateField[r];
              const present = ((mask >>> fields[fi].compIndex) & 1) === 1;
              expect(frame.rates[i * nr + r]).toBe(present ? frame.values[i * nf + fi] - prevFrame.values[p * nf + fi] : 0);
            }
          }
        });
        prevFrame = frame;
      }
    });
  }
});
