// Seeded link conditioner: delays, jitters, drops, duplicates and reorders messages at a transport
// boundary, repeatably. One LinkConditioner is one direction of a link. Both sides run it: the
// client netcode wraps its I/O with two (netcode/conditioned-io.ts), the server wraps a transport
// with them (server/net/conditioned.ts), and the loopback transport is built on them.
import { Rng } from '../sim/rng.ts';

/** What a conditioner does to each message. Every field may change at run time. */
export interface LinkSettings {
  /** Master switch; when false every message passes through at once, untouched. Default false. */
  enabled: boolean;
  /** Base one-way delay, ms (a round trip grows by twice this). Default 0. */
  delayMs: number;
  /** Jitter: each message's delay is delayMs + uniform(-jitterMs, +jitterMs), never below 0, ms. Default 0. */
  jitterMs: number;
  /** Share of unreliable messages dropped, percent 0..100. Default 0. */
  lossPct: number;
  /** Share of unreliable messages delivered twice (the copy after an extra 0..2*jitterMs+1 ms), percent 0..100. Default 0. */
  duplicatePct: number;
  /** Share of unreliable messages held back by an extra reorderMs so later ones overtake them, percent 0..100. Default 0. */
  reorderPct: number;
  /** Extra delay of a reordered message, ms. Default 40. */
  reorderMs: number;
}

/** Settings with everything off. */
export function defaultLinkSettings(): LinkSettings {
  return { enabled: false, delayMs: 0, jitterMs: 0, lossPct: 0, duplicatePct: 0, reorderPct: 0, reorderMs: 40 };
}

/** Counters of one conditioner (one direction). */
export interface LinkStats {
  /** Messages offered. */
  sent: number;
  /** Messages delivered (duplicates included). */
  delivered: number;
  dropped: number;
  duplicated: number;
  reordered: number;
}

/** Where the conditioner gets time and timers; tests drive `pump` with a fake clock instead. */
export interface ConditionerTimers {
  /** Monotonic time, ms. */
  nowMs(): number;
  /** Runs `fn` after `ms` (setTimeout); omitted = the owner calls pump() itself. */
  setTimer?(fn: () => void, ms: number): unknown;
}

/** Delivery callback of one message; `bytes` is valid only during the call. */
export type Deliver = (bytes: Uint8Array) => void;

/** One message waiting for its delivery time. Entries are pooled. */
interface Entry {
  dueMs: number;
  order: number;
  len: number;
  buf: Uint8Array;
  deliver: Deliver | null;
  /** A non-message event (open, close) delivered in order with the reliable lane. */
  event: (() => void) | null;
}

/**
 * One direction of a link. `send(bytes, reliable, deliver)` copies the message and hands it to
 * `deliver` later: reliable messages (an ordered stream such as a WebSocket) are delayed and
 * jittered but keep their order and are never lost; unreliable ones (datagrams) may also be lost,
 * duplicated or reordered. Buffers and entries are pooled, so steady traffic allocates nothing (a burst's
 * entries beyond the pool's 64 are let go once delivered).
 * Randomness comes from one seeded PRNG: the same seed and the same traffic give the same result.
 */
