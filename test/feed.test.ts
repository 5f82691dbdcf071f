// The read-only room feed (GET /rooms/:name/feed, Server-Sent Events) on a real server read over
// HTTP: the first summary, players joining and leaving, the game's public events only, summaries
// and heartbeats at their rates, the end of a room; the per-room and per-address limits; a reader
// that stops reading is dropped while one that reads keeps its stream; the feed metrics move.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { tag } from '../games/tag.ts';
import { Connection } from '../netcode/connection.ts';
import type { TickwireServer } from '../server/server.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import { nodeClientIO } from '../tools/node-client/io.ts';
import { scrapeMetrics, startTestServer, urlOf, waitFor } from './helpers/server.ts';

let srv: TickwireServer | undefined;
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) c();
  await srv?.stop();
  srv = undefined;
});

interface FeedEvent {
  event: string;
  data: unknown;
}

/** A reader of a feed over fetch with a streaming body: every event parsed, comments counted. */
async function readFeed(url: string): Promise<{ status: number; events: FeedEvent[]; comments: number; ended: () => boolean; body: string; close(): void }> {
  const ac = new AbortController();
  const res = await fetch(url, { signal: ac.signal });
  const out = { status: res.status, events: [] as FeedEvent[], comments: 0, done: false, body: '', close: () => ac.abort(), ended: () => out.done };
  closers.push(() => ac.abort());
  if (res.status !== 200) {
    out.body = await res.text();
    return out;
  }
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (block.startsWith(':')) out.comments++;
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (ev !== undefined && data !== undefined) out.events.push({ event: ev, data: JSON.parse(data) });
        }
      }
    } catch {
      // aborted
    }
    out.done = true;
  })();
  return out;
}

function player(server: TickwireServer, game: AnyGame, name: string, room: string): Connection {
  const c = new Connection(game, nodeClientIO({ webrtc: false }), { url: urlOf(server), name, room, transport: 'ws' });
  c.connect();
  closers.push(() => c.close());
  return c;
}

const counter = async (server: TickwireServer, name: string, labels: Record<string, string> = {}): Promise<number> => {
  const m = await scrapeMetrics(server);
  return m.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
};

