// End-to-end tests of the geckos.io datagram transport over loopback: token auth, binary round trips, open/close reporting, limits, and survival of hostile peers and throwing handlers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientChannel } from '@geckos.io/client';
import { bridge } from '@geckos.io/server/lib/deps.js';
import { startGeckosTransport, type GeckosTransport } from '../server/net/geckos.ts';
import type { ConnectRequest, TransportEvents } from '../server/net/transport.ts';
import { connectGeckos, GeckosConnectError, loadGeckosClient, type GeckosClientConnection, type GeckosClientFactory } from '../tools/node-client/rtc.ts';

const HOST = '127.0.0.1';
const MAX_MESSAGE_BYTES = 4096;
const PENDING_TIMEOUT_MS = 1500;

/** Polls `cond` every 10 ms until it holds; fails after `timeoutMs`. */
async function until(cond: () => boolean, what: string, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Datagrams may be lost: sends, then re-sends every 100 ms until `cond` holds or the deadline passes. */
async function resendUntil(send: () => void, cond: () => boolean, what: string, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let next = 0;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    if (Date.now() >= next) {
      send();
      next = Date.now() + 100;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

class FakeEvents implements TransportEvents {
  readonly tokens = new Map<string, number>([
    ['good', 7],
    ['hostile', 9],
    ['thrower', 11],
    ['pending', 13],
  ]);
  readonly opened: number[] = [];
  readonly closed: number[] = [];
  readonly messages: { sessionId: number; bytes: number[] }[] = [];
  readonly throwFor = new Set<number>();
  admit(req: ConnectRequest): number {
    return this.tokens.get(req.token ?? '') ?? 0;
  }
  onOpen(sessionId: number): void {
    this.opened.push(sessionId);
  }
  onMessage(sessionId: number, bytes: Uint8Array): void {
    if (this.throwFor.has(sessionId)) throw new Error('handler exploded');
    this.messages.push({ sessionId, bytes: Array.from(bytes) });
  }
  onClose(sessionId: number): void {
    this.closed.push(sessionId);
    if (this.throwFor.has(sessionId)) throw new Error('onClose exploded');
  }
  count(list: number[], sessionId: number): number {
    return list.filter((s) => s === sessionId).length;
  }
  received(sessionId: number, bytes: number[]): boolean {
    return this.messages.some((m) => m.sessionId === sessionId && m.bytes.length === bytes.length && m.bytes.every((b, i) => b === bytes[i]));
  }
}

const logged: { level: string; o: object; msg?: string }[] = [];
const log = {
  info: (o: object, msg?: string): void => void logged.push({ level: 'info', o, msg }),
  warn: (o: object, msg?: string): void => void logged.push({ level: 'warn', o, msg }),
  error: (o: object, msg?: string): void => void logged.push({ level: 'error', o, msg }),
};

/** Asserts a full binary round trip on an open session: server -> client and client -> server, exact bytes. */
async function roundTrip(transport: GeckosTransport, events: FakeEvents, conn: GeckosClientConnection, sessionId: number, tag: number): Promise<void> {
  const down = [tag, 0, 255, 1, 2, 3, tag];
  const up = [tag, 42, 0, 7, 255, tag];
  const seen: number[][] = [];
  conn.onMessage((b) => seen.push(Array.from(b)));
  const sameAs = (want: number[]) => (got: number[]) => got.length === want.length && got.every((b, i) => b === want[i]);
  // send a subarray of a bigger buffer: the transport must honour byteOffset
  const backing = new Uint8Array(down.length + 8);
  backing.set(down, 4);
  await resendUntil(() => expect(transport.send(sessionId, backing.subarray(4, 4 + down.length))).toBe('sent'), () => seen.some(sameAs(down)), 'server -> client bytes');
  await resendUntil(() => conn.send(new Uint8Array(up)), () => events.received(sessionId, up), 'client -> server bytes');
}

interface RawClient {
  channel: ClientChannel;
  /** The client's RTCDataChannel, to send what geckos' own emit would refuse. */
  dc: RTCDataChannel;
}

/** Connects a bare geckos client channel (no wrapper), optionally making it believe the server accepts `fakeMaxMessageSize` bytes. */
async function connectRaw(factory: GeckosClientFactory, port: number, token: string, fakeMaxMessageSize?: number): Promise<RawClient> {
  const realFetch = globalThis.fetch;
  if (fakeMaxMessageSize !== undefined) {
    globalThis.fetch = (async (...args: Parameters<typeof fetch>): Promise<Response> => {
      const res = await realFetch(...args);
      if (!String(args[0]).endsWith('/connections') || !res.ok) return res;
      const json = (await res.json()) as { localDescription: { sdp: string } };
      json.localDescription.sdp = json.localDescription.sdp.replace(/a=max-message-size:\d+/, `a=max-message-size:${fakeMaxMessageSize}`);
      return new Response(JSON.stringify(json), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as typeof fetch;
  }
  try {
    const channel = factory({ url: `http://${HOST}`, port, authorization: token, iceServers: [] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('raw connect timed out')), 5000);
      void channel.onConnect((err) => {
        clearTimeout(timer);
        if (err) reject(new Error(err.message));
        else resolve();
      });
    });
    const dc = (channel as unknown as { connectionsManager: { dataChannel: RTCDataChannel } }).connectionsManager.dataChannel;
    return { channel, dc };
  } finally {
    globalThis.fetch = realFetch;
  }
}

describe('geckos.io datagram transport', { timeout: 10_000 }, () => {
  const events = new FakeEvents();
  let transport: GeckosTransport;
  let factory: GeckosClientFactory;
  const connect = (token: string): Promise<GeckosClientConnection> =>
    connectGeckos(factory, { url: `http://${HOST}`, port: transport.signalingPort, token, timeoutMs: 5000 });

  beforeAll(async () => {
    transport = await startGeckosTransport(
      { host: HOST, signalingPort: 0, udpPortMin: 0, udpPortMax: 0, iceServers: [], maxPendingPeers: 3, maxMessageBytes: MAX_MESSAGE_BYTES, pendingTimeoutMs: PENDING_TIMEOUT_MS },
      events,
      log,
    );
    factory = await loadGeckosClient();
    expect(await loadGeckosClient()).toBe(factory); // idempotent
  }, 10_000);

  afterAll(async () => {
    const t0 = Date.now();
    await transport?.stop();
    // bounded: geckos' own close handler (detached by the transport) ran node-datachannel's cleanup(), which blocks
    // for 10 s while any peer connection in the process is alive
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(logged.filter((l) => l.level === 'error')).toEqual([]);
  }, 10_000);

  it('listens on an ephemeral port and answers 404 outside the geckos routes', async () => {
    expect(transport.signalingPort).toBeGreaterThan(0);
    const res = await fetch(`http://${HOST}:${transport.signalingPort}/nope`);
    expect(res.status).toBe(404);
  });

  it('opens with a good token, round-trips binary both ways, and reports the client closing exactly once', async () => {
    const conn = await connect('good');
    await until(() => events.count(events.opened, 7) === 1, 'onOpen(7)');
    expect(transport.peerCount()).toBe(1);
    expect(transport.pendingCount()).toBe(0);
    await roundTrip(transport, events, conn, 7, 1);

    let clientClosed = 0;
    conn.onClose(() => clientClosed++);
    conn.close();
    conn.close(); // idempotent
    expect(clientClosed).toBe(1);
    await until(() => events.count(events.closed, 7) === 1, 'onClose(7)');
    // wait until geckos dropped the peer connection entirely (its late state changes must not report again)
    await until(() => transport.rtcConnectionCount() === 0, 'geckos to drop the connection');
    expect(events.count(events.closed, 7)).toBe(1);
    expect(events.count(events.opened, 7)).toBe(1);
    expect(transport.peerCount()).toBe(0);
    expect(transport.send(7, new Uint8Array([1]))).toBe('closed');
    expect(() => conn.send(new Uint8Array([1]))).not.toThrow();
  });

  it('closes a session from the server side: onClose once, client told, send() false', async () => {
    const opensBefore = events.count(events.opened, 7);
    const closesBefore = events.count(events.closed, 7);
    const conn = await connect('good');
    let clientClosed = 0;
    conn.onClose(() => clientClosed++);
    await until(() => events.count(events.opened, 7) === opensBefore + 1, 'onOpen(7) again');
    transport.close(7);
    transport.close(7); // idempotent
    expect(transport.send(7, new Uint8Array([1]))).toBe('closed');
    expect(events.count(events.closed, 7)).toBe(closesBefore + 1);
    await until(() => clientClosed === 1, 'client to see the close');
    await until(() => transport.rtcConnectionCount() === 0, 'geckos to drop the connection');
    expect(events.count(events.closed, 7)).toBe(closesBefore + 1);
    conn.close();
    expect(clientClosed).toBe(1);
  });

  it('refuses a bad token with 401 before creating any peer', async () => {
    const opened = events.opened.length;
    const refused = transport.stats().refusedUnauthorized;
    const err = await connect('bad').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GeckosConnectError);
    expect((err as GeckosConnectError).status).toBe(401);
    expect(transport.stats().refusedUnauthorized).toBe(refused + 1);
    expect(transport.peerCount()).toBe(0);
    expect(transport.pendingCount()).toBe(0);
    expect(transport.rtcConnectionCount()).toBe(0);
    expect(events.opened.length).toBe(opened);
  });

  it('survives a peer sending null, invalid JSON, spoofed events, huge strings and oversize binary', async () => {
    // The peer is told the server takes 1 MB messages, so libdatachannel on its side lets huge ones out.
    const hostile = await connectRaw(factory, transport.signalingPort, 'hostile', 1_000_000);
    await until(() => events.count(events.opened, 9) === 1, 'onOpen(9)');
    const stats = (): ReturnType<GeckosTransport['stats']> => transport.stats();

    // Strings geckos hands onRaw as raw text: each must be counted as dropped, none may reach onMessage.
    const huge = 'x'.repeat(200_000); // libdatachannel's own cap is 256 KiB
    const hugeJson = JSON.stringify({ a: huge });
    const textPayloads = ['null', '{bad', '{"a":', '[', '"str"', '123', 'true', ' null', '{"rawMessage":null}', '{"rawMessage":{"x":1}}', huge, hugeJson];
    for (const text of textPayloads) {
      const before = stats().droppedNonBinary;
      await resendUntil(() => hostile.dc.send(text), () => stats().droppedNonBinary > before, `drop of ${JSON.stringify(text.slice(0, 20))}`);
    }
    // JSON events geckos would have routed, including ones naming its internal events: ignored.
    for (const text of ['{}', '{"disconnect":"closed"}', '{"dropped":{}}', '{"connection":1}', '{"__proto__":{"x":1}}', '{"constructor":1}', '{"someEvent":[1,2]}']) {
      hostile.dc.send(text);
    }
    hostile.channel.emit('disconnect', 'closed');
    // Binary longer than maxMessageBytes: truncated by libdatachannel to max+1, then dropped by the transport.
    const oversizeBefore = stats().droppedOversize;
    await resendUntil(() => hostile.dc.send(new Uint8Array(100_000).fill(0xab)), () => stats().droppedOversize > oversizeBefore, 'oversize drop');
    const exact = new Uint8Array(MAX_MESSAGE_BYTES).fill(0xcd);
    await resendUntil(() => hostile.dc.send(exact), () => events.messages.some((m) => m.sessionId === 9 && m.bytes.length === MAX_MESSAGE_BYTES), 'max-size message');

    // Still alive, still the same open peer, and binary still flows both ways.
    const opens7 = events.count(events.opened, 7);
    const wrapped = await connect('good');
    await until(() => events.count(events.opened, 7) === opens7 + 1, 'onOpen(7) again');
    await roundTrip(transport, events, wrapped, 7, 2);
    const down: number[][] = [];
    hostile.channel.onRaw((raw) => {
      if (raw instanceof ArrayBuffer) down.push(Array.from(new Uint8Array(raw)));
    });
    await resendUntil(() => transport.send(9, new Uint8Array([9, 9, 9])), () => down.some((d) => d.join() === '9,9,9'), 'server -> hostile bytes');
    await resendUntil(() => hostile.dc.send(new Uint8Array([3, 1, 4])), () => events.received(9, [3, 1, 4]), 'hostile -> server bytes');
    expect(events.count(events.closed, 9)).toBe(0); // the spoofed {"disconnect":...} did nothing
    expect(events.messages.filter((m) => m.sessionId === 9).every((m) => m.bytes.length <= MAX_MESSAGE_BYTES)).toBe(true);

    wrapped.close();
    hostile.channel.close();
    await until(() => events.count(events.closed, 9) === 1 && transport.peerCount() === 0, 'both peers closed');
    await until(() => transport.rtcConnectionCount() === 0, 'geckos to drop the connections');
  });

  it('survives PeerEvents handlers that throw', async () => {
    events.throwFor.add(11);
    const conn = await connect('thrower');
    await until(() => events.count(events.opened, 11) === 1, 'onOpen(11)');
    const errorsBefore = transport.stats().callbackErrors;
    await resendUntil(() => conn.send(new Uint8Array([6, 6, 6])), () => transport.stats().callbackErrors > errorsBefore, 'a caught handler exception');
    expect(logged.some((l) => l.level === 'warn' && l.msg?.includes('exception caught'))).toBe(true);
    // the process is alive and the same peer works once the handler behaves
    events.throwFor.delete(11);
    await roundTrip(transport, events, conn, 11, 3);
    events.throwFor.add(11); // onClose throws too
    conn.close();
    await until(() => events.count(events.closed, 11) === 1, 'onClose(11)');
    await until(() => transport.rtcConnectionCount() === 0, 'geckos to drop the connection');
    events.throwFor.delete(11);
  });

  it('caps pending peers, bounds signaling bodies, and expires peers that never connect', async () => {
    const base = `http://${HOST}:${transport.signalingPort}/.wrtc/v2`;
    const post = (path: string, init: RequestInit = {}): Promise<Response> => fetch(`${base}${path}`, { method: 'POST', ...init });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await post('/connections', { headers: { authorization: 'pending' } });
      expect(res.status).toBe(200);
      const json = (await res.json()) as { id: string; userData: unknown };
      expect(json.userData).toEqual({ connId: 13 });
      ids.push(json.id);
    }
    expect(transport.pendingCount()).toBe(3);
    expect((await post('/connections', { headers: { authorization: 'pending' } })).status).toBe(503);
    expect((await post('/connections', { headers: { authorization: 'good' } })).status).toBe(503);
    expect(transport.stats().refusedBusy).toBe(2);

    // A body geckos 3.1.0 answered twice (crashing the process on ERR_HTTP_HEADERS_SENT) and oversize bodies.
    expect((await post(`/connections/${ids[0]}/remote-description`, { body: '{}' })).status).toBe(400);
    expect((await post(`/connections/${ids[0]}/remote-description`, { body: 'null' })).status).toBe(400);
    expect((await post(`/connections/${ids[0]}/remote-description`, { body: '{"sdp":"x","type":"answer"}' })).status).toBe(500);
    expect((await post(`/connections/${ids[0]}/remote-description`, { body: 'x'.repeat(100_000) })).status).toBe(413);

    await until(() => transport.pendingCount() === 0 && transport.rtcConnectionCount() === 0, 'pending peers to expire', 4000);
    expect(transport.stats().pendingExpired).toBeGreaterThanOrEqual(3);
    expect(events.count(events.opened, 13)).toBe(0);

    // slots are free again
    const opens7 = events.count(events.opened, 7);
    const conn = await connect('good');
    await until(() => events.count(events.opened, 7) === opens7 + 1, 'onOpen(7) again');
    await roundTrip(transport, events, conn, 7, 4);
    conn.close();
    await until(() => transport.peerCount() === 0 && transport.rtcConnectionCount() === 0, 'close');
  });

  it('stopping another transport in the process leaves this one, its peers and the clients alone', async () => {
    const conn = await connect('good');
    await until(() => transport.peerCount() === 1, 'the first peer to open');
    const opens7 = events.count(events.opened, 7);
    const listeners = bridge.eventEmitter.listenerCount('connection');
    const otherEvents = new FakeEvents();
    const other = await startGeckosTransport(
      { host: HOST, signalingPort: 0, udpPortMin: 0, udpPortMax: 0, iceServers: [], maxPendingPeers: 3, maxMessageBytes: MAX_MESSAGE_BYTES },
      otherEvents,
      log,
    );
    expect(bridge.eventEmitter.listenerCount('connection')).toBe(listeners + 1);
    // the other transport holds a peer that never opens (its datachannel never opened either)
    const res = await fetch(`http://${HOST}:${other.signalingPort}/.wrtc/v2/connections`, { method: 'POST', headers: { authorization: 'pending' } });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(other.rtcConnectionCount()).toBe(1);
    await other.stop();
    expect(otherEvents.count(otherEvents.closed, 13)).toBe(1);
    // geckos' own close handler (now detached) ran after the server closed, once its connections had closed
    await new Promise((r) => setTimeout(r, 500));
    // its connection listener is gone, ours is not (geckos' own close handler removed every listener)
    expect(bridge.eventEmitter.listenerCount('connection')).toBe(listeners);
    // the open peer still round-trips (node-datachannel's process-wide cleanup() would have closed it)
    await roundTrip(transport, events, conn, 7, 5);
    expect(transport.peerCount()).toBe(1);
    conn.close();
    await until(() => transport.peerCount() === 0, 'close');
    // and new peers still reach this transport
    const again = await connect('good');
    await until(() => events.count(events.opened, 7) === opens7 + 1 && transport.peerCount() === 1, 'onOpen(7) after the other transport stopped');
    await roundTrip(transport, events, again, 7, 6);
    again.close();
    await until(() => transport.peerCount() === 0 && transport.rtcConnectionCount() === 0, 'close');
  });
});
