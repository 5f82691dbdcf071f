// The spectator's free camera (the page with `?spectate=1`): pan with the arrow keys or WASD and by
// dragging, zoom with the wheel or +/-, follow a player by clicking its name in the score table or
// cycling with Tab (Escape or a pan lets go), and the short hint that says so. In a game with
// interest rules the page sends the camera to the server (its point, the radius it shows, the
// player it follows), which sends the view around it.

/** Where the free camera looks: a world point and a zoom over the follow view's span. */
export interface FreeView {
  x: number;
  y: number;
  zoom: number;
}

/** Pan speed, in view spans per second. */
const PAN_SPANS_PER_SEC = 0.8;
/** Zoom bounds, and the factor of one +/- press or wheel notch. */
const MIN_ZOOM = 0.15;
const MAX_ZOOM = 6;
const ZOOM_STEP = 1.2;

/** Text of the on-screen hint. */
export const SPECTATOR_HINT = 'Spectating · arrows/WASD or drag: pan · wheel or +/-: zoom · Tab or click a name: follow · Esc: free';

/** A free camera driven by the keyboard, the mouse and the score table. */
export class FreeCamera {
  readonly view: FreeView;
  /** The entity followed, or -1 (free). */
  following = -1;
  private readonly held = new Set<string>();
  private lastMs = -1;
  private drag: { x: number; y: number } | undefined;

  constructor(
    target: Window,
    canvas: HTMLCanvasElement,
    start: { x: number; y: number },
    /** World units across the shorter side of the canvas at zoom 1. */
    private readonly span: () => number,
    /** CSS pixels per world unit this frame. */
    private readonly cssPixelsPerUnit: () => number,
    /** The score table (client/sidebar.ts): its rows carry each player's entity id. */
    private readonly table: HTMLElement,
  ) {
    this.view = { x: start.x, y: start.y, zoom: 1 };
    const typing = (e: Event): boolean => e.target instanceof HTMLInputElement && e.target.type !== 'checkbox';
    target.addEventListener('keydown', (e) => {
      if (typing(e)) return;
      if (e.code === 'Tab') {
        e.preventDefault();
        this.cycle(e.shiftKey ? -1 : 1);
      } else if (e.code === 'Escape') this.following = -1;
      else if (e.key === '+' || e.code === 'Equal' || e.code === 'NumpadAdd') this.zoomBy(ZOOM_STEP);
      else if (e.key === '-' || e.code === 'Minus' || e.code === 'NumpadSubtract') this.zoomBy(1 / ZOOM_STEP);
      else if (PAN_KEYS[e.code]) {
        e.preventDefault();
        this.held.add(e.code);
      }
    });
    target.addEventListener('keyup', (e) => this.held.delete(e.code));
    target.addEventListener('blur', () => this.held.clear());
    canvas.addEventListener('wheel', (e) => {
      e.preventDefault();
      this.zoomBy(e.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP);
    }, { passive: false });
    canvas.addEventListener('pointerdown', (e) => {
      this.drag = { x: e.clientX, y: e.clientY };
      canvas.setPointerCapture(e.pointerId);
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!this.drag) return;
      const ppu = this.cssPixelsPerUnit();
      if (ppu > 0) this.panBy(-(e.clientX - this.drag.x) / ppu, -(e.clientY - this.drag.y) / ppu);
      this.drag = { x: e.clientX, y: e.clientY };
    });
    const up = (): void => {
      this.drag = undefined;
    };
    canvas.addEventListener('pointerup', up);
    canvas.addEventListener('pointercancel', up);
    this.table.addEventListener('click', (e) => {
      const row = (e.target as HTMLElement | null)?.closest?.('tr[data-eid]') as HTMLElement | null;
      const eid = row ? Number(row.dataset.eid) : NaN;
      if (Number.isInteger(eid) && eid >= 0) this.following = eid;
    });
  }

  /** Moves the camera for the keys held since the last frame, then onto the followed player when it is drawn. */
  update(nowMs: number, positionOf: (eid: number) => { x: number; y: number } | null): void {
    const dtSec = this.lastMs < 0 ? 0 : Math.min(0.1, (nowMs - this.lastMs) / 1000);
    this.lastMs = nowMs;
    let dx = 0;
    let dy = 0;
    for (const code of this.held) {
      const d = PAN_KEYS[code];
      if (d) {
        dx += d[0];
        dy += d[1];
      }
    }
    if (dx !== 0 || dy !== 0) {
      const step = (PAN_SPANS_PER_SEC * this.span() * dtSec) / this.view.zoom;
      this.panBy(dx * step, dy * step);
    }
    if (this.following >= 0) {
      const p = positionOf(this.following);
      if (p) {
        this.view.x = p.x;
        this.view.y = p.y;
      } else if (!this.players().includes(this.following)) this.following = -1;
    }
  }

  /**
   * World units from the camera's point to the corners of a canvas of `widthPx` x `heightPx` CSS
   * pixels at this zoom: the radius the server's view around the camera should cover.
   */
  radius(widthPx: number, heightPx: number): number {
    const short = Math.min(widthPx, heightPx);
    if (!(short > 0)) return 0;
    return (0.5 * (this.span() / this.view.zoom) * Math.hypot(widthPx, heightPx)) / short;
  }

  /** Entity ids of the players shown in the score table, in its order. */
  players(): number[] {
    const out: number[] = [];
    this.table.querySelectorAll<HTMLElement>('tr[data-eid]').forEach((tr) => {
      if (!tr.hidden) out.push(Number(tr.dataset.eid));
    });
    return out;
  }

  /** Follows the next (or previous) player of the table; from free, the first. */
  cycle(dir: 1 | -1): void {
    const list = this.players();
    if (list.length === 0) return;
    const i = list.indexOf(this.following);
    this.following = list[i < 0 ? (dir > 0 ? 0 : list.length - 1) : (i + dir + list.length) % list.length];
  }

  private panBy(dx: number, dy: number): void {
    this.following = -1;
    this.view.x += dx;
    this.view.y += dy;
  }

  private zoomBy(f: number): void {
    this.view.zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, this.view.zoom * f));
  }
}

/** Pan direction of each key. */
const PAN_KEYS: Readonly<Record<string, readonly [number, number]>> = {
  ArrowLeft: [-1, 0], KeyA: [-1, 0], ArrowRight: [1, 0], KeyD: [1, 0],
  ArrowUp: [0, -1], KeyW: [0, -1], ArrowDown: [0, 1], KeyS: [0, 1],
};
