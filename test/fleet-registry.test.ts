// The fleet registry on a real redis-server (started per file on a free port, persistence off):
// leases and fencing, atomic matchmaking under 1,000 concurrent requests (no room over capacity, no
// name with two owners, every request a seat or a clear refusal), single-use seats, listings that
// forget a dead member within its lease, and a Redis outage.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MatchResult, RoomReport } from '../server/fleet/fleet.ts';
import { RedisFleet, type RedisFleetOptions } from '../server/fleet/redis.ts';
import { startRedis, type TestRedis } from './helpers/redis.ts';
import { waitFor } from './helpers/server.ts';

let redis: TestRedis;
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const fleets: RedisFleet[] = [];

beforeAll(async () => {
  redis = await startRedis();
}, 20_000);

afterAll(async () => {
  for (const f of fleets) await f.stop();
  await redis?.dispose();
});

/** A member whose hosted rooms are whatever the test puts in `hosted`. */
function member(id: string, o: Partial<RedisFleetOptions> & { prefix: string }, hosted: RoomReport[] = [], conflicts: string[][] = []): RedisFleet {
  const f = new RedisFleet({
    url: redis.url, leaseMs: 1500, seatTtlMs: 3000, memberId: id, publicUrl: `http://${id}`, wsUrl: `ws://${id}/ws`, signalingPort: 1,
    capacity: 100, maxRooms: 20, roomCapacity: 16, game: 'arena-v1', log: quiet, report: () => hosted, onConflict: (r) => void conflicts.push(r), ...o,
  });
  fleets.push(f);
  return f;
}

