// Lag compensation, the parts both sides share: the hitboxes a game declares, the hit-test
// geometry (a segment against circles and axis-aligned boxes), and the interface a room gives its
// systems to ask "what did this player see when they acted". The server keeps the history and
// checks each client's claim (server/lagcomp.ts); the client reports what it drew.

/** A hitbox, centred on the entity's position (GameDefinition.position). */
export type Hitbox =
  | { readonly kind: 'circle'; readonly radius: number }
  | { readonly kind: 'box'; readonly halfWidth: number; readonly halfHeight: number };

/** Where a segment first met a hitbox. */
export interface RayHit {
  /** Entity hit, or -1. */
  eid: number;
  /** Fraction of the segment where it entered the hitbox, 0..1 (0 when it starts inside). */
  t: number;
  /** The entry point. */
  x: number;
  y: number;
  /** Where the entity hit was (its centre) in the world the test ran against. */
  cx: number;
  cy: number;
}

/** A RayHit to reuse. */
export function newRayHit(): RayHit {
  return { eid: -1, t: 0, x: 0, y: 0, cx: 0, cy: 0 };
}

/**
 * Entry fraction in 0..1 of the segment (x0, y0) + t (dx, dy) into the circle of radius r
 * centred at (cx, cy); 0 when the segment starts inside; -1 when it misses.
 */
export function segmentCircle(x0: number, y0: number, dx: number, dy: number, cx: number, cy: number, r: number): number {
  const fx = x0 - cx;
  const fy = y0 - cy;
  const c = fx * fx + fy * fy - r * r;
  if (c <= 0) return 0;
  const a = dx * dx + dy * dy;
  if (a === 0) return -1;
  const b = fx * dx + fy * dy;
  if (b >= 0) return -1; // moving away from the centre and outside
  const disc = b * b - a * c;
  if (disc < 0) return -1;
  const t = (-b - Math.sqrt(disc)) / a;
  return t <= 1 ? t : -1;
}

/**
 * Entry fraction in 0..1 of the segment (x0, y0) + t (dx, dy) into the axis-aligned box of half
 * extents (hw, hh) centred at (cx, cy) (slab method); 0 when it starts inside; -1 when it misses.
 */
export function segmentBox(x0: number, y0: number, dx: number, dy: number, cx: number, cy: number, hw: number, hh: number): number {
  const r = slabRange;
  r[0] = 0;
  r[1] = 1;
  if (!clipSlab(cx - hw - x0, cx + hw - x0, dx, r) || !clipSlab(cy - hh - y0, cy + hh - y0, dy, r)) return -1;
  return r[0];
}

/** The segment's [entry, exit] fractions while it is clipped axis by axis (one array, reused). */
const slabRange = new Float64Array(2);

/**
 * Clips `r` (segment fractions) to one axis's slab, whose bounds lo..hi are relative to the
 * segment's start and `d` its extent along that axis; false when nothing is left.
 */
function clipSlab(lo: number, hi: number, d: number, r: Float64Array): boolean {
  if (d === 0) return lo <= 0 && hi >= 0;
  let a = lo / d;
  let b = hi / d;
  if (a > b) {
    const s = a;
    a = b;
    b = s;
  }
  if (a > r[0]) r[0] = a;
  if (b < r[1]) r[1] = b;
  return r[0] <= r[1];
}

/** Entry fraction of a segment into a hitbox at (cx, cy), or -1. */
export function segmentHitbox(x0: number, y0: number, dx: number, dy: number, cx: number, cy: number, h: Hitbox): number {
  return h.kind === 'circle' ? segmentCircle(x0, y0, dx, dy, cx, cy, h.radius) : segmentBox(x0, y0, dx, dy, cx, cy, h.halfWidth, h.halfHeight);
}

/**
 * What a room's systems (and the server's event hooks) may ask about the world a player saw. The
 * "view" of a player is the tick (fractional) its client was drawing the other entities at when it
 * made the input the room applied this tick, as the client claimed it and the server checked it
 * (clamped to `maxRewindTicks`, never trusted as sent).
 */
export interface LagCompensation {
  /** Longest rewind, ticks (the server's lagCompMaxRewindMs). */
  readonly maxRewindTicks: number;
  /**
   * The sequence of the input the player whose entity is `viewer` acted with this tick, or -1 when
   * it got no new one (its previous input was repeated: do not fire twice) or is not a player.
   */
  inputSeq(viewer: number): number;
  /**
   * The tick the player whose entity is `viewer` was drawing when it made the input applied this
   * tick (fractional; the current tick for an entity that is not a player, or before any claim).
   */
  viewTick(viewer: number): number;
  /**
   * Where entity `target` was drawn by `viewer` (at viewTick(viewer)), into `out`; false when the
   * history has no such entity then (it had no hitbox, or did not exist yet).
   */
  positionAt(viewer: number, target: number, out: { x: number; y: number }): boolean;
  /**
   * The first hitbox the segment (x0, y0) → (x1, y1) meets in the world as `viewer` saw it,
   * skipping the viewer itself and entities `filter` refuses; writes `out` and returns the entity
   * hit, or -1 (out.eid = -1). Allocates nothing.
   */
  raycast(viewer: number, x0: number, y0: number, x1: number, y1: number, out: RayHit, filter?: (eid: number) => boolean): number;
}
