// Asking a matchmaker (POST /matchmake on any server of a fleet, or the one server) for a seat:
// where to connect, the room and a single-use seat token the hello carries. The browser client
// and the bots share it.

/** A granted seat (the POST /matchmake answer). */
export interface Seat {
  /** The owner's HTTP base URL: connect there. */
  readonly url: string;
  /** The owner's WebSocket URL. */
  readonly ws: string;
  readonly signalingPort: number;
  readonly room: string;
  /** Single-use token for hello.seat, valid for a few seconds. */
  readonly seat: string;
  /** Member id of the owner. */
  readonly owner: string;
}

/** What to ask the matchmaker for. */
export interface SeatRequest {
  readonly name: string;
  readonly game?: string;
  /** Join (or create) this room; omitted: any room of the game with space. */
  readonly room?: string;
  /** A room this request creates is left out of GET /rooms. */
  readonly private?: boolean;
  /** A seat to watch (say hello with `spectate` and the seat): only in a room that exists, the named one or else the most played listed room. */
  readonly spectate?: boolean;
}

/** A refusal from the matchmaker, with its reason (fleet_full, room_full, draining, unavailable, rate_limited, ...). */
export class MatchmakeError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    /** HTTP status, 0 when no server answered. */
    readonly status: number,
  ) {
    super(message);
    this.name = 'MatchmakeError';
  }

  /** True when trying again later may succeed (busy, full, draining, unreachable). */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status === 503;
  }
}

/** A fetch the caller provides (the global one by default). */
export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body: string; signal?: AbortSignal }) => Promise<{ status: number; json(): Promise<unknown> }>;

/** Asks `matchmakerUrl` (an HTTP base URL) for a seat; throws MatchmakeError when refused or unreachable. */
export async function requestSeat(matchmakerUrl: string, req: SeatRequest, o: { fetch?: FetchLike; timeoutMs?: number } = {}): Promise<Seat> {
  const f: FetchLike = o.fetch ?? (globalThis.fetch as unknown as FetchLike);
  const url = `${matchmakerUrl.replace(/\/$/, '')}/matchmake`;
  const body: Record<string, unknown> = { name: req.name };
  if (req.game !== undefined) body.game = req.game;
  if (req.room !== undefined) body.room = req.room;
  if (req.private) body.private = true;
  if (req.spectate) body.spectate = true;
  let res: { status: number; json(): Promise<unknown> };
  try {
    res = await f(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(o.timeoutMs ?? 5000) });
  } catch (err) {
    throw new MatchmakeError('unreachable', `no matchmaker answers at ${matchmakerUrl} (${(err as Error).message})`, 0);
  }
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    json = undefined;
  }
  const o2 = (json ?? {}) as Record<string, unknown>;
  if (res.status !== 200) {
    throw new MatchmakeError(typeof o2.error === 'string' ? o2.error : 'refused', typeof o2.message === 'string' ? o2.message : `matchmaking answered HTTP ${res.status}`, res.status);
  }
  const str = (k: string): string => (typeof o2[k] === 'string' ? (o2[k] as string) : '');
  const seat: Seat = { url: str('url'), ws: str('ws'), signalingPort: typeof o2.signalingPort === 'number' ? o2.signalingPort : 0, room: str('room'), seat: str('seat'), owner: str('owner') };
  if (!seat.url || !seat.seat || !seat.room) throw new MatchmakeError('bad_answer', 'the matchmaker answered without a seat', res.status);
  return seat;
}
