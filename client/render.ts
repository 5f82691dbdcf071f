// Canvas view of any game: the camera framing the game's playfield (following the own player, the
// whole world, or a spectator's free camera), the playfield and a grid, the entities (the game's own draw function, or a disc
// per entity at its declared position with player names over heads), and optionally the server's
// position of the own player as a ghost (what prediction and reconciliation hide).
import type { ClientNetcode } from '../netcode/netcode.ts';
import type { NetSchema } from '../shared/protocol/schema.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import type { DrawView, GameClient } from '../shared/sim/view.ts';
import type { FreeView } from './spectate.ts';

/** What the view shows. */
export interface ViewOptions {
  /** 'follow' centres the own player; 'world' fits the whole playfield. */
  camera: 'follow' | 'world';
  /** Outline where the server last had the own player. */
  ghost: boolean;
  /** A spectator's free camera (client/spectate.ts): centred on its point, at its zoom of the follow span; overrides `camera`. */
  free?: FreeView;
}

/**
 * What the renderer reads of the netcode: a live ClientNetcode, or a replay being played
 * (netcode/replay-player.ts: no own player, every entity interpolated).
 */
export type DrawSource = Pick<ClientNetcode, 'eid' | 'remote' | 'localPosition' | 'serverPosition' | 'localValue'> & {
  readonly toggles: Pick<ClientNetcode['toggles'], 'prediction'>;
  readonly predictor: Pick<ClientNetcode['predictor'], 'initialized'>;
};

/** World units visible across the shorter side of the canvas in follow mode, at most. */
const FOLLOW_SPAN = 900;
/** CSS pixels of the font of names and labels. */
const LABEL_PX = 12;
const NO_DASH: number[] = [];

/** Draws one frame of a game from a ClientNetcode. */
export class GameRenderer implements DrawView {
  /** The own entity's drawn position this frame (valid when hasSelf). */
  readonly self = { x: 0, y: 0 };
  hasSelf = false;
  selfEid = -1;
  pixelsPerUnit = 1;
  /** Radius of the default disc (and of the ghost), world units. */
  readonly radius: number;
  /** Maps CSS pixels of the canvas to world units with this frame's camera (bound once). */
  readonly toWorld = (cssX: number, cssY: number, out: { x: number; y: number }): void => {
    out.x = (cssX * this.dpr - this.tx) / this.pixelsPerUnit;
    out.y = (cssY * this.dpr - this.ty) / this.pixelsPerUnit;
  };
  private readonly ctx: CanvasRenderingContext2D;
  private readonly view: GameClient<Record<string, number>>;
  private readonly fieldIndex = new Map<string, number>();
  private readonly xField: number;
  private readonly yField: number;
  private readonly posBit: number;
  private readonly ghost = { x: 0, y: 0 };
  private readonly dash = [0, 0];
  private readonly gridStep: number;
  private net: DrawSource | undefined;
  private dpr = 1;
  private w = 1;
  private h = 1;
  private tx = 0;
  private ty = 0;
  private font = '';
  private fontDpr = 0;
  private readonly defaultVisit = (eid: number, x: number, y: number): void => this.disc(eid, x, y);

  constructor(
    readonly canvas: HTMLCanvasElement,
    readonly game: AnyGame,
    readonly schema: NetSchema,
    /** A player's name by entity id (from the `joined` messages and the own welcome). */
    readonly name: (eid: number) => string | undefined,
  ) {
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('canvas 2d context unavailable');
    this.ctx = ctx;
    if (!game.client || !game.position) throw new Error(`game ${JSON.stringify(game.name)} has no client view`);
    this.view = game.client;
    schema.fields.forEach((f, i) => this.fieldIndex.set(`${f.component}.${f.field}`, i));
    this.xField = this.fieldIndex.get(game.position.x) ?? -1;
    this.yField = this.fieldIndex.get(game.position.y) ?? -1;
    this.posBit = this.xField >= 0 ? 1 << schema.fields[this.xField].compIndex : 0;
    const { width, height } = this.view.world;
    this.radius = Math.max(4, Math.max(width, height) / 96);
    this.gridStep = 2 ** Math.round(Math.log2(Math.max(width, height) / 16));
  }

  /** World units across the shorter side of the canvas in follow mode (and a free camera's zoom 1). */
  followSpan(): number {
    const { width, height } = this.view.world;
    return Math.min(FOLLOW_SPAN, 0.75 * Math.min(width, height));
  }

  /** CSS pixels per world unit in the last frame drawn. */
  get cssPixelsPerUnit(): number {
    return this.pixelsPerUnit / this.dpr;
  }

  /** Resizes the backing store to the element's size times the device pixel ratio (into this.w, this.h). */
  private fit(): void {
    const dpr = Math.min(2, globalThis.devicePixelRatio || 1);
    this.dpr = dpr;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    if (this.fontDpr !== dpr) {
      this.fontDpr = dpr;
      this.font = `${Math.round(LABEL_PX * dpr)}px ui-monospace, Menlo, Consolas, monospace`;
    }
    this.w = w;
    this.h = h;
  }

