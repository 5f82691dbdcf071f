// Interest management: what each player of a room sees. On every snapshot tick a spatial grid over
// the game's position fields (bucketed from the captured, quantized frame) gives each player the
// entities within its view radius, kept until they pass the leave radius (hysteresis), plus its
// own entity, the game's global entities, and whatever the game's relevance hook lets through.
// Each player's view is remembered per snapshot tick, so the view encoder can rebuild the exact
// frame a client holds for any baseline it acknowledged: the room frame of that tick, restricted
// to the view of that tick. Everything is preallocated; views grow by doubling, then never allocate.
// A spectator's view is centred on its camera instead of an entity (the same radius rules,
// hysteresis and byte budget), and a recording's view holds every entity.
import { hasComponent } from 'bitecs';
import { DEFAULT_NET_CONFIG, type NetConfig } from '../shared/config.ts';
import { BitWriter, zigzag } from '../shared/protocol/bits.ts';
import { SectionEncoder, SectionParts } from '../shared/protocol/delta.ts';
import { egBits } from '../shared/protocol/exp-golomb.ts';
import { ItemKind, SectionPlanner } from '../shared/protocol/section-planner.ts';
import {
  CodeOrders, CREATED, FieldWriter, K_CHOICES, REMOVED, SlotMode, UPDATED, ageBits, newPartPlacement, serializeOrders, serializePlacement, writeCount,
} from '../shared/protocol/section-records.ts';
import {
  MAX_BASELINE_AGE_TICKS, patchSnapshotClientFields, SnapshotFrame, SnapshotKind, snapshotHeaderBytes, snapshotLayout, writeSnapshotHeader, type SnapshotLayout,
} from '../shared/protocol/snapshot.ts';
import type { NetSchema } from '../shared/protocol/schema.ts';
import type { AnyGame, Component, Components, GameContext, InterestRules } from '../shared/sim/game.ts';
import type { SnapshotHistory } from './history.ts';
import { newEncoderStats, type DeltaEncoderOptions, type EncoderStats, type SnapshotClient, type SnapshotEncoder } from './snapshots.ts';

/** Leave radius over view radius when the game does not say (InterestRules.leaveRadius). */
export const DEFAULT_LEAVE_FACTOR = 1.1;

/** Most grid cells per axis; a finer grid is coarsened to this. */
const MAX_CELLS_PER_AXIS = 1024;

/** Ids a view's ring slot holds before the ring first grows. */
const VIEW_INITIAL_STRIDE = 64;

/**
 * What a room remembers of one player's view: its entity ids at each recent snapshot tick. The
 * slots share one array (`ring`, `stride` ids per slot): a view is read and written once per
 * snapshot interval, a thousand other views apart, so what it costs is mostly the memory it
 * reaches, and one array per view is one reach where an array per slot and per field were several.
 * The slots' ticks and counts are views of the same buffer, just before the ring: one block of
 * memory per view (a page or two), not three.
 */
export class ClientView {
  /** Snapshot tick of each ring slot, -1 when empty. */
  ticks: Float64Array;
  /** Entity ids of every slot: slot s holds ring[s * stride, s * stride + counts[s]), ascending. */
  ring: Uint16Array;
  /** Ids each slot can hold (grows by doubling for every slot at once). */
  stride = VIEW_INITIAL_STRIDE;
  /** The same slots as views into `ring` (ids[slot][0..counts[slot])), for readers outside the hot loops. */
  ids: Uint16Array[];
  counts: Int32Array;
  /** Slot of the newest view, -1 before the first. */
  newest = -1;
  /** Where the rows (of the newest room frame) of the newest view start in InterestManager.rows, ascending: what the encoder copies. Valid during the tick the view was computed. */
  rowsAt = 0;
  /** Tick of the last full snapshot sent to this client, or -1 (the view encoder's fallback state). */
  fullTick = -1;
  /** Views computed for this player (statistics). */
  updates = 0;
  /** Tick phase of this player's snapshots: its views are computed on ticks t with t % phases === phase (InterestManager.phases). */
  phase = 0;
  /** Byte budget left (bytes; refilled each snapshot, spent by the packets sent), and what the newest view let enter. */
  tokens = -1;
  lastBytes = 0;
  lastEntered = 0;
  /** Bytes of the created records of the last packet (measured by the shared encoder path, else estimated; -1 unknown). */
  lastCreatedBytes = -1;
  /** Entities waiting to enter the view (budget spent): ids, accumulated priority, snapshots waited. */
  waitIds = new Uint16Array(16);
  waitPri = new Float64Array(16);
  waitAge = new Int32Array(16);
  waitCount = 0;
  /** What the view is centred on: its player's entity, a spectator's camera, or nothing (a recording's view: every entity). */
  kind: 'player' | 'camera' | 'world' = 'player';
  /** A camera view's point and enter radius, world units, and the entity it follows (-1: none); `placed` false until the spectator's first camera message. */
  camFollow = -1;
  camX = 0;
  camY = 0;
  camRadius = 0;
  placed = false;

  /**
   * @param length slots kept (the snapshots of the room's history)
   */
  constructor(readonly length: number) {
    const buf = new ArrayBuffer(length * (8 + 4 + 2 * VIEW_INITIAL_STRIDE));
    this.ticks = new Float64Array(buf, 0, length).fill(-1);
    this.counts = new Int32Array(buf, 8 * length, length);
    this.ring = new Uint16Array(buf, 12 * length, length * VIEW_INITIAL_STRIDE);
    this.ids = slotViews(this.ring, length, VIEW_INITIAL_STRIDE);
  }

  /** Makes every slot hold at least `n` ids, keeping what the slots hold (their ticks and counts too). */
  ensureStride(n: number): void {
    if (n <= this.stride) return;
    let stride = this.stride * 2;
    while (stride < n) stride *= 2;
    const len = this.length;
    const buf = new ArrayBuffer(len * (8 + 4 + 2 * stride));
    const ticks = new Float64Array(buf, 0, len);
    const counts = new Int32Array(buf, 8 * len, len);
    const ring = new Uint16Array(buf, 12 * len, len * stride);
    ticks.set(this.ticks);
    counts.set(this.counts);
    for (let s = 0; s < len; s++) ring.set(this.ring.subarray(s * this.stride, s * this.stride + this.counts[s]), s * stride);
    this.ticks = ticks;
    this.counts = counts;
    this.ring = ring;
    this.stride = stride;
    this.ids = slotViews(ring, len, stride);
  }

  /** Ring slot of the view at snapshot `tick`, or -1 when not remembered (newest first: baselines are recent). */
  slotOf(tick: number): number {
    const len = this.length;
    let s = this.newest;
    if (s < 0) return -1;
    for (let k = 0; k < len; k++) {
      if (this.ticks[s] === tick) return s;
      s = s === 0 ? len - 1 : s - 1;
    }
    return -1;
  }

  /** Entities in the newest view. */
  get size(): number {
    return this.newest < 0 ? 0 : this.counts[this.newest];
  }

