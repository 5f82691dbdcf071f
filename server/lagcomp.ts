// Lag compensation (server rewind), in the manner of Source's: a bounded ring of the positions of
// every entity with a hitbox at each snapshot tick (what clients interpolate between), the view
// claims clients send (the tick and fraction they were drawing when they made each input), checked
// against what the server knows of the client before use, and the room's LagCompensation: hit
// tests against the world as a player drew it. Typed arrays only; nothing allocated per tick.
import { hasComponent, type World } from 'bitecs';
import { segmentHitbox, type Hitbox, type LagCompensation, type RayHit } from '../shared/sim/lagcomp.ts';
import type { AnyGame, Component, Components, Store } from '../shared/sim/game.ts';
import type { NetSchema } from '../shared/protocol/schema.ts';
import { VIEW_FRAC_PER_TICK, type ViewClaims } from '../shared/protocol/view-claim.ts';

/** Settings of lag compensation (server config: lagCompMaxRewindMs, lagCompMaxInterpMs, lagCompToleranceMs). */
export interface LagCompSettings {
  /** Longest rewind, ms (Source's sv_maxunlag); also the length of the history. Default 1000. */
  readonly maxRewindMs: number;
  /** Longest interpolation delay a client may claim to draw with, ms. Default 250. */
  readonly maxInterpMs: number;
  /** Slack on the consistency checks for jitter and clock error, ms. Default 100. */
  readonly toleranceMs: number;
}

/** Defaults of LagCompSettings. */
export const DEFAULT_LAGCOMP: LagCompSettings = Object.freeze({ maxRewindMs: 1000, maxInterpMs: 250, toleranceMs: 100 });

/** Longest extrapolation past the newest snapshot a client does (netcode's maxExtrapolationMs default), ms. */
export const CLIENT_MAX_EXTRAPOLATION_MS = 100;
/** Share of a field's range beyond which the client steps instead of interpolating (netcode's teleportFraction default). */
const TELEPORT_FRACTION = 0.25;

/** What happened to each view claim a hit test used (tickwire_lagcomp_claims_total{outcome}). */
export interface LagCompStats {
  readonly claims: { accepted: number; clamped_cap: number; clamped_inconsistent: number; clamped_future: number; estimated: number };
  /** Hit tests (raycasts and position look-ups) answered. */
  hitTests: number;
}

export function newLagCompStats(): LagCompStats {
  return { claims: { accepted: 0, clamped_cap: 0, clamped_inconsistent: 0, clamped_future: 0, estimated: 0 }, hitTests: 0 };
}

const CLAIM_SLOTS = 64;

/** The view claims a player's client sent, by input sequence (a ring of the last 64). */
export class ClaimRing {
  readonly seq = new Int32Array(CLAIM_SLOTS).fill(-1);
  readonly tick = new Float64Array(CLAIM_SLOTS);
  readonly span = new Uint8Array(CLAIM_SLOTS);
  /** Render tick claimed (tick + frac / 256). */
  readonly render = new Float64Array(CLAIM_SLOTS);
  /** Room tick the claim first arrived at. */
  readonly arrived = new Float64Array(CLAIM_SLOTS);
  /** Claims stored, and copies ignored (already held). */
  stored = 0;
  duplicates = 0;
  /** Cache of the last resolution: input seq, room tick, and the view it gave. */
  resolvedSeq = -1;
  resolvedAt = -1;
  viewTick = 0;
  viewFrom = -1;
  viewSpan = 0;

  /** Stores the claims of a decoded message that arrived at room tick `roomTick`; keeps the first copy of each. */
  offer(c: ViewClaims, roomTick: number): void {
    for (let i = 0; i < c.count; i++) {
      const s = c.seq[i];
      const slot = s & (CLAIM_SLOTS - 1);
      if (this.seq[slot] === s && roomTick - this.arrived[slot] < 1024) {
        this.duplicates++;
        continue;
      }
      this.seq[slot] = s;
      this.tick[slot] = c.tick[i];
      this.span[slot] = c.span[i];
      this.render[slot] = c.tick[i] + c.frac[i] / VIEW_FRAC_PER_TICK;
      this.arrived[slot] = roomTick;
      this.stored++;
    }
  }

  /** Forgets every claim (a new connection). */
  clear(): void {
    this.seq.fill(-1);
    this.resolvedSeq = -1;
    this.resolvedAt = -1;
  }
}

