// How a client shows and drives a game, as a game declares it: the controls mapping (keys,
// pointer, touch to the game's input), the drawing, the playfield and the bots' default behaviour.
// Types and small helpers only; the browser client and the bots implement the other side.
import type { Rng } from './rng.ts';

/** What the player is doing this frame, in world coordinates. */
export interface Controls {
  /** `KeyboardEvent.code` of every key held ('KeyW', 'ArrowUp', 'Space', ...). */
  readonly keys: ReadonlySet<string>;
  /** The pointer (mouse, or the finger on a touch screen) in world units; undefined when there is none. */
  readonly pointer: { readonly x: number; readonly y: number; readonly down: boolean } | undefined;
  /** Where the player's own entity is drawn now, world units; undefined before it exists. */
  readonly self: { readonly x: number; readonly y: number } | undefined;
}

/** What a draw function can read of the frame being drawn. */
export interface DrawView {
  /** The player's own entity id (-1 before it exists). */
  readonly selfEid: number;
  /** World units to canvas pixels (already applied to the canvas transform when draw runs). */
  readonly pixelsPerUnit: number;
  /**
   * Visits every entity drawn this frame with its position: the others interpolated, then the own
   * one (predicted) last, so it is drawn on top.
   */
  forEach(visit: (eid: number, x: number, y: number) => void): void;
  /** Newest value of a networked field ('Component.field') of an entity; undefined when it lacks that component. */
  field(eid: number, name: string): number | undefined;
  /** The name of the player whose entity this is, if it is one. */
  name(eid: number): string | undefined;
  /**
   * Writes `text` centred above world point (x, y) in the page's font, the same size at any zoom
   * (what names over heads use). `color` is a CSS colour; default a light grey.
   */
  label(text: string, x: number, y: number, color?: string): void;
}

/** The score table the page shows: one row per player, highest first. */
export interface Scoreboard {
  /** The networked field holding the score ("Component.field"). */
  readonly field: string;
  /** Heading of the score column. Default "score". */
  readonly title?: string;
  /** A mark shown next to the players whose `field` is non-zero (e.g. who is "it"). */
  readonly mark?: { readonly field: string; readonly text: string };
}

/** Read-only view of the newest world state a bot has decoded (entities in id order). */
export interface ScriptWorld {
  /** Tick of this state. */
  readonly tick: number;
  /** The bot's own entity id (-1 before the welcome). */
  readonly selfEid: number;
  /** Number of entities. */
  count(): number;
  /** Entity id at index i (0 <= i < count()). */
  id(i: number): number;
  /** Index of entity `eid`, or -1. */
  indexOf(eid: number): number;
  /** Dequantized value of networked field `name` ("Component.field") of the entity at index i; undefined when it lacks that component. */
  field(i: number, name: string): number | undefined;
}

/** What a bot script gets when a bot starts. */
export interface BotScriptContext {
  /** Index of the bot in the whole run (0-based). */
  readonly botIndex: number;
  /** The bot's own PRNG, seeded from the run seed and the bot index. */
  readonly rng: Rng;
  /** Inputs the bot sends per second. */
  readonly inputRateHz: number;
  /** Name of the game the server runs. */
  readonly gameName: string;
}

/** One bot's running behaviour. */
export interface BotBrain {
  /**
   * Called once per input step (inputRateHz); returns the input to send. `world` is the newest
   * decoded state, or undefined (thin bots whose script does not need the world, or before the
   * first snapshot). The returned object may be reused between calls.
   */
  next(nowMs: number, world: ScriptWorld | undefined): Readonly<Record<string, number>>;
}

/** A named bot behaviour. */
export interface BotScript {
  /** Name used by --script. */
  readonly name: string;
  /** One line for --help. */
  readonly description: string;
  /** Games the script is written for (by name); empty or omitted = any game. */
  readonly games?: readonly string[];
  /** True when the script reads the world: thin bots then decode snapshots too (no prediction or interpolation). */
  readonly needsWorld: boolean;
  /** Creates the behaviour of one bot. */
  create(ctx: BotScriptContext): BotBrain;
}

/** How clients show and drive a game (GameDefinition.client). */
export interface GameClient<I> {
  /** The playfield, world units: the default camera frames it. */
  readonly world: { readonly width: number; readonly height: number };
  /**
   * Turns what the player does into this frame's input (every field of the game's input). Called
   * once per rendered frame; the returned object may be reused.
   */
  controls(c: Controls): I;
  /** One line for the page: how to play (e.g. "WASD or arrows to move"). */
  readonly help?: string;
  /**
   * Draws the entities of a frame (the canvas transform already maps world units to pixels).
   * Default: every entity with a position as a disc, the player's own highlighted and named.
   */
  draw?(g: CanvasRenderingContext2D, view: DrawView): void;
  /** The score table beside the playfield. Default none. */
  readonly scoreboard?: Scoreboard;
  /**
   * The line the page shows for a game event (GameContext.emit, or a server's sendControl), or
   * undefined to show none. `nameOf` gives a player's name by entity id. Default: the event's name
   * and its data as JSON.
   */
  describeEvent?(name: string, data: unknown, nameOf: (eid: number) => string | undefined): string | undefined;
  /** The bot script the bots use for this game unless told otherwise (and the page's `?bot=1` autopilot). */
  readonly bot?: BotScript;
}

/** A pair of axes; the helpers below fill one (pass your own `out` to allocate nothing per frame). */
export interface Axes {
  x: number;
  y: number;
}

/** Unit direction from the arrow keys and WASD: each axis -1, 0 or 1 (y grows downwards). */
export function keyAxes(keys: ReadonlySet<string>, out: Axes = { x: 0, y: 0 }): Axes {
  out.x = (keys.has('ArrowRight') || keys.has('KeyD') ? 1 : 0) - (keys.has('ArrowLeft') || keys.has('KeyA') ? 1 : 0);
  out.y = (keys.has('ArrowDown') || keys.has('KeyS') ? 1 : 0) - (keys.has('ArrowUp') || keys.has('KeyW') ? 1 : 0);
  return out;
}

/**
 * Axes towards the pointer while it is held down (touch, or mouse button), each -1, 0 or 1 with a
 * dead zone of `deadZone` world units; zeros otherwise.
 */
export function pointerAxes(c: Controls, deadZone = 8, out: Axes = { x: 0, y: 0 }): Axes {
  out.x = 0;
  out.y = 0;
  const p = c.pointer;
  if (!p || !p.down || !c.self) return out;
  const dx = p.x - c.self.x;
  const dy = p.y - c.self.y;
  const len = Math.hypot(dx, dy);
  if (len < deadZone) return out;
  // Snap to the nearest of 8 directions, as a key pad would.
  const a = Math.round(Math.atan2(dy, dx) / (Math.PI / 4));
  out.x = Math.round(Math.cos((a * Math.PI) / 4));
  out.y = Math.round(Math.sin((a * Math.PI) / 4));
  return out;
}

/** Keys, else the held pointer: the usual way to move in a top-down game. */
export function moveAxes(c: Controls, out: Axes = { x: 0, y: 0 }): Axes {
  const k = keyAxes(c.keys, out);
  return k.x !== 0 || k.y !== 0 ? k : pointerAxes(c, 8, out);
}
