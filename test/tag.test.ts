// The demo game, tag: valid, deterministic (ctx.rng only), its rules (passing "it" with a `tag`
// event, no tag-backs, a point a second not "it"), spawns near the other players, a bot script
// that chases and flees, and prediction that replays the server's steps exactly.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tag, tagBot, TAG_HEIGHT, TAG_RADIUS, TAG_REACH, TAG_WIDTH } from '../games/tag.ts';
import { segmentCircle } from '../shared/sim/lagcomp.ts';
import { createGameContext } from '../shared/sim/game.ts';
import { Rng } from '../shared/sim/rng.ts';
import { gameProblems } from '../shared/sim/validate.ts';
import type { ScriptWorld } from '../shared/sim/view.ts';
import { LoopbackWorld } from './helpers/client-loopback.ts';

type Input = { mx: number; my: number; tag?: number; ax?: number; ay?: number };

/** A room of tag without a server: setup, players, and a step that runs inputs then the systems. */
function room(npcs: number, seed = 1) {
  const ctx = createGameContext(tag, new Rng(seed), 60, { ...tag.defaultParams, npcs });
  const events: { name: string; data: unknown; tick: number }[] = [];
  ctx.emit = (name, data) => events.push({ name, data, tick: ctx.tick });
  tag.setup?.(ctx);
  const systems = tag.systems(ctx);
  const step = (inputs: ReadonlyMap<number, Input> = new Map()): void => {
    for (const [e, i] of inputs) tag.stepPlayer(ctx.c, e, i, ctx.dtSec);
    for (const s of systems) s(ctx);
    ctx.tick++;
  };
  const join = (name: string): number => tag.spawnPlayer(ctx, { sessionId: 0, name });
  return { ctx, c: ctx.c, events, step, join };
}

afterEach(() => vi.restoreAllMocks());