/** What lag compensation needs of a player (server/player.ts's Player). */
export interface LagCompPlayer {
  readonly eid: number;
  readonly claims: ClaimRing;
  readonly inputs: { readonly hasApplied: boolean; readonly lastAppliedSeq: number };
  /** True when the input applied this tick is new (not the previous one repeated). */
  readonly freshInput: boolean;
  readonly link: { readonly rttMs: number; readonly rttSamples: number };
}

/**
 * Positions of the entities with a hitbox at each of the last `slots` snapshot ticks (the
 * dequantized values clients decode), with each entity's hitbox index. Slot of tick t is
 * (t / every) mod slots.
 */
export class LagHistory {
  readonly ticks: Float64Array;
  readonly x: Float64Array;
  readonly y: Float64Array;
  /** Hitbox index + 1 per slot and entity id; 0 = not present. */
  readonly shape: Uint8Array;
  /** Entity ids present per slot, ascending; count per slot. */
  readonly ids: Uint16Array;
  readonly counts: Int32Array;
  constructor(
    readonly slots: number,
    readonly maxEntities: number,
    /** Ticks between snapshots. */
    readonly every: number,
  ) {
    this.ticks = new Float64Array(slots).fill(-1);
    this.x = new Float64Array(slots * maxEntities);
    this.y = new Float64Array(slots * maxEntities);
    this.shape = new Uint8Array(slots * maxEntities);
    this.ids = new Uint16Array(slots * maxEntities);
    this.counts = new Int32Array(slots);
  }

  /** Slot holding `tick`, or -1 when it was never captured or was overwritten. */
  slotOf(tick: number): number {
    if (!(tick >= 0) || tick % this.every !== 0) return -1;
    const slot = (tick / this.every) % this.slots;
    return this.ticks[slot] === tick ? slot : -1;
  }

  /** Newest tick held, or -1. */
  newest = -1;
  /** Oldest tick still held, or -1. */
  get oldest(): number {
    if (this.newest < 0) return -1;
    const o = this.newest - (this.slots - 1) * this.every;
    for (let t = Math.max(0, o); t <= this.newest; t += this.every) if (this.slotOf(t) >= 0) return t;
    return this.newest;
  }

  /**
   * Captures `tick`: every entity of `list` whose `shapeOf(eid)` is a hitbox index, at the
   * positions in `xs`, `ys`. Overwrites the oldest slot.
   */
  capture(tick: number, list: readonly number[], shapeOf: (eid: number) => number, xs: Store, ys: Store): void {
    const slot = (tick / this.every) % this.slots;
    const base = slot * this.maxEntities;
    // Clear the slot's previous entities.
    const prev = this.counts[slot];
    for (let i = 0; i < prev; i++) this.shape[base + this.ids[base + i]] = 0;
    let n = 0;
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      const s = shapeOf(e);
      if (s < 0 || e >= this.maxEntities) continue;
      this.shape[base + e] = s + 1;
      this.x[base + e] = xs[e];
      this.y[base + e] = ys[e];
      this.ids[base + n++] = e;
    }
    // Keep ids ascending (bitecs' dense list is not sorted); insertion sort, mostly sorted already.
    for (let i = 1; i < n; i++) {
      const v = this.ids[base + i];
      let j = i - 1;
      while (j >= 0 && this.ids[base + j] > v) {
        this.ids[base + j + 1] = this.ids[base + j];
        j--;
      }
      this.ids[base + j + 1] = v;
    }
    this.counts[slot] = n;
    this.ticks[slot] = tick;
    if (tick > this.newest) this.newest = tick;
  }

  /** Forgets everything. */
  clear(): void {
    this.ticks.fill(-1);
    this.counts.fill(0);
    this.shape.fill(0);
    this.newest = -1;
  }
}

/**
 * A resolved view: positions are slot `a` moved towards slot `b` by `alpha` (interpolation,
 * b >= 0), or moved on past `a` at the velocity from slot `prev` by `ahead` snapshot intervals
 * (extrapolation, b < 0, prev >= 0), or slot `a` as it is; `live` means the current stores.
 */
export interface ViewSample {
  live: boolean;
  a: number;
  b: number;
  prev: number;
  alpha: number;
  ahead: number;
}

