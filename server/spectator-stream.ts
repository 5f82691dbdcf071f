// A room's shared spectator stream: the spectators whose snapshots ride the WebSocket (reliable,
// ordered) in a room without views get one delta chain, each snapshot a delta against the previous
// one (SnapshotChain, the replay recorder's encoding), encoded once per snapshot tick and the same
// bytes sent to every one of them; no snapshot acks (the stream is reliable: what was sent arrives,
// in order). A spectator that joins, resumes or fell behind (its connection holding more than
// spectatorStreamMaxBehindBytes unsent) gets a keyframe, a full snapshot, and the chain from there;
// one behind for clientTimeoutMs is closed with Backpressure. docs/snapshots.md, Spectator stream.
import type { SendResult } from './net/transport.ts';
import type { Player } from './player.ts';
import type { Room, RoomStream } from './rooms.ts';
import { PacketArena } from './send-queue.ts';
import { SnapshotChain } from './snapshots.ts';

/** Counters of every room's stream (exported as metrics). */
export interface StreamStats {
  /** Snapshot packets sent to spectators on shared streams, by kind (each packet once per spectator). */
  readonly packets: { delta: number; keyframe: number };
  /** Keyframes a spectator on a shared stream was sent, by reason: joined (or resumed), or fell behind. */
  readonly keyframes: { join: number; behind: number };
}

/** Fresh zeroed stream counters. */
export function newStreamStats(): StreamStats {
  return { packets: { delta: 0, keyframe: 0 }, keyframes: { join: 0, behind: 0 } };
}

/** What a stream needs of one spectator's connection (bound by server/outbound.ts). */
export interface StreamLink {
  /** Sends one snapshot packet on the spectator's reliable connection now (counted as the transport's bytes). */
  send(bytes: Uint8Array): SendResult;
  /** Bytes the connection holds unsent; -1 while it has none (a session waiting for a resume). */
  backlog(): number;
  /** The spectator stayed behind too long: close its connection with Backpressure (deferred, resumable). */
  stalled(): void;
}

/** Where streams whose packets wait for the end of the tick are flushed (the server's outbound side). */
export class StreamFlush {
  private readonly due: SpectatorStream[] = [];

  /** Queues `s` for the next flush. */
  add(s: SpectatorStream): void {
    this.due.push(s);
  }

  /** Sends every queued stream's packets; returns the packets handed to transports. */
  flush(): number {
    let n = 0;
    const due = this.due;
    for (let i = 0; i < due.length; i++) n += due[i].flush();
    due.length = 0;
    return n;
  }
}

/** What a spectator gets this snapshot tick. */
const enum Plan {
  Skip = 0,
  Chain = 1,
  Keyframe = 2,
}

/** A spectator's held tick before it was sent anything (a keyframe for joining), and after it fell behind. */
const NEW = -2;
const BEHIND = -1;

/** One spectator on a stream. */
interface Member {
  readonly player: Player;
  readonly link: StreamLink;
  /** Tick of the newest snapshot sent to it, or NEW / BEHIND. */
  heldTick: number;
  /** When it fell behind (stream clock, ms), while it stays behind. */
  behindSinceMs: number;
  plan: Plan;
}

/** Settings of a stream (from ServerConfig). */
export interface StreamSettings {
  /** spectatorStreamMaxBehindBytes. */
  readonly maxBehindBytes: number;
  /** clientTimeoutMs: behind this long, the spectator is closed with Backpressure. */
  readonly stalledMs: number;
  /** Server clock, ms. */
  nowMs(): number;
}

/** One room's shared spectator stream. */
export class SpectatorStream implements RoomStream {
  private readonly members: Member[] = [];
  /** The stream: a delta chain, each snapshot against the previous one. */
  private readonly chain = new SnapshotChain();
  /** Keyframes for spectators joining or catching up: restarted before each use. */
  private readonly keys = new SnapshotChain();
  /** This snapshot tick's packets of the chain and of the keyframe, each copied once whatever the number of spectators. */
  private readonly chainOut = new PacketArena();
  private readonly keyOut = new PacketArena();
  /** Tick of the chain's last snapshot (what an up-to-date spectator holds), -1 before any. */
  private lastTick = -1;

