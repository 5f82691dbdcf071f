// Checks a game definition before the engine runs it: every component networked or local, every
// networked field with a quantizer its store can hold, a sound input format, position fields that
// exist, defaults within range, a client view whose playfield, controls and score fields exist,
// client-room rules that make sense. Each problem names the game, the component and the field.
import type { Quantizer } from '../protocol/quantize.ts';
import type { AnyGame, Components, Store } from './game.ts';

/** A game definition the engine cannot run; `problems` lists every reason. */
export class GameDefinitionError extends Error {
  constructor(
    readonly game: string,
    readonly problems: readonly string[],
  ) {
    super(`game ${JSON.stringify(game)} is not valid:\n  - ${problems.join('\n  - ')}`);
    this.name = 'GameDefinitionError';
  }
}

const STORE_RANGE: [new (n: number) => Store, number, number, boolean][] = [
  [Uint8Array, 0, 255, true], [Int8Array, -128, 127, true], [Uint16Array, 0, 65535, true], [Int16Array, -32768, 32767, true],
  [Uint32Array, 0, 4294967295, true], [Int32Array, -2147483648, 2147483647, true], [Float32Array, -3.4e38, 3.4e38, false], [Float64Array, -Infinity, Infinity, false],
];

function isQuantizer(q: unknown): q is Quantizer {
  const x = q as Quantizer;
  return typeof x === 'object' && x !== null && typeof x.quantize === 'function' && typeof x.dequantize === 'function' && Number.isInteger(x.bits) && Number.isInteger(x.maxQ);
}

/** Problems with one quantizer held in `store` (undefined store: an input field). */
function quantizerProblems(where: string, q: unknown, store: Store | undefined): string[] {
  if (!isQuantizer(q)) return [`${where}: not a quantizer (use uint, int, fixed, angle or bool from shared/protocol/quantize.ts)`];
  const out: string[] = [];
  if (q.bits < 1 || q.bits > 32) out.push(`${where}: ${q.bits} bits (1..32)`);
  if (!(q.max > q.min)) out.push(`${where}: range ${q.min}..${q.max} is empty`);
  if (!q.wraps && (q.quantize(q.min) !== 0 || q.quantize(q.max) !== q.maxQ)) out.push(`${where}: quantize(min) must be 0 and quantize(max) maxQ`);
  if (store) {
    const kind = STORE_RANGE.find(([ctor]) => store instanceof ctor);
    if (!kind) out.push(`${where}: store is not a typed array`);
    else {
      const [ctor, lo, hi, integral] = kind;
      if (q.min < lo || q.max > hi) out.push(`${where}: ${ctor.name} holds ${lo}..${hi} but the quantizer spans ${q.min}..${q.max}`);
      const step = q.maxQ > 0 ? (q.max - q.min) / q.maxQ : 1;
      if (integral && (!Number.isInteger(step) || !Number.isInteger(q.min))) out.push(`${where}: ${ctor.name} holds integers but the quantizer's steps are ${step}`);
    }
  }
  return out;
}

