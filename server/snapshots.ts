// Snapshots out and their acks in: at every snapshot tick the server asks the encoder for each
// client's packets. The delta encoder picks each client's baseline from its acks, encodes the entity
// section once per distinct baseline (shared by every client with that baseline), and only patches
// each client's header; full snapshots are the explicit, counted fallback. The ack receiver beside
// it records what each client acknowledged, and what the server measures of each client's stream
// from those acks (round trip, snapshots never acknowledged).
import { DEFAULT_NET_CONFIG, type NetConfig } from '../shared/config.ts';
import { BitWriter } from '../shared/protocol/bits.ts';
import { SectionEncoder, SectionParts } from '../shared/protocol/delta.ts';
import { MAX_BASELINE_AGE_TICKS, patchSnapshotClientFields, readSnapshotAck, type SnapshotAck, type SnapshotFrame } from '../shared/protocol/snapshot.ts';
import type { NetSchema } from '../shared/protocol/schema.ts';
import type { SnapshotHistory } from './history.ts';

/** What the encoder needs to know about one client. */
export interface SnapshotClient {
  /** Newest snapshot tick the client acknowledged (complete), or -1 before any. */
  ackedTick: number;
  /** Bitfield of acknowledged snapshots before ackedTick (bit i = ackedTick - (i+1) * interval). */
  ackedBits: number;
  /** Sequence of the client's last applied input. */
  inputAck: number;
  /** False until the first input was applied. */
  hasInputAck: boolean;
  /** Where the encoder counts the client's full and delta snapshots, if anywhere. */
  readonly link?: ClientLinkStats;
  /**
   * Bumped when the client's stream starts over (a resume, or a session moved here): a full
   * snapshot "sent" before it may never have reached the client, so none is pending.
   */
  readonly ackEpoch?: number;
}

/** A client's ack state as the ack receiver updates it. */
export interface AckedClient extends SnapshotClient {
  /** When the last snapshot ack arrived (server clock, ms). */
  lastAckMs: number;
}

/** Snapshots an ack speaks for before its newest tick (the bits of SnapshotAck). */
const ACK_WINDOW = 32;

/** Slots of a room's send-time ring: round trips up to this many snapshots long are measured. */
const SEND_TIME_SLOTS = 64;

/**
 * When a room sent each of its recent snapshot ticks (server clock, ms): the start of a round-trip
 * sample. One slot per tick over SEND_TIME_SLOTS snapshot intervals, so a room whose players' snapshots
 * go out on every tick (each player on its own phase) is measured as well as one sending every Nth.
 */
export class SnapshotSendTimes {
  private readonly ticks: Float64Array;
  private readonly ms: Float64Array;

  /** @param every ticks between two snapshots of the room */
  constructor(readonly every: number) {
    this.ticks = new Float64Array(SEND_TIME_SLOTS * every).fill(-1);
    this.ms = new Float64Array(SEND_TIME_SLOTS * every);
  }

  /** Records that snapshot `tick` went out at `ms`. */
  record(tick: number, ms: number): void {
    const i = tick % this.ticks.length;
    this.ticks[i] = tick;
    this.ms[i] = ms;
  }

  /** When snapshot `tick` went out, or -1 when it is not one of the recent ones. */
  sentMs(tick: number): number {
    if (!(tick >= 0)) return -1;
    const i = tick % this.ticks.length;
    return this.ticks[i] === tick ? this.ms[i] : -1;
  }
}

/**
 * What the server measures of one client's snapshot stream, from its acks, allocating nothing:
 * the round trip from a snapshot's send to the arrival of the first ack naming it as the newest
 * complete snapshot, the snapshots no ack ever named, and the full and delta snapshots sent.
 *
 * Loss: an ack names its newest complete tick and which of the 32 snapshots before it arrived
 * complete. The acks since the stream started are merged (a client forgets old snapshots, so a
 * later ack may no longer name one an earlier ack did); a snapshot is settled when it falls
 * out of the newest ack's window, lost if no ack named it. Loss therefore lags 33 snapshots.
 */