  /** True when entity `id` was in the view of `slot` (binary search). */
  holds(slot: number, id: number): boolean {
    const ring = this.ring;
    const base = slot * this.stride;
    let lo = base;
    let hi = base + this.counts[slot] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = ring[mid];
      if (v === id) return true;
      if (v < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }
}

/** Views of each slot of a ring (`length` slots of `stride` ids). */
function slotViews(ring: Uint16Array, length: number, stride: number): Uint16Array[] {
  return Array.from({ length }, (_, s) => ring.subarray(s * stride, (s + 1) * stride));
}

/** Counters of a room's interest management. */
export interface InterestStats {
  /** Views computed (one per player per snapshot tick). */
  views: number;
  /** Entities in those views, summed. */
  viewEntities: number;
  /** Entities that entered a view, and that left one (against the same player's previous view). */
  entered: number;
  left: number;
  /** Entities that could have entered a view but waited for its byte budget (once per snapshot waited). */
  deferred: number;
  /** Most snapshots an entity waited before entering a view (reset by whoever reads it per window). */
  maxWaitSnapshots: number;
}

/** Fresh zeroed interest counters. */
export function newInterestStats(): InterestStats {
  return { views: 0, viewEntities: 0, entered: 0, left: 0, deferred: 0, maxWaitSnapshots: 0 };
}

/** A player as interest management sees it: its entity id (-1 before it has one). */
export interface Viewer {
  readonly eid: number;
}

/**
 * The views of one room: a uniform grid over the position fields' quantizer range, rebuilt from
 * each snapshot frame (counting sort of rows into cells), and one ClientView per player.
 */
export class InterestManager {
  readonly stats: InterestStats;
  private readonly rules: InterestRules<Components>;
  private readonly fx: number;
  private readonly fy: number;
  private readonly posMask: number;
  private readonly minX: number;
  private readonly minY: number;
  private readonly cellSize: number;
  private readonly cols: number;
  private readonly rowsN: number;
  private readonly leaveFactor: number;
  private readonly globals: Component[];
  private readonly views = new WeakMap<Viewer, ClientView>();
  /** Viewers without an entity whose views are computed too (watch, watchAll): spectators and the recording. */
  private readonly watchers: Viewer[] = [];
  /** The game's view radius (InterestRules.viewRadius), world units. */
  readonly viewRadius: number;
  /** The position fields' range, world units (a camera is clamped into it). */
  private readonly maxX: number;
  private readonly maxY: number;
  /** Per row of the current frame: position (dequantized) and cell (-1: not placed). */
  private px = new Float64Array(64);
  private py = new Float64Array(64);
  private cellOf = new Int32Array(64);
  /** Counting sort of rows into cells: cellStart[c]..cellStart[c+1] index cellRows, and the rows' positions in the same order (read in sequence). */
  private readonly cellStart: Int32Array;
  private cellRows = new Int32Array(64);
  private cellX = new Float64Array(64);
  private cellY = new Float64Array(64);
  /** Per entity id, the mark of the view being built when the entity was in that player's previous view (the hysteresis test; one array for the room, no clearing: each view takes a new mark). */
  private readonly held: Int32Array;
  private heldMark = 0;
  /** Rows of the current frame's global entities, ascending. */
  private globalRows = new Int32Array(16);
  private globalCount = 0;
  /** Bit per row of the frame: set when the row is in the view being built (dedupes, then yields the rows in order). */
  private pick = new Uint32Array(2);
  /** Rows of the current frame of every view computed on it, each view's ascending from its rowsAt (read in sequence by the encoder). */
  rows = new Int32Array(256);
  private rowsUsed = 0;
  /** The view of the viewer at each position of the last list handed to update() (viewOf without its map lookup while the list stays the same). */
  private byPos: (Viewer | undefined)[] = [];
  private viewByPos: (ClientView | undefined)[] = [];
  /** Frame tick update() last computed the view of each position at (-1: never). */
  private tickByPos = new Float64Array(64).fill(-1);
  /** Phase of the view of each position of that list (-1: none yet). */
  private phaseByPos = new Int32Array(64).fill(-1);
  /** The frame tick's phase and whether its frame is bucketed yet, during an update. */
  private phaseNow = 0;
  private bucketed = false;
  private frame: SnapshotFrame | undefined;
  /** Bytes a view may take per snapshot (0: no budget), and the estimated bytes of one created record. */
  private readonly budgetPerSnapshot: number;
  private readonly createBytes: number;
  /** Entrants of the view being built: rows, priority, snapshots waited. */
  private entRow = new Int32Array(64);
  private entPri = new Float64Array(64);
  private entAge = new Int32Array(64);
  /** Phase the next new view gets (round robin). */
  private nextPhase = 0;

  /**
   * @param game the game (its interest rules and position fields)
   * @param schema its compiled schema
   * @param ctx the room's context (handed to the game's hooks; global components' world)
   * @param historyLength snapshots each view remembers (the room's history length)
   * @param stats counters, usually shared by every room
   * @param budgetBytesPerSec snapshot bytes per second a view may take (0: no budget); ServerConfig.viewBudgetBytesPerSec
   * @param snapshotRateHz snapshots per second (for the budget)
   * @param phases tick phases the players' snapshots are spread over (ticks between snapshots; 1: every
   *   view on the snapshot ticks, tick % phases === 0). With more, each new view takes the next phase in
   *   turn and is computed on the ticks of its phase: a player still gets one view per snapshot interval.
   */
  constructor(
    game: AnyGame,
    readonly schema: NetSchema,
    private readonly ctx: GameContext<Components>,
    readonly historyLength: number,
    stats?: InterestStats,
    budgetBytesPerSec = 0,
    snapshotRateHz = 20,
    readonly phases = 1,
  ) {
    const rules = game.interest as InterestRules<Components> | undefined;
    if (!rules || !game.position) throw new Error(`${game.name}: interest management needs interest rules and position fields`);
    this.rules = rules;
    this.stats = stats ?? newInterestStats();
    const field = (name: string): number => {
      const i = schema.fields.findIndex((f) => `${f.component}.${f.field}` === name);
      if (i < 0) throw new Error(`${game.name}: position field ${name} is not networked`);
      return i;
    };
    this.fx = field(game.position.x);
    this.fy = field(game.position.y);
    this.posMask = ((1 << schema.fields[this.fx].compIndex) | (1 << schema.fields[this.fy].compIndex)) >>> 0;
    const qx = schema.fields[this.fx].q;
    const qy = schema.fields[this.fy].q;
    this.minX = qx.min;
    this.minY = qy.min;
    this.maxX = qx.max;
    this.maxY = qy.max;
    this.viewRadius = rules.viewRadius;
    const span = Math.max(qx.max - qx.min, qy.max - qy.min);
    const leaveRadius = rules.leaveRadius ?? rules.viewRadius * DEFAULT_LEAVE_FACTOR;
    this.leaveFactor = leaveRadius / rules.viewRadius;
    this.cellSize = Math.max(rules.cellSize ?? leaveRadius / 2, span / MAX_CELLS_PER_AXIS);
    this.cols = Math.floor((qx.max - qx.min) / this.cellSize) + 1;
    this.rowsN = Math.floor((qy.max - qy.min) / this.cellSize) + 1;
    this.cellStart = new Int32Array(this.cols * this.rowsN + 1);
    this.held = new Int32Array(schema.maxEntities);
    this.globals = (rules.global ?? []).map((n) => ctx.c[n]);
    this.budgetPerSnapshot = budgetBytesPerSec > 0 ? budgetBytesPerSec / snapshotRateHz : 0;
    const layout = snapshotLayout(schema);
    let bits = layout.nc + 4 + 4 * layout.nr;
    for (const f of schema.fields) bits += f.q.bits;
    this.createBytes = Math.ceil(bits / 8);
  }

  /** The view of `viewer` (created on first use). */
  viewOf(viewer: Viewer): ClientView {
    let v = this.views.get(viewer);
    if (!v) {
      v = new ClientView(this.historyLength);
      v.phase = this.nextPhase;
      this.nextPhase = (this.nextPhase + 1) % this.phases;
      this.views.set(viewer, v);
    }
    return v;
  }

