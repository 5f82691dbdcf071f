// The seeded link conditioner: pass-through when off, delay and jitter bounds, loss, duplication
// and reordering rates, an ordered lossless reliable lane, repeatability, and the ClientIO wrapper.
import { describe, expect, it } from 'vitest';
import { defaultLinkSettings, LinkConditioner, type LinkSettings } from '../shared/net/link-conditioner.ts';
import { conditionClientIO } from '../netcode/conditioned-io.ts';
import type { ClientIO, WebSocketLike } from '../netcode/connection.ts';

class FakeTime {
  t = 0;
  readonly timers: { at: number; fn: () => void }[] = [];
  nowMs = (): number => this.t;
  setTimer = (fn: () => void, ms: number): void => void this.timers.push({ at: this.t + ms, fn });
  /** Advances to `t`, firing due timers in time order. */
  advanceTo(t: number): void {
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > t) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = t;
  }
}

const settings = (o: Partial<LinkSettings>): LinkSettings => ({ ...defaultLinkSettings(), enabled: true, ...o });

/** Sends `n` one-byte-tagged messages 1 ms apart and records (tag, arrival time). */
function traffic(s: LinkSettings, seed: number, n: number, reliable = false): { tag: number; atMs: number }[] {
  const time = new FakeTime();
  const c = new LinkConditioner(s, seed, time);
  const got: { tag: number; atMs: number }[] = [];
  const msg = new Uint8Array(4);
  for (let i = 0; i < n; i++) {
    time.t = i;
    new DataView(msg.buffer).setUint32(0, i);
    c.send(msg, reliable, (b) => got.push({ tag: new DataView(b.buffer, b.byteOffset).getUint32(0), atMs: time.t }));
    c.pump();
  }
  for (let t = n; c.pending > 0; t++) {
    time.t = t;
    c.pump();
  }
  return got;
}

describe('LinkConditioner', () => {
  it('passes messages through synchronously when disabled', () => {
    const c = new LinkConditioner(defaultLinkSettings(), 1, { nowMs: () => 0 });
    const got: number[][] = [];
    c.send(Uint8Array.of(1, 2, 3), false, (b) => got.push([...b]));
    expect(got).toEqual([[1, 2, 3]]);
    expect(c.pending).toBe(0);
  });

  it('lets the entries of a burst go once delivered, and reuses the ones it keeps', () => {
    const time = new FakeTime();
    const c = new LinkConditioner(settings({}), 5, time);
    const got: number[] = [];
    const deliver = (b: Uint8Array): void => void got.push(b[0] | (b[1] << 8));
    // a thousand messages queued before one pump (a roster sent to a player joining a big room)
    for (let i = 0; i < 1000; i++) c.send(Uint8Array.of(i & 255, i >> 8), true, deliver);
    expect(c.pending).toBe(1000);
    c.pump();
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(c.pooled).toBe(64);
    // steady traffic takes its entries from the pool: the pool neither grows nor empties
    for (let i = 0; i < 200; i++) {
      c.send(Uint8Array.of(i, 0), false, deliver);
      c.send(Uint8Array.of(i, 1), true, deliver);
      expect(c.pooled).toBe(62);
      c.pump();
    }
    expect(c.pooled).toBe(64);
    expect(got).toHaveLength(1400);
  });

  it('keeps every delay within delay ± jitter and copies the bytes', () => {
    const time = new FakeTime();
    const c = new LinkConditioner(settings({ delayMs: 75, jitterMs: 20 }), 3, time);
    const buf = new Uint8Array([9]);
    let arrived = -1;
    c.send(buf, false, (b) => {
      expect(b[0]).toBe(9);
      arrived = time.t;
    });
    buf[0] = 0; // the caller reuses its buffer at once
    for (time.t = 0; time.t < 200; time.t += 0.5) c.pump();
    expect(arrived).toBeGreaterThanOrEqual(55);
    expect(arrived).toBeLessThanOrEqual(95.5);
    const all = traffic(settings({ delayMs: 75, jitterMs: 20 }), 4, 2000);
    expect(all).toHaveLength(2000);
    const delays = all.map((a) => a.atMs - a.tag);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(55);
      expect(d).toBeLessThanOrEqual(96);
    }
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(35); // the jitter is really there
  });

  it('drops, duplicates and reorders at the configured rates, repeatably', () => {
    const s = settings({ delayMs: 10, lossPct: 5, duplicatePct: 3, reorderPct: 4, reorderMs: 30 });
    const a = traffic(s, 42, 20000);
    const b = traffic(s, 42, 20000);
    expect(b).toEqual(a); // same seed, same traffic: same result
    expect(traffic(s, 43, 20000)).not.toEqual(a);
    const tags = new Map<number, number>();
    for (const m of a) tags.set(m.tag, (tags.get(m.tag) ?? 0) + 1);
    const lost = 20000 - tags.size;
    const dup = [...tags.values()].filter((n) => n === 2).length;
    expect(lost / 20000).toBeGreaterThan(0.04);
    expect(lost / 20000).toBeLessThan(0.06);
    expect(dup / 20000).toBeGreaterThan(0.02);
    expect(dup / 20000).toBeLessThan(0.04);
    let inversions = 0;
    for (let i = 1; i < a.length; i++) if (a[i].tag < a[i - 1].tag && a[i].tag !== a[i - 1].tag) inversions++;
    expect(inversions).toBeGreaterThan(200);
  });

  it('keeps the reliable lane ordered and lossless under loss and jitter', () => {
    const got = traffic(settings({ delayMs: 40, jitterMs: 30, lossPct: 50, duplicatePct: 50, reorderPct: 50 }), 5, 3000, true);
    expect(got.map((g) => g.tag)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    for (const g of got) expect(g.atMs - g.tag).toBeGreaterThanOrEqual(10);
  });

  it('schedules its own deliveries when given a timer', () => {
    const time = new FakeTime();
    const c = new LinkConditioner(settings({ delayMs: 50 }), 1, time);
    const got: number[] = [];
    c.send(Uint8Array.of(1), false, () => got.push(time.t));
    time.t = 10;
    c.send(Uint8Array.of(2), false, () => got.push(time.t));
    time.advanceTo(200);
    expect(got).toEqual([50, 60]);
  });
});