describe('tag', () => {
  it('is a valid game with a client view and a bot script', () => {
    expect(gameProblems(tag)).toEqual([]);
    expect(tag.client?.bot).toBe(tagBot);
    expect(tag.position).toEqual({ x: 'Body.x', y: 'Body.y' });
  });

  it('is deterministic: the same seed and inputs give the same world, and Math.random is never called', () => {
    vi.spyOn(Math, 'random').mockImplementation(() => {
      throw new Error('Math.random called');
    });
    const run = () => {
      const r = room(6, 42);
      const a = r.join('a');
      const b = r.join('b');
      for (let t = 0; t < 900; t++) r.step(new Map([[a, { mx: t % 200 < 100 ? 1 : -1, my: 0 }], [b, { mx: 0, my: (t >> 6) % 2 ? 1 : -1 }]]));
      return { state: JSON.stringify(Object.values(r.c).map((comp) => Object.values(comp).map((s) => Array.from(s as ArrayLike<number>)))), events: r.events };
    };
    const one = run();
    const two = run();
    expect(two.state).toBe(one.state);
    expect(two.events).toEqual(one.events);
    expect(one.events.filter((e) => e.name === 'tag').length).toBeGreaterThan(0); // NPCs really played
  });

  it('picks someone to be "it" (an `it` event), passes it on a touch (a `tag` event), and allows no tag-back at once', () => {
    const r = room(0);
    const a = r.join('a');
    r.step();
    expect(r.events).toEqual([{ name: 'it', data: { eid: a }, tick: 0 }]);
    const b = r.join('b');
    r.c.Body.x[a] = 300;
    r.c.Body.y[a] = 300;
    r.c.Body.x[b] = 310;
    r.c.Body.y[b] = 300;
    for (let t = 0; t < 60 && r.c.Tag.it[b] === 0; t++) r.step();
    expect(r.c.Tag.it[b]).toBe(1);
    expect(r.c.Tag.it[a]).toBe(0);
    expect(r.events.at(-1)).toMatchObject({ name: 'tag', data: { from: a, to: b } });
    // Still touching: a cannot be tagged back for 1.5 s, then can.
    const tagged = r.ctx.tick;
    while (r.c.Tag.it[a] === 0 && r.ctx.tick < tagged + 200) r.step();
    expect(r.ctx.tick - tagged).toBeGreaterThanOrEqual(Math.round(1.5 * 60));
    expect(r.events.at(-1)).toMatchObject({ name: 'tag', data: { from: b, to: a } });
  });

  it('scores a point every second for everyone not "it"', () => {
    const r = room(0);
    const a = r.join('a');
    const b = r.join('b');
    r.c.Body.x[a] = 100;
    r.c.Body.x[b] = 1000;
    for (let t = 0; t < 3 * 60; t++) r.step();
    const it = r.c.Tag.it[a] === 1 ? a : b;
    const other = it === a ? b : a;
    expect(r.c.Score.points[it]).toBe(0);
    expect(r.c.Score.points[other]).toBe(3);
  });

  it('spawns players near the players already there, inside the walls', () => {
    const r = room(5, 9);
    const placed: number[] = [r.join('first')];
    for (let i = 0; i < 10; i++) {
      for (let t = 0; t < 30; t++) r.step();
      const e = r.join(`p${i}`);
      const x = r.c.Body.x[e];
      const y = r.c.Body.y[e];
      expect(x).toBeGreaterThan(0);
      expect(x).toBeLessThan(TAG_WIDTH);
      expect(y).toBeGreaterThan(0);
      expect(y).toBeLessThan(TAG_HEIGHT);
      const nearest = Math.min(...placed.map((p) => Math.hypot(r.c.Body.x[p] - x, r.c.Body.y[p] - y)));
      expect(nearest).toBeLessThan(240);
      placed.push(e);
    }
  });

  it('its bot chases while "it" and flees "it" otherwise', () => {
    const world = (self: number, rows: { eid: number; x: number; y: number; it: number; cool?: number }[]): ScriptWorld => ({
      tick: 0, selfEid: self, count: () => rows.length, id: (i) => rows[i].eid, indexOf: (e) => rows.findIndex((r) => r.eid === e),
      field: (i, name) => ({ 'Body.x': rows[i].x, 'Body.y': rows[i].y, 'Tag.it': rows[i].it, 'Tag.cool': rows[i].cool ?? 0 })[name],
    });
    const brain = tagBot.create({ botIndex: 0, rng: new Rng(3), inputRateHz: 60, gameName: 'tag' });
    expect(brain.next(0, world(1, [{ eid: 1, x: 100, y: 400, it: 1 }, { eid: 2, x: 300, y: 400, it: 0 }, { eid: 3, x: 100, y: 100, it: 0, cool: 50 }]))).toEqual({ mx: 1, my: 0 });
    expect(brain.next(10, world(1, [{ eid: 1, x: 600, y: 400, it: 0 }, { eid: 2, x: 500, y: 400, it: 1 }]))).toEqual({ mx: 1, my: 0 });
    expect(brain.next(20, world(1, [{ eid: 1, x: 600, y: 300, it: 0 }, { eid: 2, x: 600, y: 400, it: 1 }]))).toEqual({ mx: 0, my: -1 });
  });

  it('prediction replays the server exactly: a moving player is never corrected at zero latency', () => {
    const w = new LoopbackWorld({ game: tag, npcs: 0 });
    const c = w.addClient({ seed: 4, frameHz: 60, framePhaseMs: 3.7 });
    const dirs: Input[] = [{ mx: 1, my: 0 }, { mx: 1, my: 1 }, { mx: 0, my: -1 }, { mx: -1, my: 0 }, { mx: 0, my: 0 }];
    w.run(6000, (cl, now) => {
      cl.input = dirs[Math.floor(now / 700) % dirs.length];
    });
    expect(c.netcode.predictor.stats.predicted).toBeGreaterThan(300);
    expect(c.netcode.predictor.predictedFields.some((b) => b === 1)).toBe(true);
    expect(c.netcode.corrections()).toBe(0);
  });

  it('"it" reaches at range towards the aim point, tagging the first taggable body on the way', () => {
    const r = room(0);
    const a = r.join('a');
    r.step();
    const b = r.join('b');
    for (let t = 0; t < 60; t++) r.step(); // a's hand-off cool-down runs out
    r.c.Body.x[a] = 300;
    r.c.Body.y[a] = 300;
    r.c.Body.x[b] = 300 + TAG_REACH;
    r.c.Body.y[b] = 300;
    r.c.Tag.cool[b] = 0;
    r.step(new Map([[a, { mx: 0, my: 0, tag: 1, ax: 300, ay: 200 }]])); // aiming away: nothing
    expect(r.c.Tag.it[b]).toBe(0);
    r.step(new Map([[a, { mx: 0, my: 0, tag: 1, ax: 500, ay: 300 }]]));
    expect(r.c.Tag.it[b]).toBe(1);
    expect(r.events.at(-1)).toMatchObject({ name: 'tag', data: { from: a, to: b, reach: true } });
  });

  it('a reach on a 150 ms link tags whom "it" drew there, where the current positions would miss', () => {
    const w = new LoopbackWorld({ game: tag, npcs: 0, seed: 2 });
    const it = w.addClient({ seed: 8, link: { enabled: true, delayMs: 75, jitterMs: 20, lossPct: 5 } });
    const runner = w.addClient({ seed: 9 });
    it.input = { mx: 0, my: 0 };
    runner.input = { mx: 0, my: 0 };
    w.run(1500);
    const c = w.room.ctx.c as unknown as { Body: { x: Float32Array; y: Float32Array }; Tag: { it: Uint8Array; cool: Uint8Array }; Reach: { ax: Float32Array; ay: Float32Array } };
    const a = it.netcode.eid;
    const b = runner.netcode.eid;
    expect(a).toBeGreaterThanOrEqual(0);
    expect(b).toBeGreaterThanOrEqual(0);
    // "it" stands at (300, 400); the runner runs down past it, 70 units to the side.
    c.Body.x[a] = 300;
    c.Body.y[a] = 400;
    c.Body.x[b] = 370;
    c.Body.y[b] = 150;
    c.Tag.it.fill(0);
    c.Tag.it[a] = 1;
    c.Tag.cool.fill(0);
    runner.input = { mx: 0, my: 1 };
    let liveMiss: boolean | undefined;
    w.afterTick = () => {
      if (liveMiss !== undefined || c.Tag.it[b] !== 1) return;
      // The tick of the tag: the same reach against the runner's current position.
      const dx = c.Reach.ax[a] - c.Body.x[a];
      const dy = c.Reach.ay[a] - c.Body.y[a];
      const k = (TAG_REACH + TAG_RADIUS) / Math.hypot(dx, dy);
      liveMiss = segmentCircle(c.Body.x[a], c.Body.y[a], dx * k, dy * k, c.Body.x[b], c.Body.y[b], TAG_RADIUS) < 0;
    };
    w.run(4500, (cl) => {
      if (cl !== it) return;
      const v = cl.netcode.remote;
      const row = v.indexOf(b);
      cl.input = { mx: 0, my: 0 };
      if (row < 0) return;
      const x = v.values[row * v.fieldCount];
      const y = v.values[row * v.fieldCount + 1];
      if (Math.hypot(x - 300, y - 400) <= TAG_REACH + 2 * TAG_RADIUS) cl.input = { mx: 0, my: 0, tag: 1, ax: x, ay: y };
    });
    expect(c.Tag.it[b]).toBe(1);
    expect(liveMiss).toBe(true);
    expect(w.server.stats.lagComp.claims.accepted).toBeGreaterThan(0);
  });
});