  /**
   * The view of `viewer` if one was computed on `tick`, else undefined. `pos` is the viewer's
   * position in the list last handed to update(): while it is still there, the answer comes from
   * the room's arrays without reaching the view (two thirds of the players, of the other phases,
   * get nothing each tick); anywhere else, from the view itself.
   */
  viewAt(pos: number, viewer: Viewer, tick: number): ClientView | undefined {
    if (pos < this.byPos.length && this.byPos[pos] === viewer) return this.tickByPos[pos] === tick ? this.viewByPos[pos] : undefined;
    const v = this.views.get(viewer);
    return v && v.newest >= 0 && v.ticks[v.newest] === tick ? v : undefined;
  }

  /**
   * Computes a view for `viewer`, which has no entity, around a camera (a spectator): until
   * aim() places it, around the first player's entity, or the world centre when there is none.
   * `radius` is its enter radius (world units; the leave radius scales as the game's does),
   * default the game's viewRadius. The same hysteresis and byte budget as a player's apply; the
   * game's radiusOf and relevant hooks, which take a viewer entity, do not.
   */
  watch(viewer: Viewer, radius = this.viewRadius): ClientView {
    const v = this.viewOf(viewer);
    if (v.kind === 'player') this.watchers.push(viewer);
    v.kind = 'camera';
    v.camRadius = radius > 0 ? radius : this.viewRadius;
    return v;
  }

  /** Computes a view of every entity for `viewer`, which has no entity (a recording of the room): no radius, no budget. */
  watchAll(viewer: Viewer): ClientView {
    const v = this.viewOf(viewer);
    if (v.kind === 'player') this.watchers.push(viewer);
    v.kind = 'world';
    return v;
  }

  /** Stops computing the view of a watched viewer and forgets it. */
  unwatch(viewer: Viewer): void {
    const i = this.watchers.indexOf(viewer);
    if (i < 0) return;
    this.watchers[i] = this.watchers[this.watchers.length - 1];
    this.watchers.pop();
    this.views.delete(viewer);
  }

  /**
   * Points a watched viewer's camera at (x, y), clamped into the world, with enter radius
   * `radius` (world units, > 0; the caller caps it); with `follow` (an entity id, -1: none) the
   * view is centred on that entity instead while it has a position, and holds it as a player's
   * view holds its own entity. False when `viewer` is not a camera view.
   */
  aim(viewer: Viewer, x: number, y: number, radius: number, follow = -1): boolean {
    const v = this.views.get(viewer);
    if (!v || v.kind !== 'camera' || !(radius > 0)) return false;
    v.camX = Math.min(this.maxX, Math.max(this.minX, x));
    v.camY = Math.min(this.maxY, Math.max(this.minY, y));
    v.camRadius = radius;
    v.camFollow = follow;
    v.placed = true;
    return true;
  }

  /** Viewers watched (spectators and the recording). */
  get watching(): number {
    return this.watchers.length;
  }

  /** The view of `viewer` if it has one. */
  peek(viewer: Viewer): ClientView | undefined {
    return this.views.get(viewer);
  }

  /** The frame the newest views were computed on. */
  get current(): SnapshotFrame | undefined {
    return this.frame;
  }

  /**
   * Computes the view of `frame` (a captured frame: a snapshot tick's, or with phases every tick's)
   * for every viewer whose phase is the frame tick's, and remembers it under frame.tick: the same
   * as beginUpdate, updateAt for each position of `viewers`, then finishUpdate.
   */
  update(frame: SnapshotFrame, viewers: readonly Viewer[]): void {
    this.beginUpdate(frame);
    for (let p = 0; p < viewers.length; p++) this.updateAt(p, viewers[p]);
    this.finishUpdate(viewers);
  }

  /**
   * Starts the views of `frame`, computed one position at a time by updateAt and ended by
   * finishUpdate. The tick does it that way to encode each player's snapshot right after its view,
   * while the view's memory is still in the cache.
   */
  beginUpdate(frame: SnapshotFrame): void {
    this.frame = frame;
    this.rowsUsed = 0;
    this.phaseNow = frame.tick % this.phases;
    this.bucketed = false;
  }

  /**
   * Computes the view of `viewer`, at position `p` of the viewers' list, when its phase is the
   * frame's (after beginUpdate; positions in list order). True when it was computed. A viewer of
   * another phase already known at `p` is told apart without reaching it or its view.
   */
  updateAt(p: number, viewer: Viewer): boolean {
    const byPos = this.byPos;
    if (byPos[p] === viewer && p < this.phaseByPos.length && this.phaseByPos[p] !== this.phaseNow) return false;
    if (viewer.eid < 0) return false;
    const viewByPos = this.viewByPos;
    let view = byPos[p] === viewer ? viewByPos[p] : undefined;
    if (!view) {
      view = this.viewOf(viewer);
      byPos[p] = viewer;
      viewByPos[p] = view;
      this.growByPos(p);
      this.tickByPos[p] = -1;
      this.phaseByPos[p] = view.phase;
    }
    if (view.phase !== this.phaseNow) return false;
    const frame = this.frame as SnapshotFrame;
    if (!this.bucketed) {
      this.bucket(frame);
      this.bucketed = true;
    }
    this.playerView(frame, viewer.eid, view);
    this.tickByPos[p] = frame.tick;
    return true;
  }

  /** Makes the per-position arrays hold position `p`. */
  private growByPos(p: number): void {
    if (p < this.tickByPos.length) return;
    const cap = Math.max(p + 1, this.tickByPos.length * 2);
    const ticks = new Float64Array(cap).fill(-1);
    ticks.set(this.tickByPos);
    this.tickByPos = ticks;
    const phases = new Int32Array(cap).fill(-1);
    phases.set(this.phaseByPos);
    this.phaseByPos = phases;
  }

  /** Ends the views begun by beginUpdate: forgets positions past the end of `viewers`, then computes the watched viewers' views (spectators, the recording). */
  finishUpdate(viewers: readonly Viewer[]): void {
    const frame = this.frame as SnapshotFrame;
    const phase = this.phaseNow;
    const byPos = this.byPos;
    const viewByPos = this.viewByPos;
    // forget viewers past the end of the list (they may have left the room)
    if (byPos.length > viewers.length) {
      byPos.length = viewers.length;
      viewByPos.length = viewers.length;
    }
    const watchers = this.watchers;
    for (let p = 0; p < watchers.length; p++) {
      const view = this.views.get(watchers[p]);
      if (!view || view.phase !== phase) continue;
      if (view.kind === 'world') {
        this.worldView(frame, view);
        continue;
      }
      if (!this.bucketed) {
        this.bucket(frame);
        this.bucketed = true;
      }
      if (view.placed) {
        const r = view.camFollow >= 0 ? frame.indexOf(view.camFollow) : -1;
        if (r >= 0 && this.cellOf[r] >= 0) this.computeView(frame, -1, r, view, this.px[r], this.py[r], view.camRadius);
        else this.computeView(frame, -1, -1, view, view.camX, view.camY, view.camRadius);
        continue;
      }
      // no camera yet: around the first player's entity, else the world centre
      let x = (this.minX + this.maxX) / 2;
      let y = (this.minY + this.maxY) / 2;
      for (let q = 0; q < viewers.length; q++) {
        const r = viewers[q].eid >= 0 ? frame.indexOf(viewers[q].eid) : -1;
        if (r < 0 || this.cellOf[r] < 0) continue;
        x = this.px[r];
        y = this.py[r];
        break;
      }
      this.computeView(frame, -1, -1, view, x, y, view.camRadius);
    }
  }