  /**
   * @param flusher where the packets wait for the end of the tick (sendsAfterTick); none: sent in capture
   */
  constructor(
    private readonly settings: StreamSettings,
    private readonly stats: StreamStats,
    private readonly flusher?: StreamFlush,
  ) {}

  get size(): number {
    return this.members.length;
  }

  /** Puts `player` (a spectator) on the stream: it gets a keyframe at the next snapshot tick, then the chain. */
  add(player: Player, link: StreamLink): void {
    player.streamed = true;
    this.members.push({ player, link, heldTick: NEW, behindSinceMs: 0, plan: Plan.Skip });
  }

  /** Takes `player` off the stream. */
  remove(player: Player): void {
    const m = this.members;
    for (let i = 0; i < m.length; i++) {
      if (m[i].player !== player) continue;
      m[i] = m[m.length - 1];
      m.pop();
      player.streamed = false;
      return;
    }
  }

  /** `player` is on a new connection (a resume): it starts again from a keyframe. */
  restart(player: Player): void {
    for (const m of this.members) if (m.player === player) m.heldTick = NEW;
  }

  capture(room: Room): void {
    const tick = room.ctx.tick;
    const { maxBehindBytes, stalledMs } = this.settings;
    const now = this.settings.nowMs();
    const members = this.members;
    let chained = 0;
    let keyed = 0;
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      const backlog = m.link.backlog();
      if (backlog < 0) {
        m.plan = Plan.Skip; // no connection: a resume restarts it from a keyframe
      } else if (backlog > maxBehindBytes) {
        // a delta it cannot take now breaks its chain: skip it until it drains, then a keyframe
        if (m.heldTick !== BEHIND) {
          m.heldTick = BEHIND;
          m.behindSinceMs = now;
        } else if (now - m.behindSinceMs > stalledMs) {
          m.link.stalled();
        }
        m.plan = Plan.Skip;
      } else if (this.lastTick >= 0 && m.heldTick === this.lastTick) {
        m.plan = Plan.Chain;
        chained++;
      } else {
        m.plan = Plan.Keyframe;
        keyed++;
      }
    }
    this.chainOut.clear();
    this.keyOut.clear();
    if (chained > 0) this.chain.encode(room.encoder, tick, this.chainOut.push);
    else this.chain.ackedTick = tick; // nobody needs this delta; the next one is against this tick, which every member sent anything holds
    if (keyed > 0) {
      this.keys.restart();
      this.keys.encode(room.encoder, tick, this.keyOut.push);
    }
    this.lastTick = tick;
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      if (m.plan === Plan.Skip) continue;
      if (m.plan === Plan.Keyframe) {
        if (m.heldTick === NEW) this.stats.keyframes.join++;
        else this.stats.keyframes.behind++;
      }
      m.heldTick = tick;
    }
    if (this.flusher) this.flusher.add(this);
    else this.flush();
  }

  /** Sends this snapshot tick's packets to every spectator planned for them; returns the packets sent. */
  flush(): number {
    const members = this.members;
    const stats = this.stats.packets;
    let n = 0;
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      if (m.plan === Plan.Skip) continue;
      const out = m.plan === Plan.Chain ? this.chainOut : this.keyOut;
      for (let p = 0; p < out.count; p++) {
        if (m.link.send(out.at(p)) !== 'sent') {
          m.heldTick = BEHIND; // its chain is broken: a keyframe if the connection lives on
          break;
        }
        n++;
        if (m.plan === Plan.Chain) stats.delta++;
        else stats.keyframe++;
      }
      m.plan = Plan.Skip;
    }
    return n;
  }
}
