// The read-only feed of a room for dashboards and tools that are not game clients: GET
// /rooms/:name/feed answers Server-Sent Events: a `summary` at once and every feedSummaryMs (tick,
// players with names and scores, spectators), `joined` and `left` as players come and go, `game`
// for the game events the game marks public (GameDefinition.feedEvents), a heartbeat comment every
// feedHeartbeatMs, and `closed` when the room ends. Readers are limited per room and per address;
// one that leaves more than feedMaxBufferedBytes unread is dropped, never buffered for without
// bound. Each event is serialised once and written to every reader of its room.
import type { Logger } from 'pino';
import { ROOM_NAME_PATTERN } from '../shared/protocol/control.ts';
import type { ServerConfig } from './config.ts';
import { addressKey } from './limits.ts';
import type { ServerStats } from './metrics.ts';
import type { RouteReply, StreamRequest, StreamResponse, StreamRoute, StreamStart } from './net/uws.ts';
import type { Player } from './player.ts';
import type { Room, RoomManager, RoomObserver } from './rooms.ts';

/** What the feed reads. */
export interface FeedSources {
  readonly config: ServerConfig;
  readonly rooms: RoomManager;
  readonly stats: ServerStats;
  readonly log?: Logger;
}

/** One player of a `summary` event. */
export interface FeedPlayer {
  readonly sessionId: number;
  readonly name: string;
  readonly eid: number;
  /** The game's score field (client.scoreboard) for this player's entity; absent when the game has none. */
  readonly score?: number;
}

/** The `summary` event's data. */
export interface FeedSummary {
  readonly room: string;
  readonly game: string;
  readonly tick: number;
  readonly capacity: number;
  readonly players: FeedPlayer[];
  readonly spectators: number;
}

interface Reader {
  readonly res: StreamResponse;
  readonly room: Room;
  readonly key: string;
}

/** The feeds of every room of one server process. */
export class RoomFeeds implements RoomObserver {
  private readonly byRoom = new Map<Room, Reader[]>();
  private readonly perAddress = new Map<string, number>();
  private readonly publicEvents: ReadonlySet<string>;
  private readonly score: { comp: string; field: string } | undefined;
  private summaryTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;

  constructor(private readonly src: FeedSources) {
    const game = src.rooms.game;
    this.publicEvents = new Set(game.feedEvents ?? []);
    const field = game.client?.scoreboard?.field;
    const [comp, f] = typeof field === 'string' ? field.split('.') : [];
    this.score = comp && f ? { comp, field: f } : undefined;
    src.rooms.observe(this);
  }

  /** The feed's HTTP route. */
  routes(): StreamRoute[] {
    return [{ path: '/rooms/:name/feed', open: (req) => this.open(req) }];
  }

  /** Readers connected now. */
  get size(): number {
    return this.src.stats.feedConnections;
  }

  /** Takes or refuses a reader of the room named in the path. */
  open(req: StreamRequest): RouteReply | StreamStart {
    const { config, rooms, stats } = this.src;
    if (config.feedConnectionsPerRoom === 0) return { status: 404, json: { error: 'off', message: 'the read-only feed is off on this server (feedConnectionsPerRoom 0)' } };
    const name = req.params[0] ?? '';
    const room = ROOM_NAME_PATTERN.test(name) ? rooms.get(name) : undefined;
    if (!room) {
      stats.feedRefused.no_room++;
      return { status: 404, json: { error: 'no_room', message: 'no room of that name on this server (GET /rooms lists each room with the URL of the server that owns it)' } };
    }
    const readers = this.byRoom.get(room) ?? [];
    if (readers.length >= config.feedConnectionsPerRoom) {
      stats.feedRefused.room_limit++;
      return { status: 503, json: { error: 'room_limit', message: `this room's feed has its ${config.feedConnectionsPerRoom} readers; try again later` }, headers: { 'retry-after': '5' } };
    }
    const key = addressKey(req.remoteAddress);
    const held = this.perAddress.get(key) ?? 0;
    if (held >= config.feedConnectionsPerAddress) {
      stats.feedRefused.address_limit++;
      return { status: 429, json: { error: 'address_limit', message: `this address holds ${held} feed readers already (feedConnectionsPerAddress)` }, headers: { 'retry-after': '5' } };
    }
    return {
      contentType: 'text/event-stream; charset=utf-8',
      start: (res) => {
        const r: Reader = { res, room, key };
        readers.push(r);
        this.byRoom.set(room, readers);
        this.perAddress.set(key, held + 1);
        stats.feedConnections++;
        this.startTimers();
        res.write(`retry: 5000\n\n`);
        this.send(r, frame('summary', this.summary(room)));
        return () => this.remove(r);
      },
    };
  }