/** The LagCompensation of one room. */
export class RoomLagComp implements LagCompensation {
  readonly history: LagHistory;
  readonly maxRewindTicks: number;
  private readonly hitboxes: Hitbox[];
  private readonly hitComps: Component[];
  private readonly xs: Store;
  private readonly ys: Store;
  private readonly teleportX: number;
  private readonly teleportY: number;
  private readonly minX: number;
  private readonly maxX: number;
  private readonly minY: number;
  private readonly maxY: number;
  private readonly tickMs: number;
  private readonly maxInterpTicks: number;
  private readonly toleranceTicks: number;
  private readonly extrapTicks: number;
  private readonly sample: ViewSample = { live: true, a: -1, b: -1, prev: -1, alpha: 0, ahead: 0 };
  readonly shapeOf: (eid: number) => number;

  constructor(
    game: AnyGame,
    schema: NetSchema,
    world: World,
    c: Components,
    stores: readonly Store[],
    private readonly players: readonly LagCompPlayer[],
    private readonly replicated: () => readonly number[],
    private readonly now: { readonly tick: number },
    tickRateHz: number,
    snapshotEvery: number,
    settings: LagCompSettings,
    private readonly stats: LagCompStats,
  ) {
    const rules = game.lagCompensation;
    if (!rules || !game.position) throw new Error(`${game.name}: no lagCompensation or position`);
    this.tickMs = 1000 / tickRateHz;
    this.maxRewindTicks = Math.max(0, settings.maxRewindMs / this.tickMs);
    this.maxInterpTicks = settings.maxInterpMs / this.tickMs;
    this.toleranceTicks = settings.toleranceMs / this.tickMs;
    this.extrapTicks = CLIENT_MAX_EXTRAPOLATION_MS / this.tickMs;
    const entries = Object.entries(rules.hitboxes as Record<string, Hitbox>);
    this.hitboxes = entries.map(([, h]) => h);
    this.hitComps = entries.map(([name]) => c[name]);
    const fi = (name: string): number => schema.fields.findIndex((f) => `${f.component}.${f.field}` === name);
    const xi = fi(game.position.x);
    const yi = fi(game.position.y);
    this.xs = stores[xi];
    this.ys = stores[yi];
    const qx = schema.fields[xi].q;
    const qy = schema.fields[yi].q;
    this.teleportX = (qx.max - qx.min) * TELEPORT_FRACTION;
    this.teleportY = (qy.max - qy.min) * TELEPORT_FRACTION;
    this.minX = qx.min;
    this.maxX = qx.max;
    this.minY = qy.min;
    this.maxY = qy.max;
    const slots = Math.ceil(this.maxRewindTicks / snapshotEvery) + 3;
    this.history = new LagHistory(slots, game.maxEntities, snapshotEvery);
    const comps = this.hitComps;
    this.shapeOf = (eid) => {
      for (let i = 0; i < comps.length; i++) if (hasComponent(world, eid, comps[i])) return i;
      return -1;
    };
  }

  /** Captures the snapshot tick just sent (call after the frame was captured). */
  capture(tick: number, replicated: readonly number[]): void {
    this.history.capture(tick, replicated, this.shapeOf, this.xs, this.ys);
  }

  private playerOf(eid: number): LagCompPlayer | undefined {
    const ps = this.players;
    for (let i = 0; i < ps.length; i++) if (ps[i].eid === eid && eid >= 0) return ps[i];
    return undefined;
  }

  /** The sequence of the input `viewer` acted with this tick, or -1 when it has none new (its last input repeated, or not a player). */
  inputSeq(viewer: number): number {
    const p = this.playerOf(viewer);
    return p && p.inputs.hasApplied && p.freshInput ? p.inputs.lastAppliedSeq : -1;
  }

  viewTick(viewer: number): number {
    const p = this.playerOf(viewer);
    if (!p || !p.inputs.hasApplied) return this.now.tick;
    this.resolve(p);
    return p.claims.viewTick;
  }