  /** A player's view: around its entity, with the game's radius for it; only its own entity and the globals while it has no position. */
  private playerView(frame: SnapshotFrame, eid: number, view: ClientView): void {
    const self = frame.indexOf(eid);
    if (self < 0 || this.cellOf[self] < 0) return this.computeView(frame, eid, self, view, 0, 0, -1);
    const rules = this.rules;
    const radius = rules.radiusOf ? rules.radiusOf(this.ctx, eid) : rules.viewRadius;
    this.computeView(frame, eid, self, view, this.px[self], this.py[self], radius);
  }

  /** Makes room for `n` more rows in the tick's rows (by doubling; the rows so far kept) and returns where they start. */
  private reserveRows(n: number): number {
    const at = this.rowsUsed;
    if (this.rows.length < at + n) {
      const grown = new Int32Array(Math.max(at + n, this.rows.length * 2));
      grown.set(this.rows.subarray(0, at));
      this.rows = grown;
    }
    return at;
  }

  /** A view of every entity of the frame (a recording's). */
  private worldView(frame: SnapshotFrame, view: ClientView): void {
    const n = frame.count;
    const at = this.reserveRows(n);
    const rows = this.rows;
    for (let i = 0; i < n; i++) rows[at + i] = i;
    this.rowsUsed = at + n;
    view.rowsAt = at;
    this.record(frame, view, rows, at, n, view.newest);
  }

  /** Places every row of the frame in its grid cell and lists the global entities' rows. */
  private bucket(frame: SnapshotFrame): void {
    const n = frame.count;
    if (this.px.length < n) {
      const cap = Math.max(n, this.px.length * 2);
      this.px = new Float64Array(cap);
      this.py = new Float64Array(cap);
      this.cellOf = new Int32Array(cap);
      this.cellRows = new Int32Array(cap);
      this.cellX = new Float64Array(cap);
      this.cellY = new Float64Array(cap);
    }
    const { fx, fy, posMask, minX, minY, cellSize, cols } = this;
    const nf = frame.fieldCount;
    const qx = this.schema.fields[fx].q;
    const qy = this.schema.fields[fy].q;
    const start = this.cellStart;
    start.fill(0);
    for (let i = 0; i < n; i++) {
      if ((frame.masks[i] & posMask) !== posMask) {
        this.cellOf[i] = -1;
        continue;
      }
      const x = qx.dequantize(frame.values[i * nf + fx]);
      const y = qy.dequantize(frame.values[i * nf + fy]);
      this.px[i] = x;
      this.py[i] = y;
      const c = Math.floor((x - minX) / cellSize) + Math.floor((y - minY) / cellSize) * cols;
      this.cellOf[i] = c;
      start[c + 1]++;
    }
    for (let c = 1; c < start.length; c++) start[c] += start[c - 1];
    // Fill in row order, so each cell lists its rows ascending; start[c] ends as the cell's end, shifted back below.
    for (let i = 0; i < n; i++) {
      const c = this.cellOf[i];
      if (c < 0) continue;
      const k = start[c]++;
      this.cellRows[k] = i;
      this.cellX[k] = this.px[i];
      this.cellY[k] = this.py[i];
    }
    for (let c = start.length - 1; c > 0; c--) start[c] = start[c - 1];
    start[0] = 0;
    this.globalCount = 0;
    const globals = this.globals;
    if (globals.length === 0) return;
    const world = this.ctx.world;
    for (let i = 0; i < n; i++) {
      const e = frame.ids[i];
      for (let g = 0; g < globals.length; g++) {
        if (!hasComponent(world, e, globals[g])) continue;
        if (this.globalCount === this.globalRows.length) {
          const grown = new Int32Array(this.globalRows.length * 2);
          grown.set(this.globalRows);
          this.globalRows = grown;
        }
        this.globalRows[this.globalCount++] = i;
        break;
      }
    }
  }

  /**
   * One viewer's view of the frame, written into the next ring slot of `view`: its own entity
   * (`eid` at row `self`; for a camera eid -1 and self the followed entity's row, or -1), the global entities, and the entities around (x, y)
   * within `radius` (enter) and its leave radius for those already in the view (none when radius <= 0).
   */
  private computeView(frame: SnapshotFrame, eid: number, self: number, view: ClientView, x: number, y: number, radius: number): void {
    const prev = view.newest;
    const words = (frame.count + 31) >>> 5;
    if (this.pick.length < words) this.pick = new Uint32Array(Math.max(words, this.pick.length * 2));
    const pick = this.pick;
    let lo = frame.count;
    let hi = -1;
    let n = 0;
    let ne = 0;
    const budget = this.budgetPerSnapshot > 0;
    const ids = frame.ids;
    const held = this.held;
    const ring = view.ring;
    const oldAt = prev >= 0 ? prev * view.stride : 0;
    const oldEnd = prev >= 0 ? oldAt + view.counts[prev] : 0;
    if (this.heldMark === 0x7fffffff) {
      held.fill(0);
      this.heldMark = 0;
    }
    const mark = ++this.heldMark;
    for (let i = oldAt; i < oldEnd; i++) held[ring[i]] = mark;
    // entities of the view that were in the previous one: what entered and what left follow from it
    let same = 0;
    if (self >= 0) {
      pick[self >>> 5] |= 1 << (self & 31);
      lo = hi = self;
      n++;
      if (held[ids[self]] === mark) same++;
    }
    for (let g = 0; g < this.globalCount; g++) {
      const r = this.globalRows[g];
      if ((pick[r >>> 5] >>> (r & 31)) & 1) continue;
      pick[r >>> 5] |= 1 << (r & 31);
      if (r < lo) lo = r;
      if (r > hi) hi = r;
      n++;
      if (held[ids[r]] === mark) same++;
    }
    if (radius > 0) {
      const enter2 = radius * radius;
      const leave = radius * this.leaveFactor;
      const leave2 = leave * leave;
      const cellX = this.cellX;
      const cellY = this.cellY;
      const { minX, minY, cellSize, cols, rowsN } = this;
      const c0 = Math.max(0, Math.floor((x - leave - minX) / cellSize));
      const c1 = Math.min(cols - 1, Math.floor((x + leave - minX) / cellSize));
      const r0 = Math.max(0, Math.floor((y - leave - minY) / cellSize));
      const r1 = Math.min(rowsN - 1, Math.floor((y + leave - minY) / cellSize));
      const start = this.cellStart;
      const cellRows = this.cellRows;
      // a camera has no entity to ask the game's rule about
      const relevant = eid >= 0 ? this.rules.relevant : undefined;
      const ctx = this.ctx;
      if (budget && this.entRow.length < frame.count) {
        this.entRow = new Int32Array(frame.count);
        this.entPri = new Float64Array(frame.count);
        this.entAge = new Int32Array(frame.count);
      }
      // A cell whose nearest point is beyond the leave radius holds no candidate (the square of
      // cells around the disc has a sixth of its area in its corners): skipped whole. The margin
      // covers a position that the grid's floor put in a cell an ulp away from its edge.
      const skip = leave + cellSize * 1e-9;
      const skip2 = skip * skip;
      for (let cy = r0; cy <= r1; cy++) {
        const rowBase = cy * cols;
        const yLo = minY + cy * cellSize;
        const ddy = y < yLo ? yLo - y : y > yLo + cellSize ? y - yLo - cellSize : 0;
        const ddy2 = ddy * ddy;
        for (let cx = c0; cx <= c1; cx++) {
          const xLo = minX + cx * cellSize;
          const ddx = x < xLo ? xLo - x : x > xLo + cellSize ? x - xLo - cellSize : 0;
          if (ddx * ddx + ddy2 > skip2) continue;
          const c = cx + rowBase;
          const end = start[c + 1];
          for (let k = start[c]; k < end; k++) {
            const dx = cellX[k] - x;
            const dy = cellY[k] - y;
            const d2 = dx * dx + dy * dy;
            if (d2 > leave2) continue;
            const r = cellRows[k];
            if ((pick[r >>> 5] >>> (r & 31)) & 1) continue;
            const e = ids[r];
            const wasIn = held[e] === mark;
            if (d2 > enter2) {
              if (!wasIn) continue;
            } else if (budget && !wasIn) {
              if (relevant && !relevant(ctx, eid, e)) continue;
              this.entRow[ne] = r;
              this.entPri[ne] = 2 - Math.sqrt(d2) / leave;
              ne++;
              continue;
            }
            if (relevant && !relevant(ctx, eid, e)) continue;
            pick[r >>> 5] |= 1 << (r & 31);
            if (r < lo) lo = r;
            if (r > hi) hi = r;
            n++;
            if (wasIn) same++;
          }
        }
      }
    }
    if (budget && ne > 0) {
      const admitted = this.admit(frame, view, ne);
      for (let k = 0; k < admitted; k++) {
        const r = this.entRow[k];
        pick[r >>> 5] |= 1 << (r & 31);
        if (r < lo) lo = r;
        if (r > hi) hi = r;
        n++;
      }
    } else if (budget) view.waitCount = 0;
    // The picked rows in ascending order (the frame's id order), clearing the bitmap as it goes.
    const at = this.reserveRows(n);
    const rows = this.rows;
    let o = at;
    if (hi >= 0) {
      for (let w = lo >>> 5; w <= hi >>> 5; w++) {
        let v = pick[w];
        if (v === 0) continue;
        pick[w] = 0;
        while (v !== 0) {
          const low = v & -v;
          rows[o++] = (w << 5) + 31 - Math.clz32(low);
          v ^= low;
        }
      }
    }
    if (o - at !== n) throw new Error(`view of ${eid}: ${o - at} rows picked, ${n} counted`);
    this.rowsUsed = o;
    view.rowsAt = at;
    this.record(frame, view, rows, at, n, prev, same);
  }