  /** The `summary` of a room now. */
  summary(room: Room): FeedSummary {
    const players: FeedPlayer[] = [];
    const store = this.score ? (room.ctx.c as Record<string, Record<string, ArrayLike<number>> | undefined>)[this.score.comp]?.[this.score.field] : undefined;
    for (const p of room.players) {
      players.push(store && p.eid >= 0 ? { sessionId: p.id, name: p.name, eid: p.eid, score: store[p.eid] } : { sessionId: p.id, name: p.name, eid: p.eid });
    }
    return { room: room.name, game: room.game.name, tick: room.ctx.tick, capacity: room.capacity, players, spectators: room.spectators.length };
  }

  joined(room: Room, p: Player): void {
    if (this.byRoom.has(room)) this.broadcast(room, frame('joined', { sessionId: p.id, name: p.name, eid: p.eid, tick: room.ctx.tick }));
  }

  left(room: Room, p: Player): void {
    if (this.byRoom.has(room)) this.broadcast(room, frame('left', { sessionId: p.id, name: p.name, eid: p.eid, tick: room.ctx.tick }));
  }

  event(room: Room, name: string, data: unknown): void {
    if (!this.publicEvents.has(name) || !this.byRoom.has(room)) return;
    const text = frame('game', { name, data, tick: room.ctx.tick });
    if (text) this.broadcast(room, text);
  }

  /** Every reader's summary (the summary timer); readers of a room that has ended get `closed` and the end of the stream. */
  summaries(): void {
    for (const [room, readers] of [...this.byRoom]) {
      if (this.src.rooms.get(room.name) !== room) {
        const text = frame('closed', { room: room.name, reason: 'the room ended' });
        for (const r of [...readers]) {
          this.send(r, text);
          this.end(r);
        }
        continue;
      }
      this.broadcast(room, frame('summary', this.summary(room)));
    }
  }

  /** A comment line to every reader, so proxies and clients see the stream is alive. */
  heartbeat(): void {
    for (const readers of [...this.byRoom.values()]) for (const r of [...readers]) if (!r.res.write(': heartbeat\n\n')) this.remove(r);
  }

  /** Ends every stream (the server stops). */
  stop(): void {
    for (const readers of [...this.byRoom.values()]) for (const r of [...readers]) this.end(r);
    this.stopTimers();
  }

  private broadcast(room: Room, text: string | undefined): void {
    const readers = this.byRoom.get(room);
    if (!readers || text === undefined) return;
    for (const r of [...readers]) this.send(r, text);
  }

  /** Writes one event to one reader, or drops the reader when it has left too much unread. */
  private send(r: Reader, text: string | undefined): void {
    if (text === undefined) return;
    const { stats, config, log } = this.src;
    if (r.res.buffered() > config.feedMaxBufferedBytes) {
      stats.feedEventsDropped++;
      log?.info({ room: r.room.name, address: r.key, buffered: r.res.buffered() }, 'feed reader dropped: it left too much unread');
      this.remove(r);
      r.res.close();
      return;
    }
    if (r.res.write(text)) stats.feedEventsSent++;
    else this.remove(r);
  }

  private end(r: Reader): void {
    this.remove(r);
    r.res.end();
  }

  private remove(r: Reader): void {
    const readers = this.byRoom.get(r.room);
    const i = readers ? readers.indexOf(r) : -1;
    if (!readers || i < 0) return;
    readers.splice(i, 1);
    if (readers.length === 0) this.byRoom.delete(r.room);
    const n = (this.perAddress.get(r.key) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(r.key);
    else this.perAddress.set(r.key, n);
    this.src.stats.feedConnections--;
    if (this.byRoom.size === 0) this.stopTimers();
  }

  private startTimers(): void {
    if (this.summaryTimer) return;
    this.summaryTimer = setInterval(() => this.summaries(), this.src.config.feedSummaryMs);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.src.config.feedHeartbeatMs);
    this.summaryTimer.unref();
    this.heartbeatTimer.unref();
  }

  private stopTimers(): void {
    clearInterval(this.summaryTimer);
    clearInterval(this.heartbeatTimer);
    this.summaryTimer = undefined;
    this.heartbeatTimer = undefined;
  }
}

/** One Server-Sent Event; undefined when `data` is not JSON (a game event with a cycle or a BigInt). */
function frame(event: string, data: unknown): string | undefined {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch {
    return undefined;
  }
  return json === undefined ? undefined : `event: ${event}\ndata: ${json}\n\n`;
}
