// THE pipeline. One server tick, in order: drain the network inbox, then for every room apply one
// input per player, run the game's systems, send the game events they emitted, snap state to the
// wire grid, and every Nth tick capture history (and the lag-compensation history), compute each
// player's view (games with interest rules) and send snapshots (and record them, when the room is recorded). Rooms with views capture every tick
// and send each tick to the players of that tick's phase (a third of them at 60 / 20 Hz), so every
// player still gets a snapshot every Nth tick; a tick that captures snaps the state as it captures
// it, and computes each player's view just before encoding its snapshot. Reading runTick explains the server.
import { snapAllToNetGrid } from '../shared/sim/netgrid.ts';
import { captureFrame } from './history.ts';
import type { Room } from './rooms.ts';

/** What a tick needs from the server around it. */
export interface TickHost {
  /** Handles every queued network event (joins, leaves, inputs, acks, control messages). */
  drainNetEvents(): void;
  /** The rooms, in tick order. */
  readonly rooms: readonly Room[];
  /** The server clock, ms, read once per snapshot tick of a room (when snapshots go out); none: no round trips measured. */
  nowMs?(): number;
  /** When given, runTick adds the time each room spent capturing and encoding its snapshots (ms) to `encodeMs`. */
  readonly phases?: TickPhases;
}

/** Time a tick spent encoding snapshots, ms (the rest of the tick is simulation). */
export interface TickPhases {
  encodeMs: number;
}

/** Runs one server tick over all rooms. */
export function runTick(host: TickHost): void {
  host.drainNetEvents();
  const rooms = host.rooms;
  for (let i = 0; i < rooms.length; i++) {
    const room = rooms[i];
    if (room.players.length > 0) room.occupiedTicks++;
    applyInputs(room);
    runSystems(room);
    if (room.events.length > 0) flushEvents(room);
    const capture = (room.ctx.tick + 1) % room.snapshotEvery === 0 || (room.interest !== undefined && room.interest.phases > 1);
    // a tick that captures snaps as it captures (one pass over the state instead of two)
    if (!capture) snapState(room);
    room.ctx.tick++;
    if (capture) {
      const phases = host.phases;
      const t0 = phases ? performance.now() : 0;
      sendSnapshots(room, host.nowMs ? host.nowMs() : -1, true);
      if (phases) phases.encodeMs += performance.now() - t0;
    } else if ((room.ctx.tick + 1) % room.snapshotEvery === 0) captureRates(room);
  }
}

/** Applies exactly one input per player (the next in sequence, or the last one repeated). */
export function applyInputs(room: Room): void {
  const { game, ctx, schema, input, players } = room;
  const fields = schema.inputFields;
  for (let p = 0; p < players.length; p++) {
    const pl = players[p];
    if (pl.eid < 0) continue;
    const before = pl.inputs.lastAppliedSeq;
    const had = pl.inputs.hasApplied;
    const values = pl.inputs.take();
    pl.freshInput = pl.inputs.hasApplied && (!had || pl.inputs.lastAppliedSeq !== before);
    for (let f = 0; f < fields.length; f++) input[fields[f].name] = fields[f].q.dequantize(values[f]);
    game.stepPlayer(ctx.c, pl.eid, input, ctx.dtSec);
    pl.inputAck = pl.inputs.lastAppliedSeq;
    pl.hasInputAck = pl.inputs.hasApplied;
  }
}

/** Runs the game's systems in the order the game listed them. */
export function runSystems(room: Room): void {
  const systems = room.systems;
  for (let i = 0; i < systems.length; i++) systems[i](room.ctx);
}

/** Hands the game events emitted since the last flush to the room's sink, in order, and clears them. */
export function flushEvents(room: Room): void {
  const events = room.events;
  const sink = room.eventSink;
  const rec = room.recorder;
  const observer = room.observer;
  for (let i = 0; i < events.length; i++) {
    sink?.(room, events[i].name, events[i].data);
    // recorded at the tick of the first state that holds the systems' effects
    rec?.control(room.ctx.tick + 1, { t: 'event', name: events[i].name, data: events[i].data });
    observer?.event(room, events[i].name, events[i].data);
  }
  events.length = 0;
}

/** Snaps every replicated entity's networked fields to the quantization grid. */
export function snapState(room: Room): void {
  snapAllToNetGrid(room.schema, room.stores, room.replicated());
}

/**
 * Captures the frame into history (quantized state plus each rated field's change over the last
 * tick), computes each player's view when the game declares interest rules, and hands every
 * player their snapshot packets; without views the encoder shares each entity section between
 * players with the same baseline, and the spectators on the room's shared stream get one delta
 * chain encoded once for all of them (server/spectator-stream.ts). `nowMs` (server clock; -1: unknown) is when they went
 * out, the start of each player's round-trip sample. With `snap` the state is not snapped yet this
 * tick: the capture snaps it to the wire grid as it reads it (what snapState then a capture give).
 */
export function sendSnapshots(room: Room, nowMs = -1, snap = false): void {
  const history = room.history;
  const frame = history.claim(room.ctx.tick);
  if (nowMs >= 0) room.sendTimes.record(room.ctx.tick, nowMs);
  captureFrame(room.schema, room.replicated, room.hasNetComponent, room.stores, room.presence, frame, history.rates, snap);
  room.lagComp?.capture(room.ctx.tick, room.replicated());
  const interest = room.interest;
  const encoder = room.encoder;
  encoder.begin(frame, history);
  const players = room.players;
  if (interest) {
    // each player's view, then at once its snapshot, while the view's memory is in the cache; the
    // players of other phases get nothing, and the encoder is told so without reaching them
    interest.beginUpdate(frame);
    const skips = encoder.skip !== undefined;
    for (let p = 0; p < players.length; p++) {
      const pl = players[p];
      if (interest.updateAt(p, pl) || !skips) encoder.encodeFor(pl, pl.send);
      else encoder.skip!();
    }
    interest.finishUpdate(players);
  } else for (let p = 0; p < players.length; p++) encoder.encodeFor(players[p], players[p].send);
  // spectators after the players: the sections they share with them are already encoded
  const watching = room.spectators;
  for (let p = 0; p < watching.length; p++) if (!watching[p].streamed) encoder.encodeFor(watching[p], watching[p].send);
  // the spectators on the room's shared stream: one delta chain for all of them
  if (room.stream !== undefined && room.stream.size > 0) room.stream.capture(room);
  // the recording last, a spectator of its own: it shares their sections too
  room.recorder?.capture(room);
}

/** Records the rated fields one tick before a snapshot tick, so the snapshot carries per-tick rates. */
export function captureRates(room: Room): void {
  room.history.rates.capture(room.ctx.tick, room.replicated(), room.stores, room.hasNetComponent);
}