export class ClientLinkStats {
  /** Smoothed round trip, ms (gain 1/8, TCP's SRTT); 0 before the first sample. */
  rttMs = 0;
  /** The latest round-trip sample, ms. */
  lastRttMs = 0;
  /** Round-trip samples taken. */
  rttSamples = 0;
  /** Snapshot ticks settled: no later ack can speak for them. */
  settled = 0;
  /** Settled snapshot ticks that no ack named: lost, or arrived incomplete or too late. */
  lost = 0;
  /** Snapshots sent to the client as full snapshots, and as deltas (counted by the encoder). */
  fullSnapshots = 0;
  deltaSnapshots = 0;
  /** Tick phase of the client's snapshots: they go out on ticks t with t % every === phase (set by the view encoder). */
  phase = 0;
  /** Room tick the stream (re)started at; snapshots after it count. */
  private startTick = 0;
  /** First snapshot tick not yet settled, -1 before the first ack since the start. */
  private next = -1;
  /** Newest tick any ack named since the start (-1 before any), and which of the 32 snapshots before it any ack named. */
  private seenTick = -1;
  private seenBits = 0;

  /** Starts counting afresh from `roomTick` (a join, or a resume on a new connection). */
  restart(roomTick: number): void {
    this.startTick = roomTick;
    this.next = -1;
    this.seenTick = -1;
    this.seenBits = 0;
  }

  /** Records a round-trip sample, ms. */
  rttSample(ms: number): void {
    this.lastRttMs = ms;
    this.rttMs = this.rttSamples === 0 ? ms : this.rttMs + (ms - this.rttMs) / 8;
    this.rttSamples++;
  }

  /** Share of settled snapshots that were lost, 0..1 (0 before any settled). */
  lossShare(): number {
    return this.settled === 0 ? 0 : this.lost / this.settled;
  }

  /**
   * Merges one ack: `tick` the newest complete snapshot the client names, `bits` the 32 before it,
   * on a stream with `every` ticks between snapshots. Ticks that are not snapshot ticks, or that
   * the room has not reached, are ignored (a hostile client can only spoil its own figures).
   */
  ack(tick: number, bits: number, every: number, roomTick: number): void {
    if (tick > roomTick || tick % every !== this.phase || tick <= this.startTick) return;
    // the first snapshot tick of the client's phase after the start
    if (this.next < 0) this.next = this.startTick + 1 + ((((this.phase - this.startTick - 1) % every) + every) % every);
    const seen = this.seenTick;
    if (seen < 0) {
      this.seenTick = tick;
      this.seenBits = bits >>> 0;
    } else if (tick > seen) {
      this.settle(tick - ACK_WINDOW * every, every);
      const k = (tick - seen) / every;
      const shifted = k >= ACK_WINDOW ? 0 : this.seenBits << k;
      const old = k > ACK_WINDOW ? 0 : 1 << (k - 1);
      this.seenTick = tick;
      this.seenBits = (shifted | old | bits) >>> 0;
    } else {
      const d = (seen - tick) / every;
      let merged = this.seenBits;
      if (d === 0) merged |= bits;
      else if (d <= ACK_WINDOW) merged |= (1 << (d - 1)) | (d < ACK_WINDOW ? bits << d : 0);
      this.seenBits = merged >>> 0;
    }
  }

  /** Settles every unsettled snapshot tick below `below` against what the acks so far named. */
  private settle(below: number, every: number): void {
    const top = this.seenTick;
    let s = this.next;
    while (s < below) {
      const d = (top - s) / every;
      if (d < 0 || d > ACK_WINDOW) {
        // No ack ever spoke for these: all lost, counted at once.
        const end = d < 0 ? below : Math.min(below, top - ACK_WINDOW * every);
        const n = Math.ceil((end - s) / every);
        this.settled += n;
        this.lost += n;
        s += n * every;
        continue;
      }
      this.settled++;
      if (d !== 0 && ((this.seenBits >>> (d - 1)) & 1) === 0) this.lost++;
      s += every;
    }
    this.next = s;
  }
}

/** Reads snapshot acks into the acking client's state; one per server, its scratch reused. */
export class SnapshotAckReceiver {
  private readonly ack: SnapshotAck = { tick: 0, bits: 0 };

  /**
   * Decodes the ack in buf[start, end) and records it on `client`: any ack counts as hearing from
   * the client (`lastAckMs`); only a newer tick the room has reached moves `ackedTick`/`ackedBits`,
   * and with the room's send times that move is a round-trip sample (`nowMs`: when the ack
   * arrived). Throws DecodeError on malformed bytes, before anything changes.
   */
  receive(client: AckedClient, buf: Uint8Array, start: number, end: number, roomTick: number, nowMs: number, sent?: SnapshotSendTimes): void {
    const a = readSnapshotAck(buf, this.ack, start, end);
    this.record(client, a.tick, a.bits, roomTick, nowMs, sent);
  }