  /**
   * The byte budget (Glenn Fiedler's priority accumulator, on entries): each entrant's priority is
   * what it accumulated while waiting plus a weight of 1..2 that grows as it comes closer; the
   * highest enter while the view's budget (refilled by budgetPerSnapshot each snapshot, at most
   * two snapshots' worth, spent by the packets sent) covers the kept entities' last cost and one
   * created record each. At least one enters per snapshot, so a waiting entity's priority grows
   * past any newcomer's and none waits forever. Kept entities are never held back: their updates
   * are what keeps the client's frame the room's. Sorts entRow by priority; returns how many of
   * its first entries enter.
   */
  private admit(frame: SnapshotFrame, view: ClientView, ne: number): number {
    const per = this.budgetPerSnapshot;
    view.tokens = view.tokens < 0 ? 2 * per : Math.min(2 * per, view.tokens + per);
    const { entRow, entPri, entAge } = this;
    const ids = frame.ids;
    for (let k = 0; k < ne; k++) {
      const e = ids[entRow[k]];
      entAge[k] = 0;
      for (let w = 0; w < view.waitCount; w++) {
        if (view.waitIds[w] !== e) continue;
        entPri[k] += view.waitPri[w];
        entAge[k] = view.waitAge[w];
        break;
      }
    }
    // Highest priority first (insertion sort: entrants are a few per snapshot, a view's worth at a join).
    for (let i = 1; i < ne; i++) {
      const r = entRow[i];
      const p = entPri[i];
      const a = entAge[i];
      let j = i - 1;
      while (j >= 0 && entPri[j] < p) {
        entRow[j + 1] = entRow[j];
        entPri[j + 1] = entPri[j];
        entAge[j + 1] = entAge[j];
        j--;
      }
      entRow[j + 1] = r;
      entPri[j + 1] = p;
      entAge[j + 1] = a;
    }
    const measured = view.lastCreatedBytes >= 0 && view.lastEntered > 0;
    const entryBytes = measured ? Math.max(1, view.lastCreatedBytes / view.lastEntered) : this.createBytes;
    const createdBytes = view.lastCreatedBytes >= 0 ? view.lastCreatedBytes : view.lastEntered * this.createBytes;
    const keptCost = Math.max(0, view.lastBytes - createdBytes);
    let allowance = view.tokens - keptCost;
    let k = 0;
    const stats = this.stats;
    while (k < ne && (k === 0 || allowance >= entryBytes)) {
      allowance -= entryBytes;
      if (entAge[k] > stats.maxWaitSnapshots) stats.maxWaitSnapshots = entAge[k];
      k++;
    }
    const waiting = ne - k;
    if (view.waitIds.length < waiting) {
      const cap = Math.max(waiting, view.waitIds.length * 2);
      view.waitIds = new Uint16Array(cap);
      view.waitPri = new Float64Array(cap);
      view.waitAge = new Int32Array(cap);
    }
    for (let w = 0; w < waiting; w++) {
      view.waitIds[w] = ids[entRow[k + w]];
      view.waitPri[w] = entPri[k + w];
      view.waitAge[w] = entAge[k + w] + 1;
    }
    view.waitCount = waiting;
    stats.deferred += waiting;
    return k;
  }

