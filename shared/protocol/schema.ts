// Compiles a game's networked-field table and input format into the flat layout the codecs walk.
import { bitsFor } from './bits.ts';
import type { Quantizer } from './quantize.ts';
import type { AnyGame, Components, Store } from '../sim/game.ts';

/** One networked field in wire order. */
export interface NetField {
  /** Index of its component in NetSchema.components. */
  readonly compIndex: number;
  readonly component: string;
  readonly field: string;
  readonly q: Quantizer;
}

/** One networked component: a contiguous run of fields. */
export interface NetComponent {
  readonly name: string;
  readonly firstField: number;
  readonly fieldCount: number;
}

/** One input field in wire order. */
export interface InputField {
  readonly name: string;
  readonly q: Quantizer;
}

/** Everything the snapshot and input codecs need to know about a game. */
export interface NetSchema {
  readonly components: readonly NetComponent[];
  readonly fields: readonly NetField[];
  /** Bits for an entity id (ids are 0..maxEntities-1). */
  readonly idBits: number;
  readonly maxEntities: number;
  readonly inputFields: readonly InputField[];
  /** Bits of one encoded input. */
  readonly inputBits: number;
}

/** Builds the schema; throws on a table that cannot be encoded (our bug, not the network's). */
export function compileSchema(game: AnyGame): NetSchema {
  const components: NetComponent[] = [];
  const fields: NetField[] = [];
  const networked = game.networked as Record<string, Record<string, Quantizer>>;
  for (const [name, table] of Object.entries(networked)) {
    const compIndex = components.length;
    const firstField = fields.length;
    for (const [field, q] of Object.entries(table)) fields.push({ compIndex, component: name, field, q });
    components.push({ name, firstField, fieldCount: fields.length - firstField });
  }
  if (components.length === 0 || components.length > 32) throw new RangeError(`${game.name}: need 1..32 networked components`);
  const inputFields = Object.entries(game.input as Record<string, Quantizer>).map(([name, q]) => ({ name, q }));
  const inputBits = inputFields.reduce((sum, f) => sum + f.q.bits, 0);
  if (inputBits === 0 || inputBits > 256) throw new RangeError(`${game.name}: input must be 1..256 bits`);
  return { components, fields, idBits: bitsFor(game.maxEntities - 1), maxEntities: game.maxEntities, inputFields, inputBits };
}

/** The stores behind each networked field, in wire order, for one world's components. */
export function bindFieldStores(schema: NetSchema, c: Components): Store[] {
  return schema.fields.map((f) => {
    const store = c[f.component]?.[f.field];
    if (!store) throw new RangeError(`networked field ${f.component}.${f.field} has no store`);
    return store;
  });
}

/**
 * Lists components that are neither networked nor declared local; a game must classify every
 * component (Quake III's msg.c rule: a replicated field missing from the table is a silent bug).
 */
export function unclassifiedComponents(game: AnyGame): string[] {
  const c = game.components(1) as Components;
  const classified = new Set<string>([...Object.keys(game.networked), ...(game.local as string[])]);
  const missing: string[] = Object.keys(c).filter((k) => !classified.has(k));
  for (const [comp, table] of Object.entries(game.networked as Record<string, Record<string, Quantizer>>)) {
    for (const field of Object.keys(c[comp] ?? {})) if (!(field in table)) missing.push(`${comp}.${field}`);
  }
  return missing;
}