  /**
   * Records an ack already decoded (a standalone SnapshotAck, or the one an input packet carries)
   * on `client`, with the rules of receive().
   */
  record(client: AckedClient, tick: number, bits: number, roomTick: number, nowMs: number, sent?: SnapshotSendTimes): void {
    client.lastAckMs = nowMs;
    const link = client.link;
    if ((client.ackedTick < 0 || tick > client.ackedTick) && tick <= roomTick) {
      client.ackedTick = tick;
      client.ackedBits = bits;
      if (link && sent) {
        const at = sent.sentMs(tick);
        if (at >= 0 && nowMs >= at) link.rttSample(nowMs - at);
      }
    }
    if (link && sent) link.ack(tick, bits, sent.every, roomTick);
  }
}

/** Counters an encoder keeps (exported as metrics). */
export interface EncoderStats {
  /** Client snapshots sent as full snapshots (every reason below). */
  fullSnapshots: number;
  /** Client snapshots sent as deltas. */
  deltaSnapshots: number;
  /** Entity sections encoded (once per distinct baseline per snapshot tick). */
  bodiesEncoded: number;
  /** Snapshot payload bytes sent, headers included. */
  bytesOut: number;
  /** Snapshot packets sent. */
  packetsOut: number;
  /** Full snapshots because the client had acknowledged nothing yet. */
  fullNoAck: number;
  /** Full snapshots because every baseline the client acknowledged had left the history (too old). */
  fullBaselineGone: number;
  /** Full snapshots forced by the encoder's configuration (debug switch). */
  fullForced: number;
  /** Deltas against the full snapshot last sent to a client that has not acknowledged it yet. */
  deltaUnacked: number;
  /** Client snapshots that reused a section another client's snapshot had already encoded. */
  sectionsShared: number;
  /** Client snapshots split into more than one packet. */
  splitSnapshots: number;
  /** Largest snapshot packet sent, bytes. */
  largestPacketBytes: number;
}

/** Fresh zeroed encoder counters. */
export function newEncoderStats(): EncoderStats {
  return {
    fullSnapshots: 0, deltaSnapshots: 0, bodiesEncoded: 0, bytesOut: 0, packetsOut: 0,
    fullNoAck: 0, fullBaselineGone: 0, fullForced: 0, deltaUnacked: 0, sectionsShared: 0, splitSnapshots: 0, largestPacketBytes: 0,
  };
}

/** Encoder counters a virtual client's snapshots leave unmoved (every one but the sections encoded). */
const SEND_KEYS = (Object.keys(newEncoderStats()) as (keyof EncoderStats)[]).filter((k) => k !== 'bodiesEncoded');

/**
 * A virtual client whose snapshots form a delta chain: it acknowledges each snapshot at once, so
 * every one is a delta against the previous one it was encoded (a full snapshot, a keyframe, after
 * restart()). Its packets come from the room's encoder after the real clients' (sharing their
 * sections) and leave the encoder's send counters unmoved: the replay recorder writes them to a
 * file, the spectator stream (server/spectator-stream.ts) sends them to every spectator on it.
 */
export class SnapshotChain implements SnapshotClient {
  /** No entity: to a room's interest manager, a viewer without one (the recording's view is every entity). */
  readonly eid = -1;
  ackedTick = -1;
  ackedBits = 0;
  inputAck = 0;
  hasInputAck = false;
  ackEpoch = 0;
  private readonly saved = new Float64Array(SEND_KEYS.length);

  /** The next snapshot is a keyframe (a full snapshot), whatever the chain sent before. */
  restart(): void {
    this.ackedTick = -1;
    this.ackEpoch++;
  }

  /** Encodes the snapshot of `tick` (the frame `encoder.begin` was given) and hands each packet to `send`; returns the packets. */
  encode(encoder: SnapshotEncoder, tick: number, send: (bytes: Uint8Array) => void): number {
    const stats = encoder.stats as unknown as Record<string, number>;
    const saved = this.saved;
    for (let i = 0; i < SEND_KEYS.length; i++) saved[i] = stats[SEND_KEYS[i]];
    const n = encoder.encodeFor(this, send);
    for (let i = 0; i < SEND_KEYS.length; i++) stats[SEND_KEYS[i]] = saved[i];
    // with views, a snapshot tick of another phase has no view of the chain: nothing sent, nothing to count as delivered
    if (n > 0) {
      this.ackedTick = tick;
      this.ackedBits = 0;
    }
    return n;
  }
}