export class LinkConditioner {
  readonly stats: LinkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, reordered: 0 };
  private readonly rng: Rng;
  /** Pending entries sorted by (dueMs, order). */
  private readonly queue: Entry[] = [];
  private readonly pool: Entry[] = [];
  private order = 0;
  private lastReliableDueMs = 0;
  private timerDueMs = Infinity;
  private readonly onTimer = (): void => {
    this.timerDueMs = Infinity;
    this.pump();
  };

  constructor(
    /** Live settings (shared by both directions of a link is fine). */
    readonly settings: LinkSettings,
    seed: number,
    private readonly timers: ConditionerTimers,
  ) {
    this.rng = new Rng(seed);
  }

  /** Messages waiting. */
  get pending(): number {
    return this.queue.length;
  }

  /** Entries kept for reuse (at most POOL_MAX). */
  get pooled(): number {
    return this.pool.length;
  }

  /** Bytes of the messages waiting. */
  pendingBytes = 0;

  /** Offers one message; see the class comment. `bytes` may be reused by the caller afterwards. */
  send(bytes: Uint8Array, reliable: boolean, deliver: Deliver): void {
    const s = this.settings;
    this.stats.sent++;
    if (!s.enabled && this.queue.length === 0) {
      this.stats.delivered++;
      deliver(bytes);
      return;
    }
    const now = this.timers.nowMs();
    if (reliable || !s.enabled) {
      const due = Math.max(now + (s.enabled ? this.delay() : 0), this.lastReliableDueMs);
      this.lastReliableDueMs = due;
      this.enqueue(due, bytes, deliver, null);
      return;
    }
    if (s.lossPct > 0 && this.rng.next() * 100 < s.lossPct) {
      this.stats.dropped++;
      return;
    }
    let due = now + this.delay();
    if (s.reorderPct > 0 && this.rng.next() * 100 < s.reorderPct) {
      this.stats.reordered++;
      due += s.reorderMs;
    }
    this.enqueue(due, bytes, deliver, null);
    if (s.duplicatePct > 0 && this.rng.next() * 100 < s.duplicatePct) {
      this.stats.duplicated++;
      this.enqueue(due + 1 + this.rng.next() * 2 * s.jitterMs, bytes, deliver, null);
    }
  }

  /** Queues an event (socket open or close) behind the reliable messages already queued. */
  sendEvent(fn: () => void): void {
    if (!this.settings.enabled && this.queue.length === 0) {
      fn();
      return;
    }
    const due = Math.max(this.timers.nowMs() + (this.settings.enabled ? this.delay() : 0), this.lastReliableDueMs);
    this.lastReliableDueMs = due;
    this.enqueue(due, EMPTY, null, fn);
  }

  /** Delivers every message due at the current time. Returns the number delivered. */
  pump(): number {
    const now = this.timers.nowMs();
    let n = 0;
    while (this.queue.length > 0 && this.queue[0].dueMs <= now) {
      const e = this.queue.shift() as Entry;
      this.pendingBytes -= e.len;
      const deliver = e.deliver;
      const event = e.event;
      const view = e.buf.subarray(0, e.len);
      try {
        if (event) event();
        else if (deliver) {
          this.stats.delivered++;
          n++;
          deliver(view);
        }
      } finally {
        this.release(e);
      }
    }
    this.arm();
    return n;
  }

  /** Drops everything pending (the link went away). */
  clear(): void {
    for (const e of this.queue) this.release(e);
    this.queue.length = 0;
    this.pendingBytes = 0;
  }

  /** Returns a delivered or dropped entry to the pool, which keeps at most POOL_MAX (a burst's entries are let go). */
  private release(e: Entry): void {
    e.deliver = null;
    e.event = null;
    if (this.pool.length < POOL_MAX) this.pool.push(e);
  }

  private delay(): number {
    const s = this.settings;
    const j = s.jitterMs > 0 ? (this.rng.next() * 2 - 1) * s.jitterMs : 0;
    return Math.max(0, s.delayMs + j);
  }

  private enqueue(dueMs: number, bytes: Uint8Array, deliver: Deliver | null, event: (() => void) | null): void {
    const e = this.pool.pop() ?? { dueMs: 0, order: 0, len: 0, buf: EMPTY, deliver: null, event: null };
    if (e.buf.length < bytes.length) e.buf = new Uint8Array(Math.max(64, bytes.length * 2));
    e.buf.set(bytes);
    e.len = bytes.length;
    this.pendingBytes += e.len;
    e.dueMs = dueMs;
    e.order = this.order++;
    e.deliver = deliver;
    e.event = event;
    // Binary insertion keeps (dueMs, order) sorted; queues stay short (rate x delay).
    const q = this.queue;
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (q[mid].dueMs <= dueMs) lo = mid + 1;
      else hi = mid;
    }
    q.splice(lo, 0, e);
    this.arm();
  }

  private arm(): void {
    const set = this.timers.setTimer;
    if (!set || this.queue.length === 0) return;
    const due = this.queue[0].dueMs;
    if (due >= this.timerDueMs) return;
    this.timerDueMs = due;
    set(this.onTimer, Math.max(0, due - this.timers.nowMs()));
  }
}


const EMPTY = new Uint8Array(0);
/**
 * Entries a conditioner keeps for reuse: steady traffic needs a few (rate x delay); a burst (a
 * thousand roster messages to a joining player) would otherwise stay allocated for the link's life.
 */
const POOL_MAX = 64;