  /**
   * Stores the view's ids (frame rows rows[at, at + n)) under frame.tick in the next slot, and
   * counts entries and exits: `same` ids of it were in the previous view (slot `prev`), or -1 when
   * not counted (a merge of the two lists counts them).
   */
  private record(frame: SnapshotFrame, view: ClientView, rows: Int32Array, at: number, n: number, prev: number, same = -1): void {
    const slot = (view.newest + 1) % view.length;
    view.ensureStride(n);
    const ring = view.ring;
    const base = slot * view.stride;
    const fids = frame.ids;
    for (let i = 0; i < n; i++) ring[base + i] = fids[rows[at + i]];
    view.counts[slot] = n;
    view.ticks[slot] = frame.tick;
    view.newest = slot;
    view.updates++;
    // a recording's view of the whole world is no client's: the counters are the clients' views
    if (view.kind === 'world') return;
    const st = this.stats;
    st.views++;
    st.viewEntities += n;
    if (prev < 0) {
      st.entered += n;
      view.lastEntered = n;
      return;
    }
    const m = view.counts[prev];
    if (same >= 0) {
      st.entered += n - same;
      st.left += m - same;
      view.lastEntered = n - same;
      return;
    }
    // Both lists are ascending: one merge counts what entered and what left.
    const ob = prev * view.stride;
    let i = 0;
    let j = 0;
    same = 0;
    while (i < n && j < m) {
      const a = ring[base + i];
      const b = ring[ob + j];
      if (a === b) {
        same++;
        i++;
        j++;
      } else if (a < b) i++;
      else j++;
    }
    st.entered += n - same;
    st.left += m - same;
    view.lastEntered = n - same;
  }
}

/** Copies rows `rows[at, at + n)` (ascending) of `src` into `dst` (tick set by the caller). */
function gatherRows(src: SnapshotFrame, dst: SnapshotFrame, n: number, rows: Int32Array, at = 0): void {
  dst.ensureCapacity(n);
  const nf = src.fieldCount;
  const nr = src.rateCount;
  const sIds = src.ids;
  const sMasks = src.masks;
  const sv = src.values;
  const sr = src.rates;
  const dIds = dst.ids;
  const dMasks = dst.masks;
  const dv = dst.values;
  const dr = dst.rates;
  for (let i = 0; i < n; i++) {
    const r = rows[at + i];
    dIds[i] = sIds[r];
    dMasks[i] = sMasks[r];
    const so = r * nf;
    const d = i * nf;
    for (let f = 0; f < nf; f++) dv[d + f] = sv[so + f];
    const sro = r * nr;
    const dro = i * nr;
    for (let k = 0; k < nr; k++) dr[dro + k] = sr[sro + k];
  }
  dst.count = n;
  dst.complete = true;
}

/**
 * Rows of `src` holding ids[0..n) (ascending, each present: a missing one is our bug and
 * throws), into `out`: one merge walk, with a binary search to skip long stretches.
 */
function rowsOfIds(src: SnapshotFrame, ids: Uint16Array, n: number, out: Int32Array): void {
  const sIds = src.ids;
  const count = src.count;
  let r = 0;
  for (let i = 0; i < n; i++) {
    const id = ids[i];
    if (r < count && sIds[r] !== id) r = src.lowerBound(id);
    if (r >= count || sIds[r] !== id) throw new Error(`view entity ${id} missing from the frame of tick ${src.tick}`);
    out[i] = r++;
  }
}

const { Same: ITEM_SAME, Updated: ITEM_UPDATED } = ItemKind;

/** Bits of the Exp-Golomb code of each run length below SKIP_COST_RUNS at each order (run * K_CHOICES + order): a view's runs are short. */
const SKIP_COST_RUNS = 1024;
const SKIP_COST = Uint8Array.from({ length: SKIP_COST_RUNS * K_CHOICES }, (_, i) => egBits(Math.floor(i / K_CHOICES), i % K_CHOICES));
const { None: MODE_NONE, Rate: MODE_RATE, Raw: MODE_RAW } = SlotMode;

/** Appends bits [bitOff, bitOff + bitLen) of `src` (LSB-first, as BitWriter writes) to `w`, 24 at a time. */
function copyBits(w: BitWriter, src: Uint8Array, bitOff: number, bitLen: number): void {
  let off = bitOff;
  let left = bitLen;
  while (left > 0) {
    const take = left < 24 ? left : 24;
    const i = off >>> 3;
    const word = (src[i] | (src[i + 1] << 8) | (src[i + 2] << 16) | (src[i + 3] << 24)) >>> (off & 7);
    w.writeBits((word & ((1 << take) - 1)) >>> 0, take);
    off += take;
    left -= take;
  }
}

/**
 * The shared work of one baseline tick at the current snapshot tick: the room frame planned once
 * against the room frame of the baseline tick (every entity's item kind and slot codes, the rate
 * orders), and every changed entity's record U header and body encoded once into `w`. A client
 * whose view baseline has that tick copies the records of the entities it holds.
 */
class BaselineGroup {
  /** Baseline tick, -2 when unused. */
  baselineTick = -2;
  /** Serial of the snapshot tick it was planned at. */
  serial = -1;
  lastUse = 0;
  readonly plan: SectionPlanner;
  readonly w: BitWriter;
  /** Plan item of each target row. */
  itemOfRow: Int32Array;
  /** Per plan item (updated ones): bit offset and length of its record U header and body in `w`. */
  hdrOff: Int32Array;
  hdrLen: Int32Array;
  bodyOff: Int32Array;
  bodyLen: Int32Array;

  constructor(layout: SnapshotLayout, maxPacketBytes: number, capacityBytes: number) {
    this.plan = new SectionPlanner(layout, maxPacketBytes);
    this.w = new BitWriter(capacityBytes);
    const n = 2 * layout.schema.maxEntities;
    this.itemOfRow = new Int32Array(layout.schema.maxEntities);
    this.hdrOff = new Int32Array(n);
    this.hdrLen = new Int32Array(n);
    this.bodyOff = new Int32Array(n);
    this.bodyLen = new Int32Array(n);
  }

  /** Plans `T` against `B` and encodes every updated record. */
  prepare(T: SnapshotFrame, B: SnapshotFrame): void {
    const plan = this.plan;
    const dt = T.tick - B.tick;
    // the items and orders only: each client's packet is written from them, never the room's parts
    plan.planItems(T, B, dt);
    const w = this.w;
    w.reset();
    const rec = plan.rec;
    const ns = plan.layout.ns;
    const aBits = ageBits(dt);
    const { iKind, iRow, sFlag, sMode, sVal, iMaskChanged, iHasRate, iAge, orders } = plan;
    for (let it = 0; it < plan.nItems; it++) {
      const row = iRow[it];
      if (row >= 0) this.itemOfRow[row] = it;
      if (iKind[it] !== ITEM_UPDATED) continue;
      const sb = it * ns;
      let at = w.bitLength();
      rec.writeUpdateHeader(w, false, iMaskChanged[it], T.masks[row], sFlag, sb);
      this.hdrOff[it] = at;
      this.hdrLen[it] = w.bitLength() - at;
      at = w.bitLength();
      rec.writeUpdateBody(w, orders, aBits, iHasRate[it], iAge[it], sMode, sVal, sb);
      this.bodyOff[it] = at;
      this.bodyLen[it] = w.bitLength() - at;
    }
  }
}

/**
 * Snapshots of each client's view: the room frame restricted to the client's view, as a delta
 * against the client's newest acknowledged view still remembered (the room frame of that tick
 * restricted to the view of that tick: exactly the frame the client decoded), with full snapshots
 * of the view as the counted fallback. Entities that entered the view since the baseline are
 * created records, those that left are removed records: the wire format and the client are the
 * same as without views. Each client's section is encoded for it alone (see docs/snapshots.md).
 */
export class ViewSnapshotEncoder implements SnapshotEncoder {
  private readonly codec: SectionEncoder;
  private readonly w: BitWriter;
  private readonly parts = new SectionParts();
  private readonly target: SnapshotFrame;
  private readonly base: SnapshotFrame;
  private baseRows = new Int32Array(64);
  /** Views of the writer's first bytes by length (part 0 starts at 0): no object per packet in steady state. */
  private readonly headViews: (Uint8Array | undefined)[];
  private readonly ticksPerSnapshot: number;
  private readonly fullRetryTicks: number;
  private readonly layout: SnapshotLayout;
  private readonly maxPacketBytes: number;
  private readonly capacityBytes: number;
  private readonly shared: boolean;
  private readonly maxGroups: number;
  private readonly groups: BaselineGroup[] = [];
  private readonly fields = new FieldWriter();
  private readonly place = newPartPlacement();
  private readonly orders: CodeOrders;
  private readonly zeroHeader: Uint8Array;
  /** Per-client scratch of the shared path: removed baseline indices, created target rows, kept plan items. */
  private removed = new Int32Array(64);
  private created = new Int32Array(64);
  private kept = new Int32Array(64);
  private readonly skipCost = new Float64Array(K_CHOICES);
  private readonly cMode: Uint8Array;
  private readonly cVal: Float64Array;
  private frame: SnapshotFrame | undefined;
  private history: SnapshotHistory | undefined;
  private serial = 0;
  private uses = 0;
  /** encodeFor calls since begin. */
  private calls = 0;