  /** Draws the world as `net` currently sees it. */
  draw(net: DrawSource | undefined, o: ViewOptions): void {
    this.fit();
    const { w, h } = this;
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#10141b';
    ctx.fillRect(0, 0, w, h);
    this.net = net;
    this.hasSelf = false;
    this.selfEid = -1;
    if (!net) return;
    this.selfEid = net.eid;
    this.hasSelf = net.localPosition(this.self);
    const { width: ww, height: wh } = this.view.world;
    const span = this.followSpan();
    const free = o.free;
    const scale = free ? (Math.min(w, h) / span) * free.zoom : o.camera === 'world' ? Math.min(w / (ww * 1.04), h / (wh * 1.04)) : Math.min(w, h) / span;
    const follow = o.camera === 'follow' && this.hasSelf;
    const cx = free ? free.x : follow ? this.self.x : ww / 2;
    const cy = free ? free.y : follow ? this.self.y : wh / 2;
    this.pixelsPerUnit = scale;
    this.tx = w / 2 - cx * scale;
    this.ty = h / 2 - cy * scale;
    ctx.setTransform(scale, 0, 0, scale, this.tx, this.ty);
    this.playfield(scale);
    if (this.view.draw) {
      ctx.save();
      this.view.draw(ctx, this);
      ctx.restore();
      ctx.setTransform(scale, 0, 0, scale, this.tx, this.ty);
    } else this.forEach(this.defaultVisit);
    if (o.ghost && net.toggles.prediction && net.serverPosition(this.ghost)) {
      ctx.strokeStyle = 'rgba(255,255,255,0.55)';
      ctx.lineWidth = 1.5 / scale;
      this.dash[0] = this.dash[1] = 4 / scale;
      ctx.setLineDash(this.dash);
      ctx.beginPath();
      ctx.arc(this.ghost.x, this.ghost.y, this.radius, 0, Math.PI * 2);
      ctx.stroke();
      ctx.setLineDash(NO_DASH);
    }
  }

  forEach(visit: (eid: number, x: number, y: number) => void): void {
    const net = this.net;
    if (!net || this.xField < 0 || this.yField < 0) return;
    const v = net.remote;
    const nf = v.fieldCount;
    const self = this.selfEid;
    for (let i = 0; i < v.count; i++) {
      const id = v.ids[i];
      if (id === self || (v.masks[i] & this.posBit) === 0) continue;
      visit(id, v.values[i * nf + this.xField], v.values[i * nf + this.yField]);
    }
    if (this.hasSelf) visit(self, this.self.x, this.self.y);
  }

  field(eid: number, name: string): number | undefined {
    const net = this.net;
    const f = this.fieldIndex.get(name);
    if (!net || f === undefined) return undefined;
    const v = net.remote;
    const row = v.indexOf(eid);
    const bit = 1 << this.schema.fields[f].compIndex;
    if (row >= 0 && (v.masks[row] & bit) === 0) return undefined;
    if (eid === this.selfEid && net.toggles.prediction && net.predictor.initialized) return net.localValue(f);
    return row >= 0 ? v.values[row * v.fieldCount + f] : undefined;
  }

  label(text: string, x: number, y: number, color = '#d8dee9'): void {
    if (!text) return;
    const ctx = this.ctx;
    const s = this.pixelsPerUnit;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.font = this.font;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    ctx.lineWidth = 3 * this.dpr;
    ctx.strokeStyle = 'rgba(8,10,14,0.85)';
    const sx = x * s + this.tx;
    const sy = y * s + this.ty - 2 * this.dpr;
    ctx.strokeText(text, sx, sy);
    ctx.fillStyle = color;
    ctx.fillText(text, sx, sy);
    ctx.setTransform(s, 0, 0, s, this.tx, this.ty);
  }

  /** The playfield, a grid and its border. */
  private playfield(scale: number): void {
    const ctx = this.ctx;
    const { width: ww, height: wh } = this.view.world;
    ctx.fillStyle = '#161c26';
    ctx.fillRect(0, 0, ww, wh);
    ctx.strokeStyle = '#222b38';
    ctx.lineWidth = 1 / scale;
    ctx.beginPath();
    for (let gx = 0; gx <= ww; gx += this.gridStep) {
      ctx.moveTo(gx, 0);
      ctx.lineTo(gx, wh);
    }
    for (let gy = 0; gy <= wh; gy += this.gridStep) {
      ctx.moveTo(0, gy);
      ctx.lineTo(ww, gy);
    }
    ctx.stroke();
    ctx.strokeStyle = '#4a5a70';
    ctx.lineWidth = 3 / scale;
    ctx.strokeRect(0, 0, ww, wh);
  }

  /** The default look of an entity: a disc (the own one yellow and ringed, players blue) and the player's name. */
  private disc(eid: number, x: number, y: number): void {
    const ctx = this.ctx;
    const r = this.radius;
    const scale = this.pixelsPerUnit;
    const self = eid === this.selfEid;
    const name = this.name(eid);
    ctx.beginPath();
    ctx.arc(x, y, r, 0, Math.PI * 2);
    ctx.fillStyle = self ? '#ffd23f' : name !== undefined ? '#3f8fe0' : '#8a94a6';
    ctx.fill();
    if (self) {
      ctx.lineWidth = 3 / scale;
      ctx.strokeStyle = '#ffffff';
      ctx.stroke();
    }
    if (name !== undefined) this.label(name, x, y - r - 3 / scale, self ? '#ffe27a' : undefined);
  }
}
