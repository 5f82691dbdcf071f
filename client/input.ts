// Player input in the browser: the keys held (by KeyboardEvent.code), the mouse, and one finger on a
// touch screen, collected into the game's Controls once per frame (the pointer mapped to world
// coordinates with the frame's camera); the game's client.controls turns them into its input.
import type { Controls } from '../shared/sim/view.ts';

/** Keys whose browser default (scrolling, pressing a focused checkbox) is suppressed while playing. */
const PREVENT = new Set(['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Space']);
const NO_KEYS: ReadonlySet<string> = new Set();

/** Maps CSS pixels of the canvas to world units (GameRenderer.toWorld). */
export type ToWorld = (cssX: number, cssY: number, out: { x: number; y: number }) => void;

/** What Controls looks like inside (one object, refreshed in place every frame). */
interface MutableControls {
  keys: ReadonlySet<string>;
  pointer: { x: number; y: number; down: boolean } | undefined;
  self: { x: number; y: number } | undefined;
}

/** Keyboard, mouse and touch state; `read()` is called once per frame. */
export class ControlsSource {
  private readonly keys = new Set<string>();
  private readonly pointer = { x: 0, y: 0, down: false };
  private readonly out: MutableControls = { keys: NO_KEYS, pointer: undefined, self: undefined };
  /** Pointer position in CSS pixels of the surface, when over it (or held). */
  private px = 0;
  private py = 0;
  private over = false;
  private mouseDown = false;
  private touchId = -1;
  /** When false (the tab is hidden, a text field has focus), the controls read idle. */
  enabled = true;

  constructor(target: Window, private readonly surface: HTMLElement) {
    target.addEventListener('keydown', (e) => {
      if (isTyping(e.target)) return;
      this.keys.add(e.code);
      if (PREVENT.has(e.code)) e.preventDefault();
    });
    target.addEventListener('keyup', (e) => this.keys.delete(e.code));
    target.addEventListener('blur', () => {
      this.keys.clear();
      this.mouseDown = false;
      this.touchId = -1;
    });
    surface.addEventListener('mousemove', (e) => this.at(e.clientX, e.clientY));
    surface.addEventListener('mouseenter', (e) => this.at(e.clientX, e.clientY));
    surface.addEventListener('mouseleave', () => {
      if (!this.mouseDown) this.over = false;
    });
    surface.addEventListener('mousedown', (e) => {
      if (e.button !== 0) return;
      this.mouseDown = true;
      this.at(e.clientX, e.clientY);
    });
    target.addEventListener('mouseup', (e) => {
      if (e.button === 0) this.mouseDown = false;
    });
    surface.addEventListener('touchstart', (e) => {
      const t = e.changedTouches[0];
      if (this.touchId < 0 && t) {
        this.touchId = t.identifier;
        this.at(t.clientX, t.clientY);
      }
      e.preventDefault();
    }, { passive: false });
    surface.addEventListener('touchmove', (e) => {
      for (let i = 0; i < e.changedTouches.length; i++) {
        const t = e.changedTouches[i];
        if (t.identifier === this.touchId) this.at(t.clientX, t.clientY);
      }
      e.preventDefault();
    }, { passive: false });
    const end = (e: TouchEvent): void => {
      for (let i = 0; i < e.changedTouches.length; i++) {
        if (e.changedTouches[i].identifier !== this.touchId) continue;
        this.touchId = -1;
        this.over = false;
      }
    };
    surface.addEventListener('touchend', end);
    surface.addEventListener('touchcancel', end);
  }

  private at(clientX: number, clientY: number): void {
    const r = this.surface.getBoundingClientRect();
    this.px = clientX - r.left;
    this.py = clientY - r.top;
    this.over = true;
  }

  /**
   * This frame's controls: the keys held, the pointer in world units (`toWorld` maps the canvas with
   * the frame's camera), and `self`, where the own entity is drawn (undefined before it exists).
   * The same object every call.
   */
  read(toWorld: ToWorld, self: { x: number; y: number } | undefined): Controls {
    const out = this.out;
    out.self = self;
    if (!this.enabled) {
      out.keys = NO_KEYS;
      out.pointer = undefined;
      return out;
    }
    out.keys = this.keys;
    if (this.over || this.touchId >= 0) {
      toWorld(this.px, this.py, this.pointer);
      this.pointer.down = this.mouseDown || this.touchId >= 0;
      out.pointer = this.pointer;
    } else out.pointer = undefined;
    return out;
  }
}

/** True when `t` is a text field (keys typed there are not the game's); a focused checkbox is not. */
export function isTyping(t: EventTarget | null): boolean {
  if (t instanceof HTMLInputElement) return t.type !== 'checkbox';
  return t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement;
}