/** Turns the current frame into per-client packets. */
export interface SnapshotEncoder {
  /** Starts a snapshot tick with the captured frame (already stored in `history`). */
  begin(frame: SnapshotFrame, history: SnapshotHistory): void;
  /**
   * Encodes the packets for one client and hands each to `send`. The bytes are valid only during
   * the call (the buffer is reused). Returns the number of packets.
   */
  encodeFor(client: SnapshotClient, send: (bytes: Uint8Array) => void): number;
  /**
   * Optional: the next client in the order encodeFor is called in gets nothing this tick (the
   * tick knows it has no view of this tick), in place of an encodeFor call that would send nothing.
   */
  skip?(): void;
  readonly stats: EncoderStats;
}

/** Options of the delta encoder. */
export interface DeltaEncoderOptions {
  /** Sends full snapshots only (debug switch; also what FullSnapshotEncoder is). Default false. */
  forceFull?: boolean;
  /** Distinct baselines cached per snapshot tick; more are re-encoded as needed. Default 8. */
  maxSections?: number;
  /**
   * After a full snapshot, snapshots (intervals) during which the client gets deltas against that
   * full snapshot while its ack is pending, before another full is sent. Default 8 (400 ms at 20 Hz).
   */
  fullRetrySnapshots?: number;
}

/** What the encoder remembers per client (created once per client). */
interface ClientCodecState {
  /** Tick of the last full snapshot sent to the client, or -1. */
  fullTick: number;
  /** The client's ackEpoch when fullTick was set. */
  epoch: number;
}

/** One encoded entity section: its packets, for one baseline at the current tick. */
class Section {
  /** Baseline tick, -1 for full; -2 when unused. */
  baselineTick = -2;
  /** Serial of the snapshot tick it was encoded at. */
  serial = -1;
  lastUse = 0;
  readonly parts = new SectionParts();
  readonly views: Uint8Array[] = [];
  constructor(readonly w: BitWriter) {}
}

/**
 * Delta snapshots against each client's newest acknowledged baseline still in the history, with
 * full snapshots as the counted fallback (no ack yet, or every acked baseline evicted). Packets
 * never exceed NetConfig.maxPacketBytes: larger snapshots are split into parts that decode alone.
 */
export class DeltaSnapshotEncoder implements SnapshotEncoder {
  private readonly codec: SectionEncoder;
  private readonly sections: Section[] = [];
  private readonly maxSections: number;
  private readonly forceFull: boolean;
  private readonly ticksPerSnapshot: number;
  private readonly capacityBytes: number;
  private readonly fullRetryTicks: number;
  private readonly clientState = new WeakMap<SnapshotClient, ClientCodecState>();
  private frame: SnapshotFrame | undefined;
  private history: SnapshotHistory | undefined;
  private serial = 0;
  private uses = 0;

  /**
   * @param schema the game's compiled schema
   * @param net netcode settings (maxPacketBytes, rates); default DEFAULT_NET_CONFIG
   * @param stats counters, usually shared by every room's encoder
   */
  constructor(
    schema: NetSchema,
    net: NetConfig = DEFAULT_NET_CONFIG,
    readonly stats: EncoderStats = newEncoderStats(),
    opts: DeltaEncoderOptions = {},
  ) {
    this.codec = new SectionEncoder(schema, net.maxPacketBytes);
    this.capacityBytes = this.codec.sectionCapacityBytes();
    this.maxSections = Math.max(1, opts.maxSections ?? 8);
    this.forceFull = opts.forceFull === true;
    this.ticksPerSnapshot = net.tickRateHz / net.snapshotRateHz;
    this.fullRetryTicks = Math.max(1, opts.fullRetrySnapshots ?? 8) * this.ticksPerSnapshot;
  }

  begin(frame: SnapshotFrame, history: SnapshotHistory): void {
    this.frame = frame;
    this.history = history;
    this.serial++;
  }

  encodeFor(client: SnapshotClient, send: (bytes: Uint8Array) => void): number {
    const frame = this.frame;
    if (!frame) throw new Error('encodeFor before begin');
    const base = this.chooseBaseline(client, frame);
    const section = this.sectionFor(frame, base);
    const parts = section.parts;
    const bytes = section.w.bytes;
    const stats = this.stats;
    const link = client.link;
    if (base) stats.deltaSnapshots++;
    else stats.fullSnapshots++;
    if (link) {
      if (base) link.deltaSnapshots++;
      else link.fullSnapshots++;
    }
    if (parts.count > 1) stats.splitSnapshots++;
    for (let p = 0; p < parts.count; p++) {
      patchSnapshotClientFields(bytes, parts.start[p], client.inputAck, client.hasInputAck);
      const view = section.views[p];
      stats.packetsOut++;
      stats.bytesOut += view.length;
      if (view.length > stats.largestPacketBytes) stats.largestPacketBytes = view.length;
      send(view);
    }
    return parts.count;
  }

