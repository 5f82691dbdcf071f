// Player input in the browser: WASD or arrow keys, or a touch joystick (drag anywhere), turned into
// arena-v1's direction input (0 idle, 1..8 = E, NE, N, NW, W, SW, S, SE).

const UP = new Set(['KeyW', 'ArrowUp']);
const DOWN = new Set(['KeyS', 'ArrowDown']);
const LEFT = new Set(['KeyA', 'ArrowLeft']);
const RIGHT = new Set(['KeyD', 'ArrowRight']);

/** Touch drags shorter than this (CSS pixels) read as idle. */
const DEAD_ZONE_PX = 12;

/** Direction index for a screen vector (y grows downwards); 0 for the zero vector. */
export function directionOf(dx: number, dy: number): number {
  if (dx === 0 && dy === 0) return 0;
  const deg = (Math.atan2(-dy, dx) * 180) / Math.PI;
  return 1 + (((Math.round(deg / 45) % 8) + 8) % 8);
}

/** Keyboard and touch state; `dir()` is read once per frame. */
export class InputSource {
  private readonly down = new Set<string>();
  private touchId = -1;
  private x0 = 0;
  private y0 = 0;
  private dx = 0;
  private dy = 0;
  /** When false (a text field has focus, the tab is hidden), the input reads idle. */
  enabled = true;

  constructor(target: Window, surface: HTMLElement) {
    target.addEventListener('keydown', (e) => {
      if (isTyping(e.target)) return;
      if (UP.has(e.code) || DOWN.has(e.code) || LEFT.has(e.code) || RIGHT.has(e.code)) {
        this.down.add(e.code);
        e.preventDefault();
      }
    });
    target.addEventListener('keyup', (e) => this.down.delete(e.code));
    target.addEventListener('blur', () => this.down.clear());
    surface.addEventListener('touchstart', (e) => {
      const t = e.changedTouches[0];
      if (this.touchId >= 0 || !t) return;
      this.touchId = t.identifier;
      this.x0 = t.clientX;
      this.y0 = t.clientY;
      this.dx = 0;
      this.dy = 0;
      e.preventDefault();
    }, { passive: false });
    surface.addEventListener('touchmove', (e) => {
      for (const t of Array.from(e.changedTouches)) {
        if (t.identifier !== this.touchId) continue;
        this.dx = t.clientX - this.x0;
        this.dy = t.clientY - this.y0;
      }
      e.preventDefault();
    }, { passive: false });
    const end = (e: TouchEvent): void => {
      for (const t of Array.from(e.changedTouches)) if (t.identifier === this.touchId) this.touchId = -1;
    };
    surface.addEventListener('touchend', end);
    surface.addEventListener('touchcancel', end);
  }

  /** The current direction input, 0..8. */
  dir(): number {
    if (!this.enabled) return 0;
    if (this.touchId >= 0) {
      return Math.hypot(this.dx, this.dy) < DEAD_ZONE_PX ? 0 : directionOf(this.dx, this.dy);
    }
    // Opposite keys cancel.
    const up = [...UP].some((k) => this.down.has(k));
    const dn = [...DOWN].some((k) => this.down.has(k));
    const lf = [...LEFT].some((k) => this.down.has(k));
    const rt = [...RIGHT].some((k) => this.down.has(k));
    return directionOf((rt ? 1 : 0) - (lf ? 1 : 0), (dn ? 1 : 0) - (up ? 1 : 0));
  }
}

function isTyping(t: EventTarget | null): boolean {
  return t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement;
}