describe('the read-only room feed', () => {
  it('sends a summary at once and at its rate, players joining and leaving, public game events only, heartbeats, and the end of the room', async () => {
    srv = await startTestServer({ feedSummaryMs: 200, feedHeartbeatMs: 300, resumeGraceMs: 0, roomEmptyGraceMs: 100, roomUnusedGraceMs: 100 }, { game: tag });
    const a = player(srv, tag, 'alice', 'watched');
    await waitFor(() => a.state === 'active', 5000, 'alice joins');
    const feed = await readFeed(`${urlOf(srv)}/rooms/watched/feed`);
    expect(feed.status).toBe(200);
    await waitFor(() => feed.events.length > 0, 3000, 'the first summary');
    const first = feed.events[0];
    expect(first.event).toBe('summary');
    expect(first.data).toMatchObject({ room: 'watched', game: 'tag', spectators: 0, players: [{ name: 'alice', eid: a.welcome!.eid }] });
    expect(typeof (first.data as { players: { score?: number }[] }).players[0].score).toBe('number');
    expect(await counter(srv, 'tickwire_feed_connections')).toBe(1);

    const b = player(srv, tag, 'bob', 'watched');
    await waitFor(() => feed.events.some((e) => e.event === 'joined'), 3000, 'joined');
    expect(feed.events.find((e) => e.event === 'joined')!.data).toMatchObject({ name: 'bob' });
    // a public event (tag names 'it') reaches the feed; one the game does not name does not
    const room = srv.rooms.get('watched')!;
    room.ctx.emit!('secret', { x: 1 });
    room.ctx.emit!('it', { eid: 7 });
    await waitFor(() => feed.events.some((e) => e.event === 'game'), 3000, 'a game event');
    expect(feed.events.filter((e) => e.event === 'game').map((e) => (e.data as { name: string }).name)).toEqual(['it']);
    expect(feed.events.find((e) => e.event === 'game')!.data).toMatchObject({ name: 'it', data: { eid: 7 } });
    b.close();
    await waitFor(() => feed.events.some((e) => e.event === 'left'), 3000, 'left');
    expect(feed.events.find((e) => e.event === 'left')!.data).toMatchObject({ name: 'bob' });

    const t0 = Date.now();
    const n0 = feed.events.filter((e) => e.event === 'summary').length;
    await new Promise((r) => setTimeout(r, 1300));
    const summaries = feed.events.filter((e) => e.event === 'summary').length - n0;
    // 200 ms apart: about 6 in 1.3 s (a loaded machine's timers run late, never early)
    expect(summaries).toBeGreaterThanOrEqual(3);
    expect(summaries).toBeLessThanOrEqual(Math.ceil((Date.now() - t0) / 200) + 1);
    expect(feed.comments).toBeGreaterThanOrEqual(2);
    const last = feed.events.filter((e) => e.event === 'summary').at(-1)!.data as { players: unknown[]; tick: number };
    expect(last.players).toHaveLength(1);
    expect(last.tick).toBeGreaterThan((first.data as { tick: number }).tick);
    expect(await counter(srv, 'tickwire_feed_events_sent_total')).toBeGreaterThanOrEqual(feed.events.length);

    // the room ends when its last player leaves: the feed says so and the stream ends
    a.close();
    await waitFor(() => feed.ended(), 8000, 'the end of the stream');
    expect(feed.events.at(-1)!.event).toBe('closed');
    await waitFor(() => srv!.stats.feedConnections === 0, 2000, 'no reader left');
  }, 30_000);

  it('limits readers per room and per address, and answers 404 for a room that is not here', async () => {
    srv = await startTestServer({ feedConnectionsPerRoom: 2, feedConnectionsPerAddress: 3, resumeGraceMs: 0 });
    const p1 = player(srv, arena, 'p1', 'one');
    const p2 = player(srv, arena, 'p2', 'two');
    await waitFor(() => p1.state === 'active' && p2.state === 'active', 5000, 'players join');
    const base = urlOf(srv);
    const r1 = await readFeed(`${base}/rooms/one/feed`);
    const r2 = await readFeed(`${base}/rooms/one/feed`);
    expect([r1.status, r2.status]).toEqual([200, 200]);
    const full = await readFeed(`${base}/rooms/one/feed`);
    expect(full.status).toBe(503);
    expect(JSON.parse(full.body)).toMatchObject({ error: 'room_limit' });
    const r3 = await readFeed(`${base}/rooms/two/feed`);
    expect(r3.status).toBe(200);
    const over = await readFeed(`${base}/rooms/two/feed`);
    expect(over.status).toBe(429);
    expect(JSON.parse(over.body)).toMatchObject({ error: 'address_limit' });
    const none = await readFeed(`${base}/rooms/nowhere/feed`);
    expect(none.status).toBe(404);
    expect(JSON.parse(none.body)).toMatchObject({ error: 'no_room' });
    expect(await counter(srv, 'tickwire_feed_refused_total', { reason: 'room_limit' })).toBe(1);
    expect(await counter(srv, 'tickwire_feed_refused_total', { reason: 'address_limit' })).toBe(1);
    expect(await counter(srv, 'tickwire_feed_refused_total', { reason: 'no_room' })).toBe(1);
    expect(await counter(srv, 'tickwire_feed_connections')).toBe(3);
    // a reader that leaves frees its place
    r1.close();
    await waitFor(() => srv!.stats.feedConnections === 2, 3000, 'the reader gone');
    const again = await readFeed(`${base}/rooms/one/feed`);
    expect(again.status).toBe(200);
  }, 30_000);

  it('drops a reader that stops reading, never buffering for it without bound; a reader that reads keeps its stream', async () => {
    // a game whose rooms tick without players and whose 'big' events are public: the test emits
    // 64 KiB events through the room's real event path (emit, the tick's flush, the feed)
    const game: AnyGame = { ...arena, tickWhenEmpty: true, feedEvents: ['big'] };
    srv = await startTestServer({ feedMaxBufferedBytes: 256 * 1024, resumeGraceMs: 0, roomEmptyGraceMs: 600_000, roomUnusedGraceMs: 600_000 }, { game });
    const p = player(srv, game, 'p', 'busy');
    await waitFor(() => p.state === 'active', 5000, 'player joins');
    p.close();
    await waitFor(() => srv!.rooms.get('busy')?.players.length === 0, 3000, 'the player gone');
    const room = srv.rooms.get('busy')!;
    // the slow reader: a raw socket that sends its request and never reads
    const port = srv.http!.port;
    const slow: Socket = connect(port, '127.0.0.1');
    closers.push(() => slow.destroy());
    await new Promise<void>((r) => slow.once('connect', () => r()));
    slow.write(`GET /rooms/busy/feed HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    slow.pause();
    let slowClosed = false;
    slow.once('close', () => (slowClosed = true));
    const fast = await readFeed(`${urlOf(srv)}/rooms/busy/feed`);
    await waitFor(() => srv!.stats.feedConnections === 2, 3000, 'both readers');
    const big = 'x'.repeat(64 * 1024);
    // at most 400 events (25 MiB), 4 a tick-ish, until the slow reader is dropped
    let sent = 0;
    while (sent < 400 && srv.stats.feedConnections === 2) {
      for (let i = 0; i < 4; i++) room.ctx.emit!('big', { n: sent++, big });
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(srv.stats.feedConnections, 'the slow reader was dropped').toBe(1);
    expect(srv.stats.feedEventsDropped).toBeGreaterThan(0);
    expect(await counter(srv, 'tickwire_feed_events_dropped_total')).toBeGreaterThan(0);
    // reading again, the slow socket finds what the kernel held, then the server's close
    slow.on('data', () => undefined);
    slow.on('error', () => undefined);
    slow.resume();
    await waitFor(() => slowClosed, 10_000, 'the slow socket closed by the server');
    // the reader that reads got every event, in order
    await waitFor(() => fast.events.filter((e) => e.event === 'game').length === sent, 10_000, 'the fast reader has every event');
    const ns = fast.events.filter((e) => e.event === 'game').map((e) => ((e.data as { data: { n: number } }).data.n));
    expect(ns).toEqual([...Array(sent).keys()]);
    expect(fast.ended()).toBe(false);
  }, 60_000);
});
