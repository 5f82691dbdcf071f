// The page playing itself (`?bot=1`): the game's bot script (client.bot) reads the world as drawn
// and produces the input instead of the keys, for demos, screenshots and tests.
import type { ClientNetcode } from '../netcode/netcode.ts';
import type { NetSchema } from '../shared/protocol/schema.ts';
import { Rng } from '../shared/sim/rng.ts';
import type { BotBrain, BotScript, ScriptWorld } from '../shared/sim/view.ts';

/** ScriptWorld over a ClientNetcode's entities as drawn (the render tick). */
class DrawnWorld implements ScriptWorld {
  net: ClientNetcode | undefined;
  private readonly fieldIndex = new Map<string, number>();

  constructor(private readonly schema: NetSchema) {
    schema.fields.forEach((f, i) => this.fieldIndex.set(`${f.component}.${f.field}`, i));
  }

  get tick(): number {
    return this.net?.remote.tick ?? NaN;
  }
  get selfEid(): number {
    return this.net?.eid ?? -1;
  }
  count(): number {
    return this.net?.remote.count ?? 0;
  }
  id(i: number): number {
    return this.net ? this.net.remote.ids[i] : -1;
  }
  indexOf(eid: number): number {
    return this.net && eid >= 0 ? this.net.remote.indexOf(eid) : -1;
  }
  field(i: number, name: string): number | undefined {
    const v = this.net?.remote;
    const f = this.fieldIndex.get(name);
    if (!v || f === undefined || i < 0 || i >= v.count) return undefined;
    if ((v.masks[i] & (1 << this.schema.fields[f].compIndex)) === 0) return undefined;
    return v.values[i * v.fieldCount + f];
  }
}

/** Drives the page with a bot script. */
export class Autopilot {
  private readonly brain: BotBrain;
  private readonly world: DrawnWorld;

  constructor(script: BotScript, schema: NetSchema, gameName: string, seed: number) {
    this.world = new DrawnWorld(schema);
    this.brain = script.create({ botIndex: 0, rng: new Rng(seed), inputRateHz: 60, gameName });
  }

  /** This frame's input. */
  next(nowMs: number, net: ClientNetcode): Readonly<Record<string, number>> {
    this.world.net = net;
    return this.brain.next(nowMs, net.remote.count > 0 ? this.world : undefined);
  }
}