  /**
   * @param schema the game's compiled schema
   * @param interest the room's views (updated before each begin)
   * @param net netcode settings (maxPacketBytes, rates); default DEFAULT_NET_CONFIG
   * @param stats counters, usually shared by every room's encoder
   * @param opts fullRetrySnapshots and maxSections (distinct baselines shared per snapshot tick) as
   *   for DeltaSnapshotEncoder, forceFull does not apply; `shared: false` encodes every client's
   *   section on its own (the reference the shared path is measured and tested against)
   */
  constructor(
    schema: NetSchema,
    readonly interest: InterestManager,
    net: NetConfig = DEFAULT_NET_CONFIG,
    readonly stats: EncoderStats = newEncoderStats(),
    opts: DeltaEncoderOptions & { shared?: boolean } = {},
  ) {
    this.codec = new SectionEncoder(schema, net.maxPacketBytes);
    this.capacityBytes = this.codec.sectionCapacityBytes();
    this.w = new BitWriter(this.capacityBytes);
    this.layout = snapshotLayout(schema);
    this.maxPacketBytes = net.maxPacketBytes;
    this.shared = opts.shared !== false;
    this.maxGroups = Math.max(1, opts.maxSections ?? 8);
    this.orders = new CodeOrders(this.layout.nr);
    this.zeroHeader = new Uint8Array(snapshotHeaderBytes(SnapshotKind.Delta));
    this.cMode = new Uint8Array(this.layout.ns);
    this.cVal = new Float64Array(this.layout.ns);
    this.target = new SnapshotFrame(schema, 64);
    this.base = new SnapshotFrame(schema, 64);
    this.headViews = new Array<Uint8Array | undefined>(net.maxPacketBytes + 1).fill(undefined);
    this.ticksPerSnapshot = net.tickRateHz / net.snapshotRateHz;
    this.fullRetryTicks = Math.max(1, opts.fullRetrySnapshots ?? 8) * this.ticksPerSnapshot;
  }

  begin(frame: SnapshotFrame, history: SnapshotHistory): void {
    this.frame = frame;
    this.history = history;
    this.serial++;
    this.calls = 0;
  }

  /** The next viewer has no view of this tick: its place in the order of the calls is taken without reaching it. */
  skip(): void {
    this.calls++;
  }

  encodeFor(client: SnapshotClient & Partial<Viewer>, send: (bytes: Uint8Array) => void): number {
    const frame = this.frame;
    if (!frame) throw new Error('encodeFor before begin');
    // Called for the room's players in their order, then for others: the k-th call is the k-th viewer of update() when it is a player.
    const view = this.interest.viewAt(this.calls++, client as Viewer, frame.tick);
    // A client without a view of this tick (another phase, or no entity yet) gets nothing this tick.
    if (!view) return 0;
    if (client.link) client.link.phase = view.phase;
    const bt = this.chooseBaseline(client, view, frame);
    if (bt >= 0 && this.shared && this.encodeShared(client, view, frame, bt, send)) return 1;
    const T = this.target;
    gatherRows(frame, T, view.counts[view.newest], this.interest.rows, view.rowsAt);
    T.tick = frame.tick;
    const B = bt >= 0 ? this.rebuild(this.history!.get(bt) as SnapshotFrame, view, view.slotOf(bt)) : null;
    const parts = this.parts;
    this.codec.encode(T, B, this.w, parts);
    const stats = this.stats;
    const link = client.link;
    stats.bodiesEncoded++;
    if (B) stats.deltaSnapshots++;
    else stats.fullSnapshots++;
    if (link) {
      if (B) link.deltaSnapshots++;
      else link.fullSnapshots++;
    }
    if (parts.count > 1) stats.splitSnapshots++;
    view.tokens -= parts.bytes;
    view.lastBytes = parts.bytes;
    view.lastCreatedBytes = -1;
    const bytes = this.w.bytes;
    for (let p = 0; p < parts.count; p++) {
      const start = parts.start[p];
      const end = parts.end[p];
      patchSnapshotClientFields(bytes, start, client.inputAck, client.hasInputAck);
      let v: Uint8Array | undefined;
      if (start === 0) v = this.headViews[end] ??= bytes.subarray(0, end);
      else v = bytes.subarray(start, end);
      stats.packetsOut++;
      stats.bytesOut += v.length;
      if (v.length > stats.largestPacketBytes) stats.largestPacketBytes = v.length;
      send(v);
    }
    return parts.count;
  }

  /**
   * The client's baseline tick: its newest acknowledged snapshot whose room frame is still in the
   * history and whose view is still remembered; or -1 for a full snapshot. While the ack of a full snapshot is pending (fullRetrySnapshots), deltas go against
   * that full snapshot, as DeltaSnapshotEncoder does.
   */
  private chooseBaseline(client: SnapshotClient, view: ClientView, frame: SnapshotFrame): number {
    const history = this.history as SnapshotHistory;
    let ackedTick = -1;
    let acked: SnapshotFrame | undefined;
    if (client.ackedTick >= 0) {
      for (let i = -1; i < 32; i++) {
        if (i >= 0 && ((client.ackedBits >>> i) & 1) === 0) continue;
        const tick = client.ackedTick - (i + 1) * this.ticksPerSnapshot;
        if (tick >= frame.tick) continue;
        if (frame.tick - tick > MAX_BASELINE_AGE_TICKS || tick < 0) break;
        const slot = view.slotOf(tick);
        const room = slot >= 0 ? history.get(tick) : undefined;
        if (room) {
          ackedTick = tick;
          acked = room;
          break;
        }
      }
    }
    const ft = view.fullTick;
    if (ft >= 0 && (!acked || ackedTick < ft) && ft < frame.tick && frame.tick - ft <= this.fullRetryTicks) {
      const slot = view.slotOf(ft);
      const room = slot >= 0 ? history.get(ft) : undefined;
      if (room) {
        this.stats.deltaUnacked++;
        return ft;
      }
    }
    if (acked) return ackedTick;
    if (client.ackedTick < 0) this.stats.fullNoAck++;
    else this.stats.fullBaselineGone++;
    view.fullTick = frame.tick;
    return -1;
  }