describe('fleet registry on Redis', { timeout: 60_000 }, () => {
  it('grants 1,000 concurrent matchmaking requests atomically: no room over capacity, one owner per room, a seat or a clear refusal each', async () => {
    const prefix = 'mm:';
    // seats that outlive the burst (it took 2.1 s at load 10): the listing below counts every seat granted
    const ms = ['a', 'b', 'c'].map((id, i) => member(id, { prefix, capacity: 160 + i * 40, seatTtlMs: 30_000 }));
    for (const m of ms) await m.start();
    const t0 = performance.now();
    const lat: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const s = performance.now();
        const r = await ms[i % 3].matchmake({ name: `p${i}`, addressKey: `10.0.0.${i % 250}` });
        lat.push(performance.now() - s);
        return r;
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    lat.sort((x, y) => x - y);
    console.log(`1000 concurrent matchmake requests: ${Math.round(1000 / secs)}/s, p50 ${lat[500].toFixed(1)} ms, p99 ${lat[990].toFixed(1)} ms`);
    const granted = results.filter((r): r is MatchResult => r.ok);
    const refused = results.filter((r) => !r.ok);
    // capacity 160 + 200 + 240 = 600 players across the fleet
    expect(granted).toHaveLength(600);
    expect(refused.every((r) => !r.ok && r.reason === 'fleet_full')).toBe(true);
    expect(new Set(granted.map((g) => g.seat)).size).toBe(600);
    const byRoom = new Map<string, Set<string>>();
    for (const g of granted) {
      const owners = byRoom.get(g.room) ?? new Set<string>();
      owners.add(g.owner);
      byRoom.set(g.room, owners);
    }
    expect([...byRoom.values()].every((o) => o.size === 1)).toBe(true);
    const listing = await ms[0].rooms();
    expect(listing.every((r) => r.players + r.seats <= r.capacity)).toBe(true);
    expect(listing.reduce((n, r) => n + r.seats, 0)).toBe(600);
    // filled before opened: every room of 16 full but at most one per member
    expect(listing.filter((r) => r.seats < 16).length).toBeLessThanOrEqual(3);
    const perOwner = (id: string): number => granted.filter((g) => g.owner === id).length;
    expect([perOwner('a'), perOwner('b'), perOwner('c')]).toEqual([160, 200, 240]);
  });

  it('a seat is taken once, before it expires, only by its room\'s owner', async () => {
    const prefix = 'seat:';
    const a = member('sa', { prefix, seatTtlMs: 800 });
    const b = member('sb', { prefix, capacity: 1 });
    await a.start();
    await b.start();
    const g = (await a.matchmake({ name: 'x', addressKey: 'k', room: 'duel' })) as MatchResult;
    expect(g.ok).toBe(true);
    expect(g.owner).toBe('sa');
    expect((await b.claim(g.seat, 'duel')).outcome).toBe('not_owner');
    expect((await a.claim(g.seat, 'other')).outcome).toBe('wrong_room');
    expect(await a.seatRoom(g.seat)).toBe('duel');
    expect(await a.claim(g.seat, 'duel')).toEqual({ outcome: 'ok', listed: true, matchmade: false, ownerKey: 'k' });
    expect((await a.claim(g.seat, 'duel')).outcome).toBe('unknown_seat');
    const late = (await a.matchmake({ name: 'y', addressKey: 'k', room: 'duel' })) as MatchResult;
    await new Promise((r) => setTimeout(r, 1000));
    expect((await a.claim(late.seat, 'duel')).outcome).toBe('unknown_seat');
  });

  it('a spectator\'s seat is refused in a room its owner reported at maxSpectatorsPerRoom, by name (room_full) and when picking the room', async () => {
    const prefix = 'watch:';
    const hosted: RoomReport[] = [
      { name: 'big', game: 'arena-v1', players: 9, capacity: 16, listed: true, matchmade: true, ownerKey: '', spectators: 2, maxSpectators: 2 },
      { name: 'small', game: 'arena-v1', players: 3, capacity: 16, listed: true, matchmade: true, ownerKey: '', spectators: 1, maxSpectators: 2 },
    ];
    const a = member('wa', { prefix }, hosted);
    const b = member('wb', { prefix });
    await a.start();
    await b.start();
    await a.heartbeat();
    // from another member: the owner's report in Redis is all it knows
    const full = await b.matchmake({ name: 'v', addressKey: 'k', room: 'big', spectate: true });
    expect(full).toMatchObject({ ok: false, reason: 'room_full' });
    expect(full.ok ? '' : full.message).toContain('spectator');
    // no name: the most played room with a spectator place left
    const picked = (await b.matchmake({ name: 'v', addressKey: 'k', spectate: true })) as MatchResult;
    expect(picked).toMatchObject({ ok: true, room: 'small', owner: 'wa' });
    // a spectator left: the next heartbeat opens the room to spectators again
    hosted[0] = { ...hosted[0], spectators: 1 };
    await a.heartbeat();
    expect(await b.matchmake({ name: 'v', addressKey: 'k', room: 'big', spectate: true })).toMatchObject({ ok: true, room: 'big' });
    // every room at its limit: nothing to watch
    hosted[0] = { ...hosted[0], spectators: 2 };
    hosted[1] = { ...hosted[1], spectators: 2 };
    await a.heartbeat();
    expect(await b.matchmake({ name: 'v', addressKey: 'k', spectate: true })).toMatchObject({ ok: false, reason: 'no_room' });
    // players' seats are not affected
    expect(await b.matchmake({ name: 'p', addressKey: 'k', room: 'big' })).toMatchObject({ ok: true, room: 'big' });
  });

  it('a member that stops renewing leaves every listing within its lease plus a second; a room never vanishes on one missed heartbeat', async () => {
    const prefix = 'dead:';
    const hosted: RoomReport[] = [{ name: 'r1', game: 'arena-v1', players: 3, capacity: 16, listed: true, matchmade: true, ownerKey: '' }];
    const a = member('da', { prefix }, hosted);
    const b = member('db', { prefix });
    await a.start();
    await b.start();
    await a.heartbeat();
    expect((await b.rooms()).map((r) => r.name)).toEqual(['r1']);
    // one heartbeat late (the interval is a third of the lease): still listed
    await new Promise((r) => setTimeout(r, 700));
    expect((await b.rooms()).map((r) => r.name)).toEqual(['r1']);
    // a dies without a word (as with SIGKILL): no more heartbeats
    clearInterval((a as unknown as { timer: NodeJS.Timeout }).timer);
    (a as unknown as { st: string }).st = 'stopped';
    const t0 = Date.now();
    while ((await b.rooms()).length > 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    const gone = Date.now() - t0;
    expect((await b.rooms()).length).toBe(0);
    expect(gone).toBeLessThan(1500 + 1000);
    expect((await b.members()).map((m) => m.id)).toEqual(['db']);
  });

  it('fencing: a member whose lease lapsed grants nothing, and a name taken meanwhile is reported back to it as a conflict', async () => {
    const prefix = 'fence:';
    const conflicts: string[][] = [];
    const hosted: RoomReport[] = [{ name: 'arena', game: 'arena-v1', players: 1, capacity: 16, listed: true, matchmade: true, ownerKey: '' }];
    const a = member('fa', { prefix }, hosted, conflicts);
    const b = member('fb', { prefix });
    await a.start();
    await b.start();
    const seat = (await b.matchmake({ name: 'p', addressKey: 'k', room: 'arena' })) as MatchResult;
    expect(seat.owner).toBe('fa');
    // a freezes (no heartbeats) past its lease
    clearInterval((a as unknown as { timer: NodeJS.Timeout }).timer);
    await new Promise((r) => setTimeout(r, 2200));
    expect(a.state()).toBe('lost');
    expect((await a.claim(seat.seat, 'arena')).outcome).toBe('fenced');
    // meanwhile the name goes to b
    const again = (await b.matchmake({ name: 'q', addressKey: 'k', room: 'arena' })) as MatchResult;
    expect(again.owner).toBe('fb');
    // a comes back: its old lease is gone, it takes a new one and learns its room is b's now
    await a.heartbeat();
    await a.heartbeat();
    expect(conflicts.flat()).toContain('arena');
    const owners = (await b.rooms()).filter((r) => r.name === 'arena').map((r) => r.owner);
    expect(owners).toEqual(['fb']);
  });

  it('a Redis outage: matchmaking refuses clearly while it lasts; the member registers again within seconds of its return', async () => {
    const prefix = 'out:';
    const hosted: RoomReport[] = [{ name: 'keep', game: 'arena-v1', players: 2, capacity: 16, listed: true, matchmade: true, ownerKey: '' }];
    const a = member('oa', { prefix }, hosted);
    await a.start();
    await a.heartbeat();
    await redis.stop();
    const r = await a.matchmake({ name: 'p', addressKey: 'k' });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toBe('unavailable');
    await waitFor(() => a.state() === 'unavailable' || a.state() === 'lost', 4000, 'outage noticed');
    await redis.start();
    const t0 = Date.now();
    await waitFor(() => a.state() === 'serving', 8000, 'serving again');
    const rooms = await a.rooms();
    expect(rooms.map((x) => x.name)).toEqual(['keep']);
    console.log(`re-registered ${Date.now() - t0} ms after Redis came back`);
    expect((await a.matchmake({ name: 'p', addressKey: 'k' })).ok).toBe(true);
  });
});
