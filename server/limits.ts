// Per-client and per-address limits: the token bucket every rate uses, the address key clients are
// counted under (an IPv4 address, or an IPv6 /64: one household, school or cloud host), and the
// per-address counts of handshakes, sessions, pending datagram channels and new rooms.

/**
 * A token bucket: `ratePerSec` tokens refill continuously up to `burst`. Nothing is allocated per
 * call; time comes from the caller.
 */
export class TokenBucket {
  private tokens: number;
  private lastMs = -1;

  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Takes one token at `nowMs`; false (and nothing taken) when the bucket is empty. */
  take(nowMs: number): boolean {
    if (this.lastMs >= 0) this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.lastMs) * this.ratePerSec) / 1000);
    this.lastMs = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** True when the bucket would be full at `nowMs` (an idle client's bucket can be dropped). */
  full(nowMs: number): boolean {
    return this.lastMs < 0 || this.tokens + ((nowMs - this.lastMs) * this.ratePerSec) / 1000 >= this.burst;
  }
}

/**
 * The key a client is counted under: IPv4 addresses as they are (IPv4-mapped IPv6 too), IPv6
 * addresses by their /64 prefix (one subnet is one site), anything else as given.
 */
export function addressKey(remote: string): string {
  if (!remote.includes(':')) return remote;
  const g = expandIpv6(remote);
  if (!g) return remote;
  if (g[0] === '0' && g[1] === '0' && g[2] === '0' && g[3] === '0' && g[4] === '0' && g[5] === 'ffff') {
    const hi = parseInt(g[6], 16);
    const lo = parseInt(g[7], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return `${g.slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (hex, lower-case, no leading zeros); undefined if it is not one. */
function expandIpv6(text: string): string[] | undefined {
  let addr = text.replace(/^\[|\]$/g, '').split('%')[0].toLowerCase();
  const dotted = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  if (dotted) {
    const b = dotted.slice(1).map(Number);
    if (b.some((x) => x > 255)) return undefined;
    addr = addr.slice(0, dotted.index) + `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const halves = addr.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (groups.length !== 8 || !groups.every((x) => /^[0-9a-f]{1,4}$/.test(x))) return undefined;
  return groups.map((x) => parseInt(x, 16).toString(16));
}

/** What one address holds now. */
export class AddressState {
  /** Reliable connections that have not completed the handshake. */
  handshakes = 0;
  /** Sessions (active, authenticating or resuming). */
  sessions = 0;
  /** Datagram channels admitted and not open yet. */
  pendingDatagrams = 0;
  /** Rooms created because a client from here named them (rate). */
  readonly roomCreates: TokenBucket;

  constructor(roomCreatesPerMin: number) {
    this.roomCreates = new TokenBucket(roomCreatesPerMin / 60, Math.max(1, roomCreatesPerMin));
  }

  /** True when nothing is held and the entry can be forgotten (its room-creation budget refills meanwhile). */
  idle(): boolean {
    return this.handshakes === 0 && this.sessions === 0 && this.pendingDatagrams === 0;
  }
}

/** Per-address counts, by addressKey. Entries are dropped when idle for a while (prune). */
export class AddressBook {
  private readonly byKey = new Map<string, AddressState>();
  private readonly idleSinceMs = new Map<string, number>();

  constructor(private readonly roomCreatesPerMin: number) {}

  /** The state of `key`, created on first use. */
  get(key: string): AddressState {
    let a = this.byKey.get(key);
    if (!a) {
      a = new AddressState(this.roomCreatesPerMin);
      this.byKey.set(key, a);
    }
    return a;
  }

  /** Addresses tracked. */
  get size(): number {
    return this.byKey.size;
  }

  /** Forgets addresses idle for longer than a minute (their room-creation budget has refilled by then). */
  prune(nowMs: number): void {
    for (const [key, a] of this.byKey) {
      if (!a.idle()) {
        this.idleSinceMs.delete(key);
        continue;
      }
      const since = this.idleSinceMs.get(key);
      if (since === undefined) this.idleSinceMs.set(key, nowMs);
      else if (nowMs - since > 60_000) {
        this.byKey.delete(key);
        this.idleSinceMs.delete(key);
      }
    }
  }
}
