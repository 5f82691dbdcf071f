// Canvas view of arena-v1: the world bounds and a grid, NPCs and players with facing and hp bars,
// the local player highlighted (drawn from its prediction), and optionally the server's position of
// the local player as a ghost (what prediction and reconciliation hide).
import { KIND_NPC, RADIUS, WORLD_SIZE } from '../games/arena.ts';
import type { ClientNetcode } from '../netcode/netcode.ts';
import type { NetSchema } from '../shared/protocol/schema.ts';

/** What the view shows. */
export interface ViewOptions {
  /** 'follow' centres the local player; 'world' fits the whole arena. */
  camera: 'follow' | 'world';
  /** Outline where the server last had the local player. */
  ghost: boolean;
}

/** World units visible across the shorter side of the canvas in follow mode. */
const FOLLOW_SPAN = 900;

/** Draws one frame of the arena from a ClientNetcode. */
export class ArenaRenderer {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly f: { kind: number; x: number; y: number; angle: number; hp: number };
  private readonly pos = { x: 0, y: 0 };
  private readonly ghost = { x: 0, y: 0 };

  constructor(
    readonly canvas: HTMLCanvasElement,
    schema: NetSchema,
  ) {
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('canvas 2d context unavailable');
    this.ctx = ctx;
    const idx = (name: string): number => schema.fields.findIndex((fl) => `${fl.component}.${fl.field}` === name);
    this.f = { kind: idx('Kind.value'), x: idx('Position.x'), y: idx('Position.y'), angle: idx('Facing.angle'), hp: idx('Health.hp') };
  }

  /** Resizes the backing store to the element's size times the device pixel ratio. */
  private fit(): { w: number; h: number } {
    const dpr = Math.min(2, globalThis.devicePixelRatio || 1);
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    return { w, h };
  }

  /** Draws the world as `net` currently sees it. */
  draw(net: ClientNetcode | undefined, o: ViewOptions): void {
    const { w, h } = this.fit();
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#10141b';
    ctx.fillRect(0, 0, w, h);
    if (!net) return;
    const hasLocal = net.localPosition(this.pos);
    const scale = o.camera === 'world' ? Math.min(w, h) / (WORLD_SIZE * 1.04) : Math.min(w, h) / FOLLOW_SPAN;
    const cx = o.camera === 'follow' && hasLocal ? this.pos.x : WORLD_SIZE / 2;
    const cy = o.camera === 'follow' && hasLocal ? this.pos.y : WORLD_SIZE / 2;
    ctx.setTransform(scale, 0, 0, scale, w / 2 - cx * scale, h / 2 - cy * scale);
    this.grid(scale);
    const v = net.remote;
    const f = this.f;
    const nf = v.fieldCount;
    const self = net.eid;
    for (let i = 0; i < v.count; i++) {
      const id = v.ids[i];
      if (id === self) continue;
      const row = i * nf;
      const kind = v.values[row + f.kind];
      this.entity(v.values[row + f.x], v.values[row + f.y], v.values[row + f.angle], v.values[row + f.hp], kind === KIND_NPC ? 'npc' : 'player', scale);
    }
    if (o.ghost && net.toggles.prediction) {
      if (net.serverPosition(this.ghost)) {
        ctx.strokeStyle = 'rgba(255,255,255,0.55)';
        ctx.lineWidth = 1.5 / scale;
        ctx.setLineDash([4 / scale, 4 / scale]);
        ctx.beginPath();
        ctx.arc(this.ghost.x, this.ghost.y, RADIUS[0], 0, Math.PI * 2);
        ctx.stroke();
        ctx.setLineDash([]);
      }
    }
    if (hasLocal) {
      const angle = f.angle >= 0 ? net.localValue(f.angle) : 0;
      const hp = f.hp >= 0 ? net.localValue(f.hp) : 100;
      this.entity(this.pos.x, this.pos.y, angle, hp, 'self', scale);
    }
  }

  private grid(scale: number): void {
    const ctx = this.ctx;
    ctx.fillStyle = '#161c26';
    ctx.fillRect(0, 0, WORLD_SIZE, WORLD_SIZE);
    ctx.strokeStyle = '#222b38';
    ctx.lineWidth = 1 / scale;
    ctx.beginPath();
    for (let g = 0; g <= WORLD_SIZE; g += 128) {
      ctx.moveTo(g, 0);
      ctx.lineTo(g, WORLD_SIZE);
      ctx.moveTo(0, g);
      ctx.lineTo(WORLD_SIZE, g);
    }
    ctx.stroke();
    ctx.strokeStyle = '#4a5a70';
    ctx.lineWidth = 3 / scale;
    ctx.strokeRect(0, 0, WORLD_SIZE, WORLD_SIZE);
  }

  private entity(x: number, y: number, angle: number, hp: number, who: 'npc' | 'player' | 'self', scale: number): void {
    const ctx = this.ctx;
    const r = who === 'npc' ? RADIUS[1] : RADIUS[0];
    ctx.beginPath();
    ctx.arc(x, y, r, 0, Math.PI * 2);
    ctx.fillStyle = who === 'npc' ? '#b07a45' : who === 'player' ? '#3f8fe0' : '#ffd23f';
    ctx.fill();
    if (who === 'self') {
      ctx.lineWidth = 3 / scale;
      ctx.strokeStyle = '#ffffff';
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(x, y, r + 8 / scale + 4, 0, Math.PI * 2);
      ctx.strokeStyle = 'rgba(255,210,63,0.45)';
      ctx.stroke();
    }
    // Facing.
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + Math.cos(angle) * r, y + Math.sin(angle) * r);
    ctx.lineWidth = 2 / scale;
    ctx.strokeStyle = '#0b0e13';
    ctx.stroke();
    // Health bar.
    const bw = r * 2;
    const bh = Math.max(3, 4 / scale);
    const by = y - r - bh - 4 / scale;
    ctx.fillStyle = '#2a0f12';
    ctx.fillRect(x - r, by, bw, bh);
    const share = Math.max(0, Math.min(1, hp / 100));
    ctx.fillStyle = share > 0.5 ? '#4cc26a' : share > 0.25 ? '#e0b43f' : '#e05050';
    ctx.fillRect(x - r, by, bw * share, bh);
  }
}
