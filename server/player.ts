// A player as a room holds it: the entity, the input buffer, the snapshot-ack state and what the
// server measures of its snapshot stream (round trip, loss, kinds), and a way to send it unreliable
// packets. No sockets and no session here, so a room can be listed, serialised,
// moved or benchmarked without any network object; sessions (server/sessions.ts) map connections
// to players.
import { InputBuffer, type InputStats } from './inputs.ts';
import { ClientLinkStats, type SnapshotClient } from './snapshots.ts';
import { ClaimRing } from './lagcomp.ts';
import type { RosterPlayer } from '../shared/protocol/control.ts';

/** One player in one room. */
export class Player implements SnapshotClient {
  /** The player's entity id, or -1 before it joined a room. */
  eid = -1;
  /** Newest snapshot tick the client acknowledged, or -1 before any. */
  ackedTick = -1;
  /** Acknowledged snapshots before ackedTick (bit i = ackedTick - (i+1) * interval). */
  ackedBits = 0;
  /** Sequence of the last input applied (carried in every snapshot). */
  inputAck = 0;
  /** False until the first input was applied. */
  hasInputAck = false;
  /** When the last snapshot ack arrived (server clock, ms; 0 = not yet watched). */
  lastAckMs = 0;
  /** Pending inputs, one applied per tick. */
  readonly inputs: InputBuffer;
  /** Round trip, snapshot loss and snapshot kinds of this player's stream (restarted at join and resume). */
  readonly link = new ClientLinkStats();
  /** True when the input applied this tick is new, false when the previous one was repeated (tick.ts applyInputs). */
  freshInput = false;
  /** What the client says it was drawing when it made each recent input (lag compensation). */
  readonly claims = new ClaimRing();
  /** Bumped by resetAcks: the snapshot encoder forgets a full snapshot it thinks is pending (SnapshotClient.ackEpoch). */
  ackEpoch = 0;
  /** A spectator on its room's shared stream (server/spectator-stream.ts): the tick encodes no snapshot of its own for it, and it sends no acks. */
  streamed = false;
  /** Sends one unreliable packet (snapshot) to the player's client; bound once by whoever connects it. */
  send: (bytes: Uint8Array) => void = () => undefined;
  private entry: RosterPlayer | undefined;

  /**
   * The player as `roster` messages list it: one object for every message while its entity stays
   * the same, so the control encoder encodes it once (encodeControl keeps each entry's bytes).
   */
  rosterEntry(): RosterPlayer {
    const e = this.entry;
    if (e !== undefined && e.eid === this.eid) return e;
    return (this.entry = Object.freeze({ sessionId: this.id, name: this.name, eid: this.eid }));
  }

  /**
   * @param id the id the game sees (spawnPlayer's sessionId; the session id when a session owns it)
   * @param name the display name
   * @param inputFieldCount input fields of the game
   * @param inputBufferMax pending inputs kept (NetConfig.inputBufferMax)
   * @param inputTotals counters shared by every player of the process, if any
   */
  constructor(
    readonly id: number,
    public name: string,
    inputFieldCount: number,
    inputBufferMax: number,
    inputTotals?: InputStats,
  ) {
    this.inputs = new InputBuffer(inputFieldCount, inputBufferMax, inputTotals);
  }

  /** Forgets the snapshot-ack state (a new connection starts from a full snapshot); loss counts again from `roomTick`. */
  resetAcks(roomTick: number): void {
    this.ackedTick = -1;
    this.ackedBits = 0;
    this.lastAckMs = 0;
    this.ackEpoch++;
    this.link.restart(roomTick);
    this.claims.clear();
  }
}