  /**
   * The shared path: the client's delta against its view at `bt` written from the baseline group's
   * plan and pre-encoded records (its own removed and created records, run lengths and repeat bits
   * written here). False when the snapshot would not fit one packet: the caller encodes it alone.
   */
  private encodeShared(client: SnapshotClient, view: ClientView, frame: SnapshotFrame, bt: number, send: (bytes: Uint8Array) => void): boolean {
    const g = this.groupFor(frame, bt);
    const slot = view.slotOf(bt);
    const bIds = view.ring;
    const bAt = slot * view.stride;
    const bn = view.counts[slot];
    const rows = this.interest.rows;
    const rAt = view.rowsAt;
    const tn = view.counts[view.newest];
    if (this.kept.length < tn || this.removed.length < bn) {
      const cap = Math.max(tn, bn) * 2;
      this.removed = new Int32Array(cap);
      this.created = new Int32Array(cap);
      this.kept = new Int32Array(cap);
    }
    const { removed, created, kept } = this;
    const plan = g.plan;
    const iKind = plan.iKind;
    const ids = frame.ids;
    let nr = 0;
    let nc = 0;
    let nk = 0;
    let nu = 0;
    let i = 0;
    let j = 0;
    // Merge the view (its ids, the newest slot of the ring) with the baseline view, both ascending;
    // the runs of unchanged kept entities, counted on the way, give the run-length order this
    // client's runs code cheapest in.
    const itemOfRow = g.itemOfRow;
    const tAt = view.newest * view.stride;
    const skipCost = this.skipCost;
    skipCost.fill(0);
    let run = 0;
    while (i < tn || j < bn) {
      const idT = i < tn ? bIds[tAt + i] : 0x7fffffff;
      const idB = j < bn ? bIds[bAt + j] : 0x7fffffff;
      if (idB < idT) removed[nr++] = j++;
      else if (idT < idB) created[nc++] = rows[rAt + i++];
      else {
        const it = itemOfRow[rows[rAt + i]];
        if (iKind[it] === ITEM_SAME) run++;
        else {
          if (iKind[it] === ITEM_UPDATED) nu++;
          if (run < SKIP_COST_RUNS) for (let o = 0, b = run * K_CHOICES; o < K_CHOICES; o++) skipCost[o] += SKIP_COST[b + o];
          else for (let o = 0; o < K_CHOICES; o++) skipCost[o] += egBits(run, o);
          run = 0;
        }
        kept[nk++] = it;
        i++;
        j++;
      }
    }
    let skipK = 0;
    for (let o = 1; o < K_CHOICES; o++) if (skipCost[o] < skipCost[skipK]) skipK = o;
    const orders = this.orders;
    orders.skipK = skipK;
    orders.rateK.set(plan.orders.rateK);
    const w = this.w;
    const layout = this.layout;
    const rec = plan.rec;
    w.reset();
    w.writeBytes(this.zeroHeader);
    writeSnapshotHeader(w.bytes, SnapshotKind.Delta, frame.tick, 0, false, 0, 1, bt, 0);
    serializePlacement(this.fields.to(w), layout, 1, this.place);
    serializeOrders(this.fields, layout, orders);
    writeCount(w, REMOVED, nr);
    let last = -1;
    for (let k = 0; k < nr; k++) {
      rec.writeRemoved(w, removed[k] - last - 1);
      last = removed[k];
    }
    const createdFrom = w.bitLength();
    writeCount(w, CREATED, nc);
    let lastId = -1;
    const { nr: nRates, nf, slotComp } = layout;
    const mode = this.cMode;
    const val = this.cVal;
    for (let k = 0; k < nc; k++) {
      const r = created[k];
      const mask = frame.masks[r];
      for (let q = 0; q < nRates; q++) {
        if ((mask >>> slotComp[q]) & 1) {
          mode[q] = MODE_RATE;
          val[q] = zigzag(frame.rates[r * nRates + q]);
        } else mode[q] = MODE_NONE;
      }
      for (let f = 0; f < nf; f++) {
        if ((mask >>> slotComp[nRates + f]) & 1) {
          mode[nRates + f] = MODE_RAW;
          val[nRates + f] = frame.values[r * nf + f];
        } else mode[nRates + f] = MODE_NONE;
      }
      rec.writeCreated(w, orders, ids[r] - lastId - 1, mask, mode, val, 0);
      lastId = ids[r];
    }
    view.lastCreatedBytes = (w.bitLength() - createdFrom) / 8;
    writeCount(w, UPDATED, nu);
    const src = g.w.bytes;
    let same = 0;
    let prev = -1;
    for (let k = 0; k < nk; k++) {
      const it = kept[k];
      if (iKind[it] === ITEM_SAME) {
        same++;
        continue;
      }
      rec.writeSkip(w, orders, same);
      same = 0;
      if (prev >= 0 && plan.repeatsHeader(it, prev)) w.writeBits(1, 1);
      else copyBits(w, src, g.hdrOff[it], g.hdrLen[it]);
      prev = it;
      copyBits(w, src, g.bodyOff[it], g.bodyLen[it]);
    }
    w.alignToByte();
    const end = w.byteLength();
    if (end > this.maxPacketBytes) return false;
    const bytes = w.bytes;
    patchSnapshotClientFields(bytes, 0, client.inputAck, client.hasInputAck);
    const v = (this.headViews[end] ??= bytes.subarray(0, end));
    const stats = this.stats;
    stats.deltaSnapshots++;
    stats.packetsOut++;
    stats.bytesOut += end;
    if (end > stats.largestPacketBytes) stats.largestPacketBytes = end;
    if (client.link) client.link.deltaSnapshots++;
    view.tokens -= end;
    view.lastBytes = end;
    send(v);
    return true;
  }

  /** The baseline group of `bt` at this snapshot tick: planned already, or planned now in a free or least recently used group. */
  private groupFor(frame: SnapshotFrame, bt: number): BaselineGroup {
    const groups = this.groups;
    let victim: BaselineGroup | undefined;
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i];
      if (g.serial === this.serial && g.baselineTick === bt) {
        g.lastUse = ++this.uses;
        this.stats.sectionsShared++;
        return g;
      }
      if (g.serial !== this.serial) {
        if (!victim || victim.serial === this.serial) victim = g;
      } else if (!victim || (victim.serial === this.serial && g.lastUse < victim.lastUse)) victim = g;
    }
    if (!victim || (victim.serial === this.serial && groups.length < this.maxGroups)) {
      victim = new BaselineGroup(this.layout, this.maxPacketBytes, this.capacityBytes);
      groups.push(victim);
    }
    victim.prepare(frame, this.history!.get(bt) as SnapshotFrame);
    victim.baselineTick = bt;
    victim.serial = this.serial;
    victim.lastUse = ++this.uses;
    this.stats.bodiesEncoded++;
    return victim;
  }

  /** The frame the client holds for the view in `slot`: the room frame of that tick restricted to that view. */
  private rebuild(room: SnapshotFrame, view: ClientView, slot: number): SnapshotFrame {
    const B = this.base;
    const n = view.counts[slot];
    if (this.baseRows.length < n) this.baseRows = new Int32Array(Math.max(n, this.baseRows.length * 2));
    rowsOfIds(room, view.ids[slot], n, this.baseRows);
    gatherRows(room, B, n, this.baseRows);
    B.tick = room.tick;
    return B;
  }
}

/**
 * Whether a frame a client decoded equals the server's quantized state of that client's view at
 * the frame's tick (ids, component masks, values and rates): the room frame of `decoded.tick` in
 * `history`, restricted to the view `interest` remembers for `viewer` (the whole frame without
 * interest management). Undefined when the server no longer holds that tick or view. For tests and
 * benchmarks; allocates nothing.
 */
export function viewFrameMatches(history: SnapshotHistory, interest: InterestManager | undefined, viewer: Viewer, decoded: SnapshotFrame): boolean | undefined {
  const truth = history.get(decoded.tick);
  if (!truth) return undefined;
  let ids: ArrayLike<number> = truth.ids;
  let n = truth.count;
  if (interest) {
    const view = interest.peek(viewer);
    const slot = view ? view.slotOf(decoded.tick) : -1;
    if (!view || slot < 0) return undefined;
    ids = view.ids[slot];
    n = view.counts[slot];
  }
  if (decoded.count !== n) return false;
  const nf = truth.fieldCount;
  const nr = truth.rateCount;
  for (let i = 0; i < n; i++) {
    if (decoded.ids[i] !== ids[i]) return false;
    const r = truth.indexOf(ids[i]);
    if (r < 0 || decoded.masks[i] !== truth.masks[r]) return false;
    for (let f = 0; f < nf; f++) if (decoded.values[i * nf + f] !== truth.values[r * nf + f]) return false;
    for (let k = 0; k < nr; k++) if (decoded.rates[i * nr + k] !== truth.rates[r * nr + k]) return false;
  }
  return true;
}