  /**
   * Resolves (once per input and tick) the view of the input `p` applied this tick: its claim,
   * checked and clamped, or an estimate when it sent none; counts the outcome.
   */
  private resolve(p: LagCompPlayer): void {
    const cr = p.claims;
    const seq = p.inputs.lastAppliedSeq;
    const now = this.now.tick;
    if (cr.resolvedSeq === seq && cr.resolvedAt === now) return;
    const sameInput = cr.resolvedSeq === seq;
    cr.resolvedSeq = seq;
    cr.resolvedAt = now;
    const counts = this.stats.claims;
    const slot = seq & (CLAIM_SLOTS - 1);
    const fresh = cr.seq[slot] === seq && now - cr.arrived[slot] <= this.maxRewindTicks + 64;
    const rttTicks = p.link.rttSamples > 0 ? p.link.rttMs / this.tickMs : -1;
    let view: number;
    let from = -1;
    let span = 0;
    let outcome: keyof LagCompStats['claims'] = 'accepted';
    if (fresh) {
      view = cr.render[slot];
      from = cr.tick[slot];
      span = cr.span[slot];
      if (rttTicks >= 0) {
        // What the client could have drawn when it sent this: snapshots up to about (arrival - RTT),
        // drawn between 0 and maxInterp behind them, or extrapolated a little past them.
        const newestHeld = cr.arrived[slot] - rttTicks;
        const latest = newestHeld + this.extrapTicks + this.toleranceTicks;
        const earliest = newestHeld - this.maxInterpTicks - this.toleranceTicks;
        if (view > latest) {
          view = latest;
          outcome = 'clamped_future';
        } else if (view < earliest) {
          view = earliest;
          outcome = 'clamped_inconsistent';
        }
      }
    } else {
      // No claim for this input (lost, late, or a game with a trigger): the newest earlier claim,
      // moved on one tick per input since; else the round trip plus a typical interpolation delay.
      let best = -1;
      let bestD = CLAIM_SLOTS;
      for (let i = 0; i < CLAIM_SLOTS; i++) {
        if (cr.seq[i] < 0 || now - cr.arrived[i] > this.maxRewindTicks + 64) continue;
        const d = (seq - cr.seq[i]) & 0xffff;
        if (d > 0 && d < bestD) {
          bestD = d;
          best = i;
        }
      }
      view = best >= 0 ? cr.render[best] + bestD : now - (rttTicks >= 0 ? rttTicks : 0) - 2 * this.history.every;
      outcome = 'estimated';
    }
    if (view > now) {
      view = now;
      if (outcome === 'accepted') outcome = 'clamped_future';
    }
    if (now - view > this.maxRewindTicks) {
      view = now - this.maxRewindTicks;
      if (outcome === 'accepted') outcome = 'clamped_cap';
    }
    if (outcome !== 'accepted' || view !== cr.render[slot]) {
      from = -1;
      span = 0;
    }
    cr.viewTick = view;
    cr.viewFrom = from;
    cr.viewSpan = span;
    // A repeated input (starved buffer) is the same claim: counted once.
    if (!sameInput) counts[outcome]++;
  }

  /** Resolves what `viewer` drew into this.sample. */
  private sampleFor(viewer: number): ViewSample {
    const s = this.sample;
    const p = this.playerOf(viewer);
    s.live = true;
    if (!p || !p.inputs.hasApplied) return s;
    this.resolve(p);
    const cr = p.claims;
    this.at(cr.viewTick, cr.viewFrom, cr.viewSpan, s);
    return s;
  }

  /**
   * Fills `s` for render tick `tick`: between the two snapshots the client said it interpolated
   * between (`from`, `from + span`) when both are held, else between the held snapshots around
   * `tick`; past the newest one extrapolated as the client does; at or after the current tick, live.
   */
  at(tick: number, from: number, span: number, s: ViewSample): void {
    const h = this.history;
    s.live = false;
    s.b = -1;
    s.prev = -1;
    s.alpha = 0;
    s.ahead = 0;
    if (!(tick < this.now.tick) || h.newest < 0) {
      s.live = true;
      return;
    }
    if (span > 0 && from >= 0) {
      const a = h.slotOf(from);
      const b = h.slotOf(from + span);
      if (a >= 0 && b >= 0) {
        s.a = a;
        s.b = b;
        s.alpha = (tick - from) / span;
        return;
      }
    }
    const every = h.every;
    let base = Math.floor(tick / every) * every;
    if (base > h.newest) base = h.newest;
    const oldest = h.oldest;
    if (base < oldest) {
      s.a = h.slotOf(oldest);
      return;
    }
    let a = h.slotOf(base);
    // A hole (never captured): step back to the nearest held snapshot.
    while (a < 0 && base > oldest) {
      base -= every;
      a = h.slotOf(base);
    }
    s.a = a;
    if (a < 0) {
      s.live = true;
      return;
    }
    if (tick === base) return;
    let next = base + every;
    let b = -1;
    while (next <= h.newest && (b = h.slotOf(next)) < 0) next += every;
    if (b >= 0) {
      s.b = b;
      s.alpha = (tick - base) / (next - base);
      return;
    }
    // Past the newest snapshot: the client extrapolates from the two newest it holds, for a while.
    const prev = h.slotOf(base - every);
    if (prev >= 0) {
      s.prev = prev;
      s.ahead = Math.min(tick - base, this.extrapTicks) / every;
    }
  }