  /**
   * The client's baseline: its newest acknowledged tick still in the history (the ack bitfield
   * offers older ones when the newest is not there), or null for a full snapshot. While the ack of
   * a full snapshot is pending (for up to fullRetrySnapshots), deltas go against that full
   * snapshot instead of repeating it: the client decodes them only if it holds that exact frame,
   * and a client that is merely slow to ack is not buried in full snapshots.
   */
  private chooseBaseline(client: SnapshotClient, frame: SnapshotFrame): SnapshotFrame | null {
    if (this.forceFull) {
      this.stats.fullForced++;
      return null;
    }
    let st = this.clientState.get(client);
    if (!st) {
      st = { fullTick: -1, epoch: client.ackEpoch ?? 0 };
      this.clientState.set(client, st);
    }
    if (st.epoch !== (client.ackEpoch ?? 0)) {
      // the stream started over (a resume): a full sent before may have gone nowhere; send a new one
      st.fullTick = -1;
      st.epoch = client.ackEpoch ?? 0;
    }
    const history = this.history as SnapshotHistory;
    let acked: SnapshotFrame | null = null;
    if (client.ackedTick >= 0) {
      for (let i = -1; i < 32; i++) {
        if (i >= 0 && ((client.ackedBits >>> i) & 1) === 0) continue;
        const tick = client.ackedTick - (i + 1) * this.ticksPerSnapshot;
        if (tick >= frame.tick) continue;
        if (frame.tick - tick > MAX_BASELINE_AGE_TICKS || tick < 0) break;
        const base = history.get(tick);
        if (base) {
          acked = base;
          break;
        }
      }
    }
    if (st.fullTick >= 0 && (!acked || acked.tick < st.fullTick) && st.fullTick < frame.tick && frame.tick - st.fullTick <= this.fullRetryTicks) {
      const pending = history.get(st.fullTick);
      if (pending) {
        this.stats.deltaUnacked++;
        return pending;
      }
    }
    if (acked) return acked;
    if (client.ackedTick < 0) this.stats.fullNoAck++;
    else this.stats.fullBaselineGone++;
    st.fullTick = frame.tick;
    return null;
  }

  /** The section for `base` at this tick: cached, or encoded now into a free or least recently used buffer. */
  private sectionFor(frame: SnapshotFrame, base: SnapshotFrame | null): Section {
    const baselineTick = base ? base.tick : -1;
    const sections = this.sections;
    let victim: Section | undefined;
    for (let i = 0; i < sections.length; i++) {
      const s = sections[i];
      if (s.serial === this.serial && s.baselineTick === baselineTick) {
        s.lastUse = ++this.uses;
        this.stats.sectionsShared++;
        return s;
      }
      // Prefer a section left from an earlier tick, else the least recently used one.
      if (s.serial !== this.serial) {
        if (!victim || victim.serial === this.serial) victim = s;
      } else if (!victim || (victim.serial === this.serial && s.lastUse < victim.lastUse)) victim = s;
    }
    if (!victim || (victim.serial === this.serial && sections.length < this.maxSections)) {
      victim = new Section(new BitWriter(this.capacityBytes));
      sections.push(victim);
    }
    this.codec.encode(frame, base, victim.w, victim.parts);
    const parts = victim.parts;
    const views = victim.views;
    views.length = 0;
    for (let p = 0; p < parts.count; p++) views.push(victim.w.bytes.subarray(parts.start[p], parts.end[p]));
    victim.baselineTick = baselineTick;
    victim.serial = this.serial;
    victim.lastUse = ++this.uses;
    this.stats.bodiesEncoded++;
    return victim;
  }
}

/** Full snapshots only (the debug switch "forced full snapshots"): every entity every time, split to the MTU. */
export class FullSnapshotEncoder extends DeltaSnapshotEncoder {
  /**
   * @param schema the game's compiled schema
   * @param stats counters, usually shared by every room's encoder
   * @param net netcode settings (maxPacketBytes, rates); default DEFAULT_NET_CONFIG
   */
  constructor(schema: NetSchema, stats: EncoderStats = newEncoderStats(), net: NetConfig = DEFAULT_NET_CONFIG) {
    super(schema, net, stats, { forceFull: true });
  }
}