/** Every problem of a game definition (empty when it is valid). */
export function gameProblems(game: AnyGame): string[] {
  const out: string[] = [];
  if (typeof game.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(game.name)) out.push(`name ${JSON.stringify(game.name)}: 1..64 of [A-Za-z0-9_.-]`);
  if (!Number.isInteger(game.maxEntities) || game.maxEntities < 1 || game.maxEntities > 1 << 20) out.push(`maxEntities ${game.maxEntities}: an integer in 1..${1 << 20}`);
  let c: Components;
  try {
    c = game.components(2) as Components;
  } catch (err) {
    return [...out, `components(): threw ${(err as Error).message}`];
  }
  const networked = (game.networked ?? {}) as Record<string, Record<string, unknown>>;
  const local = new Set((game.local ?? []) as string[]);
  for (const [comp, fields] of Object.entries(c)) {
    const isNet = comp in networked;
    if (isNet && local.has(comp)) out.push(`component ${comp}: both networked and local`);
    if (!isNet && !local.has(comp)) out.push(`component ${comp}: neither networked nor local (add it to one of them)`);
    for (const [field, store] of Object.entries(fields)) {
      if (!ArrayBuffer.isView(store) || (store as Store).length !== 2) out.push(`component ${comp} field ${field}: components(n) must return typed arrays of length n`);
      if (isNet && !(field in networked[comp])) out.push(`component ${comp} field ${field}: networked component without a quantizer for this field`);
    }
  }
  const netCount = Object.keys(networked).length;
  if (netCount < 1 || netCount > 32) out.push(`networked: ${netCount} components (1..32)`);
  for (const [comp, table] of Object.entries(networked)) {
    if (!(comp in c)) {
      out.push(`networked component ${comp}: components() has no such component`);
      continue;
    }
    for (const [field, q] of Object.entries(table)) {
      const store = c[comp][field];
      if (!store) out.push(`networked field ${comp}.${field}: the component has no such field`);
      else out.push(...quantizerProblems(`networked field ${comp}.${field}`, q, store));
    }
  }
  for (const l of local) if (!(l in c)) out.push(`local component ${l}: components() has no such component`);
  const input = (game.input ?? {}) as Record<string, unknown>;
  let inputBits = 0;
  for (const [name, q] of Object.entries(input)) {
    out.push(...quantizerProblems(`input field ${name}`, q, undefined));
    if (isQuantizer(q)) inputBits += q.bits;
  }
  if (inputBits < 1 || inputBits > 256) out.push(`input: ${inputBits} bits (1..256)`);
  const fieldQ = (name: unknown): Quantizer | undefined => {
    if (typeof name !== 'string') return undefined;
    const [comp, field] = name.split('.');
    const q = networked[comp]?.[field];
    return isQuantizer(q) ? q : undefined;
  };
  if (game.position) {
    for (const axis of ['x', 'y'] as const) {
      const name = game.position[axis];
      const q = typeof name === 'string' ? fieldQ(name) : undefined;
      if (!q) out.push(`position.${axis} ${JSON.stringify(name)}: not a networked field ("Component.field")`);
      else if (q.kind !== 'fixed' && q.kind !== 'int' && q.kind !== 'uint') out.push(`position.${axis} ${name}: a ${q.kind} field cannot place an entity`);
    }
  } else if (game.client) out.push('position: a game with a client view must declare its position fields');
  if (game.client) {
    const w = game.client.world;
    if (!w || !(w.width > 0) || !(w.height > 0)) out.push('client.world: width and height must be positive');
    if (typeof game.client.controls !== 'function') out.push('client.controls: must be a function of the controls returning an input');
    const board = game.client.scoreboard;
    if (board) {
      if (!fieldQ(board.field)) out.push(`client.scoreboard.field ${JSON.stringify(board.field)}: not a networked field ("Component.field")`);
      if (board.mark && !fieldQ(board.mark.field)) out.push(`client.scoreboard.mark.field ${JSON.stringify(board.mark.field)}: not a networked field ("Component.field")`);
    }
  }
  for (const [comp, fields] of Object.entries((game.defaults ?? {}) as Record<string, Record<string, number>>)) {
    for (const [field, v] of Object.entries(fields ?? {})) {
      if (!c[comp]?.[field]) out.push(`defaults ${comp}.${field}: no such field`);
      else if (typeof v !== 'number' || !Number.isFinite(v)) out.push(`defaults ${comp}.${field}: not a finite number`);
      else {
        const q = networked[comp]?.[field];
        if (isQuantizer(q) && (v < q.min || v > q.max)) out.push(`defaults ${comp}.${field}: ${v} outside the quantizer's ${q.min}..${q.max}`);
      }
    }
  }
  const lc = game.lagCompensation as { hitboxes?: Record<string, unknown>; trigger?: unknown } | undefined;
  if (lc) {
    if (!game.position) out.push('lagCompensation: needs position (hitboxes are centred on it)');
    const boxes = Object.entries(lc.hitboxes ?? {});
    if (boxes.length === 0) out.push('lagCompensation.hitboxes: declare at least one');
    for (const [comp, h] of boxes) {
      if (!(comp in c)) out.push(`lagCompensation.hitboxes.${comp}: components() has no such component`);
      const box = h as { kind?: unknown; radius?: unknown; halfWidth?: unknown; halfHeight?: unknown } | undefined;
      const pos = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;
      if (box?.kind === 'circle') {
        if (!pos(box.radius)) out.push(`lagCompensation.hitboxes.${comp}: radius must be a positive finite number`);
      } else if (box?.kind === 'box') {
        if (!pos(box.halfWidth) || !pos(box.halfHeight)) out.push(`lagCompensation.hitboxes.${comp}: halfWidth and halfHeight must be positive finite numbers`);
      } else out.push(`lagCompensation.hitboxes.${comp}: kind must be 'circle' or 'box'`);
    }
    if (lc.trigger !== undefined && !(typeof lc.trigger === 'string' && lc.trigger in input)) out.push(`lagCompensation.trigger ${JSON.stringify(lc.trigger)}: not an input field`);
  }
  const interest = game.interest;
  if (interest) {
    const r = interest.viewRadius;
    if (!game.position) out.push('interest: needs the position fields (position) to place viewers and entities');
    if (typeof r !== 'number' || !Number.isFinite(r) || r <= 0) out.push(`interest.viewRadius ${String(r)}: a positive finite number`);
    const leave = interest.leaveRadius;
    if (leave !== undefined && !(Number.isFinite(leave) && leave > r)) out.push(`interest.leaveRadius ${String(leave)}: a finite number above viewRadius`);
    const cell = interest.cellSize;
    if (cell !== undefined && !(Number.isFinite(cell) && cell > 0)) out.push(`interest.cellSize ${String(cell)}: a positive finite number`);
    for (const g of interest.global ?? []) if (!(g in c)) out.push(`interest.global ${JSON.stringify(g)}: components() has no such component`);
  }
  const rules = game.clientRooms;
  for (const [k, v] of Object.entries(rules?.params ?? {})) if (!Number.isFinite(v)) out.push(`clientRooms.params.${k}: not a finite number`);
  for (const [k, r] of Object.entries(rules?.settable ?? {})) if (!(Number.isFinite(r.min) && Number.isFinite(r.max) && r.min <= r.max)) out.push(`clientRooms.settable.${k}: needs finite min <= max`);
  return out;
}

/** Throws a GameDefinitionError listing every problem of `game`, or returns it unchanged. */
export function validateGame<G extends AnyGame>(game: G): G {
  const problems = gameProblems(game);
  if (problems.length > 0) throw new GameDefinitionError(String(game?.name), problems);
  return game;
}