  /** Position of `e` in sample `s` into `out`; false when it is not in the sample. */
  private pos(s: ViewSample, e: number, out: { x: number; y: number }): boolean {
    if (s.live) {
      if (this.shapeOf(e) < 0) return false;
      out.x = this.xs[e];
      out.y = this.ys[e];
      return true;
    }
    const h = this.history;
    const m = h.maxEntities;
    const ia = s.a * m + e;
    if (h.shape[ia] === 0) return false;
    const xa = h.x[ia];
    const ya = h.y[ia];
    out.x = xa;
    out.y = ya;
    if (s.b >= 0) {
      const ib = s.b * m + e;
      if (h.shape[ib] === 0) return true;
      const xb = h.x[ib];
      const yb = h.y[ib];
      if (Math.abs(xb - xa) <= this.teleportX) out.x = xa + (xb - xa) * s.alpha;
      if (Math.abs(yb - ya) <= this.teleportY) out.y = ya + (yb - ya) * s.alpha;
      return true;
    }
    if (s.prev >= 0 && s.ahead > 0) {
      const ip = s.prev * m + e;
      if (h.shape[ip] === 0) return true;
      const dx = xa - h.x[ip];
      const dy = ya - h.y[ip];
      if (Math.abs(dx) <= this.teleportX) out.x = Math.min(this.maxX, Math.max(this.minX, xa + dx * s.ahead));
      if (Math.abs(dy) <= this.teleportY) out.y = Math.min(this.maxY, Math.max(this.minY, ya + dy * s.ahead));
    }
    return true;
  }

  private readonly scratch = { x: 0, y: 0 };

  positionAt(viewer: number, target: number, out: { x: number; y: number }): boolean {
    this.stats.hitTests++;
    return this.pos(this.sampleFor(viewer), target, out);
  }

  raycast(viewer: number, x0: number, y0: number, x1: number, y1: number, out: RayHit, filter?: (eid: number) => boolean): number {
    this.stats.hitTests++;
    return this.raycastIn(this.sampleFor(viewer), viewer, x0, y0, x1, y1, out, filter);
  }

  /** Hit test against the current positions, whatever anyone saw (the no-rewind answer). */
  raycastLive(skip: number, x0: number, y0: number, x1: number, y1: number, out: RayHit, filter?: (eid: number) => boolean): number {
    const s = this.sample;
    s.live = true;
    return this.raycastIn(s, skip, x0, y0, x1, y1, out, filter);
  }

  /** Hit test against sample `s` (exposed for benchmarks and tests). */
  raycastIn(s: ViewSample, skip: number, x0: number, y0: number, x1: number, y1: number, out: RayHit, filter?: (eid: number) => boolean): number {
    out.eid = -1;
    out.t = 2;
    const dx = x1 - x0;
    const dy = y1 - y0;
    const p = this.scratch;
    if (s.live) {
      const list = this.replicated();
      for (let i = 0; i < list.length; i++) {
        const e = list[i];
        if (e === skip) continue;
        const k = this.shapeOf(e);
        if (k < 0) continue;
        this.test(e, this.xs[e], this.ys[e], this.hitboxes[k], x0, y0, dx, dy, out, filter);
      }
    } else {
      const h = this.history;
      const base = s.a * h.maxEntities;
      const n = h.counts[s.a];
      for (let i = 0; i < n; i++) {
        const e = h.ids[base + i];
        if (e === skip || !this.pos(s, e, p)) continue;
        this.test(e, p.x, p.y, this.hitboxes[h.shape[base + e] - 1], x0, y0, dx, dy, out, filter);
      }
    }
    if (out.eid < 0) {
      out.t = 0;
      return -1;
    }
    out.x = x0 + dx * out.t;
    out.y = y0 + dy * out.t;
    return out.eid;
  }

  private test(e: number, cx: number, cy: number, box: Hitbox, x0: number, y0: number, dx: number, dy: number, out: RayHit, filter?: (eid: number) => boolean): void {
    const t = segmentHitbox(x0, y0, dx, dy, cx, cy, box);
    if (t < 0 || t >= out.t) return;
    if (filter && !filter(e)) return;
    out.eid = e;
    out.t = t;
    out.cx = cx;
    out.cy = cy;
  }
}