describe('conditionClientIO', () => {
  it('delays the WebSocket in order and puts the datagram channel under loss', async () => {
    const time = new FakeTime();
    let server: WebSocketLike | undefined;
    const sentByClient: number[] = [];
    const dgToServer: number[] = [];
    let dgDeliver: ((b: Uint8Array) => void) | undefined;
    const inner: ClientIO = {
      nowMs: time.nowMs,
      openWebSocket: () => {
        server = {
          binaryType: 'arraybuffer', readyState: 1, onopen: null, onmessage: null, onclose: null, onerror: null,
          send: (d) => void sentByClient.push(d[1]), close: () => undefined,
        };
        return server;
      },
      openDatagram: async (o) => {
        dgDeliver = o.onMessage;
        return { send: (b) => void dgToServer.push(b[0]), close: () => undefined };
      },
    };
    const c = conditionClientIO(inner, { settings: settings({ delayMs: 30, lossPct: 50 }), seed: 9, timers: time });
    const ws = c.io.openWebSocket('ws://x');
    const received: number[] = [];
    let opened = -1;
    ws.onopen = () => {
      opened = time.t;
    };
    ws.onmessage = (ev) => void received.push((ev.data as Uint8Array)[1]);
    server!.onopen?.({});
    for (let i = 0; i < 50; i++) {
      ws.send(Uint8Array.of(1, i)); // control messages: never lost
      server!.onmessage?.({ data: Uint8Array.of(1, i) });
    }
    expect(sentByClient).toEqual([]);
    time.advanceTo(100);
    expect(opened).toBe(30);
    expect(sentByClient).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(received).toEqual(Array.from({ length: 50 }, (_, i) => i));

    const dgReceived: number[] = [];
    const dg = await c.io.openDatagram!({ url: 'http://x', port: 1, token: 't', timeoutMs: 10, onMessage: (b) => void dgReceived.push(b[0]), onClose: () => undefined });
    for (let i = 0; i < 400; i++) {
      dg.send(Uint8Array.of(i & 0xff));
      dgDeliver!(Uint8Array.of(i & 0xff));
    }
    time.advanceTo(300);
    expect(dgToServer.length).toBeGreaterThan(150);
    expect(dgToServer.length).toBeLessThan(250);
    expect(dgReceived.length).toBeGreaterThan(150);
    expect(dgReceived.length).toBeLessThan(250);
    expect(c.up.stats.dropped + c.down.stats.dropped).toBe(800 - dgToServer.length - dgReceived.length);
  });
});
