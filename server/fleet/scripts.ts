// The fleet's Redis scripts: every step that reads and then writes shared state runs as one Lua
// script, so it is atomic (Redis runs one script at a time). docs/fleet.md describes each key, who
// writes it, its TTL and what every fault does to it. Time is Redis's own (TIME), so members'
// clocks never matter.

/** Helpers every script starts with. ARGV[1] is the key prefix. */
const PRELUDE = `
local P = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local NOW = now_ms()
-- Seats of a room still valid; expired ones are dropped (and counted in EXPIRED).
local EXPIRED = 0
local function seats(name)
  local k = P .. 's:' .. name
  EXPIRED = EXPIRED + redis.call('ZREMRANGEBYSCORE', k, '-inf', NOW)
  return redis.call('ZCARD', k)
end
local function players(name)
  return tonumber(redis.call('HGET', P .. 'r:' .. name, 'players') or '0')
end
-- A member that holds its lease and serves: its fields, or nil.
local function serving(id)
  local m = redis.call('HMGET', P .. 'm:' .. id, 'state', 'token', 'url', 'ws', 'sig', 'cap', 'maxRooms')
  if not m[2] or m[1] ~= 'serving' then return nil end
  return m
end
-- Lists forget members and rooms whose lease ran out (their keys expire by themselves).
local function cleanup()
  redis.call('ZREMRANGEBYSCORE', P .. 'members', '-inf', NOW)
  redis.call('ZREMRANGEBYSCORE', P .. 'rooms', '-inf', NOW)
end
`;

/**
 * acquire(prefix, id, url, ws, sig, cap, maxRooms, leaseMs) -> token. Takes a new lease for a
 * member: a fresh fencing token from the global counter, the member record, its place in the
 * member index.
 */
export const ACQUIRE = `${PRELUDE}
local id, lease = ARGV[2], tonumber(ARGV[8])
local key = P .. 'm:' .. id
local token = tostring(redis.call('INCR', P .. 'fence'))
redis.call('HSET', key, 'id', id, 'url', ARGV[3], 'ws', ARGV[4], 'sig', ARGV[5], 'cap', ARGV[6], 'maxRooms', ARGV[7],
  'players', 0, 'rooms', 0, 'state', 'serving', 'token', token, 'lease', lease, 'renewed', NOW, 'acquired', NOW)
redis.call('PEXPIRE', key, lease)
redis.call('ZADD', P .. 'members', NOW + lease, id)
return token
`;

/**
 * renew(prefix, id, token, leaseMs, state, reportJson, unclaimedMs) -> {'expired:N', 'ok', conflict names...} | {'lost'}.
 * Renews the member's lease and the lease of every room it owns, applies its report of the rooms
 * it hosts ([{n: name, g: game, p: players, c: capacity, l: listed 0|1, m: matchmade 0|1, k:
 * owner address key, x: listing details, v: spectators, vc: most spectators, -1 unknown}]): players and spectators counted, rooms it hosts that Redis has forgotten registered again
 * under this lease, and rooms now owned by another member returned as conflicts (the member must
 * end them), and rooms assigned here that nobody joined for unclaimedMs and that it does not host
 * released. 'lost' when the token is not the lease's (it expired, or another incarnation holds it).
 */
export const RENEW = `${PRELUDE}
local id, token, lease, state = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local key = P .. 'm:' .. id
if redis.call('HGET', key, 'token') ~= token then return {'lost'} end
cleanup()
local set = key .. ':rooms'
local out = {'ok'}
local total = 0
local report = cjson.decode(ARGV[6])
local hosted = {}
for _, r in ipairs(report) do
  hosted[r.n] = true
  local rk = P .. 'r:' .. r.n
  local owner = redis.call('HGET', rk, 'owner')
  if not owner then
    redis.call('HSET', rk, 'name', r.n, 'game', r.g, 'owner', id, 'token', token, 'players', r.p, 'cap', r.c, 'listed', r.l, 'matchmade', r.m, 'key', r.k, 'created', NOW)
    redis.call('SADD', set, r.n)
    owner = id
  end
  if owner == id and redis.call('HGET', rk, 'token') ~= token then redis.call('HSET', rk, 'token', token) end
  if owner ~= id then
    table.insert(out, r.n)
  else
    redis.call('HSET', rk, 'players', r.p, 'cap', r.c, 'listed', r.l, 'info', r.x or '', 'spectators', r.v or 0, 'vcap', r.vc or -1)
    total = total + r.p
  end
end
local unclaimed = tonumber(ARGV[7])
for _, name in ipairs(redis.call('SMEMBERS', set)) do
  local rk = P .. 'r:' .. name
  local mine = redis.call('HGET', rk, 'owner') == id
  -- A room the matchmaker assigned here that nobody ever joined, and that this member does not host.
  if mine and not hosted[name] and players(name) + seats(name) == 0 and NOW - tonumber(redis.call('HGET', rk, 'created') or NOW) > unclaimed then
    local game = redis.call('HGET', rk, 'game')
    redis.call('DEL', rk, P .. 's:' .. name)
    redis.call('ZREM', P .. 'rooms', name)
    if game then redis.call('ZREM', P .. 'open:' .. game, name) end
    redis.call('SREM', set, name)
    mine = false
  elseif mine then
    redis.call('PEXPIRE', rk, lease)
    redis.call('ZADD', P .. 'rooms', NOW + lease, name)
    local game = redis.call('HGET', rk, 'game')
    local occ = players(name) + seats(name)
    if state == 'serving' and occ < tonumber(redis.call('HGET', rk, 'cap')) and redis.call('HGET', rk, 'matchmade') == '1' then
      redis.call('ZADD', P .. 'open:' .. game, occ, name)
    else
      redis.call('ZREM', P .. 'open:' .. game, name)
    end
  elseif redis.call('HGET', rk, 'owner') ~= id then
    redis.call('SREM', set, name)
  end
end
redis.call('PEXPIRE', set, lease)
redis.call('HSET', key, 'state', state, 'players', total, 'rooms', redis.call('SCARD', set), 'renewed', NOW, 'lease', lease)
redis.call('PEXPIRE', key, lease)
redis.call('ZADD', P .. 'members', NOW + lease, id)
table.insert(out, 1, 'expired:' .. EXPIRED)
return out
`;

/**
 * matchmake(prefix, game, room, seat, seatTtlMs, roomCap, leaseMs, listed, matchmade, key) ->
 * {'ok', room, owner, url, ws, sig, expired} | {refusal}. Grants one seat atomically: in the named
 * room (created on the member with the most free player capacity if it does not exist), or else
 * in the fullest matchmade room of the game with space (rooms made private to an address only for
 * that address), or else in a new room on that member. No room and no member is ever over
 * capacity: occupancy is players plus unexpired seats, checked in the same step that adds a seat.
 */
export const MATCHMAKE = `${PRELUDE}
local game, name, seat, ttl, cap, lease = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local listed, matchmade, key = ARGV[8], ARGV[9], ARGV[10]
cleanup()
local function grant(room, owner, m)
  local sk = P .. 's:' .. room
  redis.call('ZADD', sk, NOW + ttl, seat)
  redis.call('PEXPIRE', sk, ttl + lease)
  redis.call('SET', P .. 'seat:' .. seat, room, 'PX', ttl)
  local rk = P .. 'r:' .. room
  local occ = players(room) + seats(room)
  if occ < tonumber(redis.call('HGET', rk, 'cap')) and redis.call('HGET', rk, 'matchmade') == '1' then
    redis.call('ZADD', P .. 'open:' .. game, occ, room)
  else
    redis.call('ZREM', P .. 'open:' .. game, room)
  end
  return {'ok', room, owner, m[3], m[4], m[5], tostring(EXPIRED)}
end
-- Players and seats in every room a member owns.
local function used(id)
  local n = 0
  for _, r in ipairs(redis.call('SMEMBERS', P .. 'm:' .. id .. ':rooms')) do
    if redis.call('EXISTS', P .. 'r:' .. r) == 1 then n = n + players(r) + seats(r) end
  end
  return n
end
-- The serving member with the most free player capacity (its cap less the players and seats of
-- every room it owns) that may open another room.
local function best()
  local bestId, bestM, bestFree = nil, nil, 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'members', NOW, '+inf')) do
    local m = serving(id)
    if m and redis.call('SCARD', P .. 'm:' .. id .. ':rooms') < tonumber(m[7]) then
      local free = tonumber(m[6]) - used(id)
      if free >= 1 and (free > bestFree or (free == bestFree and bestId and id < bestId)) then
        bestId, bestM, bestFree = id, m, free
      end
    end
  end
  return bestId, bestM
end
local function create(room, owner, m)
  local rk = P .. 'r:' .. room
  redis.call('HSET', rk, 'name', room, 'game', game, 'owner', owner, 'token', m[2], 'players', 0, 'cap', cap,
    'listed', listed, 'matchmade', matchmade, 'key', key, 'created', NOW)
  -- a new room lives no longer than its owner's lease: the owner's next renewal extends both
  local ends = math.min(NOW + lease, tonumber(redis.call('ZSCORE', P .. 'members', owner) or (NOW + lease)))
  redis.call('PEXPIRE', rk, math.max(1, ends - NOW))
  redis.call('SADD', P .. 'm:' .. owner .. ':rooms', room)
  redis.call('ZADD', P .. 'rooms', ends, room)
  return grant(room, owner, m)
end
if name ~= '' then
  local rk = P .. 'r:' .. name
  local owner = redis.call('HGET', rk, 'owner')
  if owner then
    if redis.call('HGET', rk, 'game') ~= game then return {'wrong_game'} end
    local m = serving(owner)
    if not m or redis.call('HGET', rk, 'token') ~= m[2] then return {'owner_unavailable'} end
    if players(name) + seats(name) >= tonumber(redis.call('HGET', rk, 'cap')) or used(owner) >= tonumber(m[6]) then return {'room_full'} end
    return grant(name, owner, m)
  end
  local id, m = best()
  if not id then return {'fleet_full'} end
  return create(name, id, m)
end
local open = P .. 'open:' .. game
for _, room in ipairs(redis.call('ZREVRANGE', open, 0, -1)) do
  local rk = P .. 'r:' .. room
  local owner = redis.call('HGET', rk, 'owner')
  local m = owner and serving(owner)
  if not m or redis.call('HGET', rk, 'token') ~= m[2] then
    redis.call('ZREM', open, room)
  elseif (redis.call('HGET', rk, 'matchmade') == '1' or redis.call('HGET', rk, 'key') == key)
      and players(room) + seats(room) < tonumber(redis.call('HGET', rk, 'cap')) and used(owner) < tonumber(m[6]) then
    return grant(room, owner, m)
  end
end
local id, m = best()
if not id then return {'fleet_full'} end
local room = game .. '-' .. redis.call('INCR', P .. 'roomseq')
while redis.call('EXISTS', P .. 'r:' .. room) == 1 do room = game .. '-' .. redis.call('INCR', P .. 'roomseq') end
return create(room, id, m)
`;

/**
 * spectate(prefix, game, room, seat, seatTtlMs) -> {'ok', room, owner, url, ws, sig, '0'} | {refusal}.
 * Grants a spectator's seat (key `vseat:<seat>`, never counted toward occupancy) in a room that
 * exists: the named one, or else the listed room of the game with the most players whose owner
 * serves under the lease the room is registered with. Never creates a room, and never one whose
 * owner last reported it at its spectator limit ('spectators_full' for a named one).
 */
export const SPECTATE = `${PRELUDE}
local game, name, seat, ttl = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
cleanup()
local function usable(room)
  local r = redis.call('HMGET', P .. 'r:' .. room, 'game', 'owner', 'token', 'listed', 'players', 'spectators', 'vcap')
  if not r[2] then return nil end
  local m = serving(r[2])
  if not m or m[2] ~= r[3] then return nil, r end
  return m, r
end
local function watched(r)
  local cap = tonumber(r[7] or '-1')
  return cap >= 0 and tonumber(r[6] or '0') >= cap
end
local pick, pickM = nil, nil
if name ~= '' then
  local m, r = usable(name)
  if not r then return {'no_room'} end
  if r[1] ~= game then return {'wrong_game'} end
  if not m then return {'owner_unavailable'} end
  if watched(r) then return {'spectators_full'} end
  pick, pickM = name, m
else
  local best = 0
  for _, room in ipairs(redis.call('ZRANGEBYSCORE', P .. 'rooms', NOW, '+inf')) do
    local m, r = usable(room)
    local n = r and tonumber(r[5] or '0') or 0
    if m and r[1] == game and r[4] == '1' and n > 0 and not watched(r) and (n > best or (n == best and room < pick)) then
      pick, pickM, best = room, m, n
    end
  end
  if not pick then return {'no_room'} end
end
redis.call('SET', P .. 'vseat:' .. seat, pick, 'PX', ttl)
return {'ok', pick, redis.call('HGET', P .. 'r:' .. pick, 'owner'), pickM[3], pickM[4], pickM[5], '0'}
`;

/**
 * claim(prefix, seat, room, id, token, spectate) -> {'ok', listed, matchmade, key} | refusal. The owner takes a seat when its holder
 * says hello: only once, only before it expires, only for the room it was granted in, and only
 * while the owner holds the lease the room is registered under (fencing). A spectator's seat
 * (spectate '1', key `vseat:`) adds no player to the room's count.
 */
export const CLAIM = `${PRELUDE}
local seat, room, id, token, spectate = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6] == '1'
local sk = P .. (spectate and 'vseat:' or 'seat:') .. seat
local granted = redis.call('GET', sk)
if not granted then return 'unknown_seat' end
if granted ~= room then return 'wrong_room' end
local rk = P .. 'r:' .. room
if redis.call('HGET', rk, 'owner') ~= id or redis.call('HGET', rk, 'token') ~= token then return 'not_owner' end
if redis.call('HGET', P .. 'm:' .. id, 'token') ~= token then return 'fenced' end
redis.call('DEL', sk)
if not spectate then
  redis.call('ZREM', P .. 's:' .. room, seat)
  redis.call('HINCRBY', rk, 'players', 1)
end
local r = redis.call('HMGET', rk, 'listed', 'matchmade', 'key')
return {'ok', r[1] or '1', r[2] or '1', r[3] or ''}
`;

/**
 * transfer(prefix, room, from, fromToken, to, toToken, leaseMs) -> 'ok' | refusal. Moves a room's
 * record from its owner to another member in one step (live handoff, server/fleet/handoff.ts):
 * only while `from` owns it under `fromToken` and still holds that lease, and only to a member
 * that serves under `toToken`. The room keeps its players, seats and listing; its lease ends no
 * later than the new owner's.
 */
export const TRANSFER = `${PRELUDE}
local room, from, fromToken, to, toToken, lease = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local rk = P .. 'r:' .. room
local owner = redis.call('HGET', rk, 'owner')
if not owner then return 'unknown_room' end
if owner ~= from or redis.call('HGET', rk, 'token') ~= fromToken then return 'not_owner' end
if redis.call('HGET', P .. 'm:' .. from, 'token') ~= fromToken then return 'fenced' end
local m = serving(to)
if not m or m[2] ~= toToken then return 'target_unavailable' end
redis.call('HSET', rk, 'owner', to, 'token', toToken)
redis.call('SREM', P .. 'm:' .. from .. ':rooms', room)
redis.call('SADD', P .. 'm:' .. to .. ':rooms', room)
local ends = math.min(NOW + lease, tonumber(redis.call('ZSCORE', P .. 'members', to) or (NOW + lease)))
redis.call('PEXPIRE', rk, math.max(1, ends - NOW))
redis.call('ZADD', P .. 'rooms', ends, room)
local game = redis.call('HGET', rk, 'game')
if game then redis.call('ZREM', P .. 'open:' .. game, room) end
return 'ok'
`;

/** release(prefix, room, id) -> 1 | 0. Removes a room its owner disposed. */
export const RELEASE = `${PRELUDE}
local room, id = ARGV[2], ARGV[3]
local rk = P .. 'r:' .. room
if redis.call('HGET', rk, 'owner') ~= id then return 0 end
local game = redis.call('HGET', rk, 'game')
redis.call('DEL', rk, P .. 's:' .. room)
redis.call('ZREM', P .. 'rooms', room)
if game then redis.call('ZREM', P .. 'open:' .. game, room) end
redis.call('SREM', P .. 'm:' .. id .. ':rooms', room)
return 1
`;

/** leave(prefix, id, token) -> rooms removed. A member going away removes itself and its rooms. */
export const LEAVE = `${PRELUDE}
local id, token = ARGV[2], ARGV[3]
local key = P .. 'm:' .. id
if redis.call('HGET', key, 'token') ~= token then return 0 end
local n = 0
for _, room in ipairs(redis.call('SMEMBERS', key .. ':rooms')) do
  local rk = P .. 'r:' .. room
  if redis.call('HGET', rk, 'owner') == id then
    local game = redis.call('HGET', rk, 'game')
    redis.call('DEL', rk, P .. 's:' .. room)
    redis.call('ZREM', P .. 'rooms', room)
    if game then redis.call('ZREM', P .. 'open:' .. game, room) end
    n = n + 1
  end
end
redis.call('DEL', key, key .. ':rooms')
redis.call('ZREM', P .. 'members', id)
return n
`;

/**
 * rooms(prefix) -> flat list of [name, game, players, cap, owner, listed, url] per live room.
 * One round trip; the index holds only rooms whose lease is current.
 */
export const ROOMS = `${PRELUDE}
cleanup()
local out = {}
for _, room in ipairs(redis.call('ZRANGEBYSCORE', P .. 'rooms', NOW, '+inf')) do
  local r = redis.call('HMGET', P .. 'r:' .. room, 'name', 'game', 'players', 'cap', 'owner', 'listed', 'info')
  if r[1] then
    local url = redis.call('HGET', P .. 'm:' .. r[5], 'url') or ''
    table.insert(out, r[1]); table.insert(out, r[2]); table.insert(out, r[3]); table.insert(out, r[4])
    table.insert(out, r[5]); table.insert(out, r[6]); table.insert(out, url)
    table.insert(out, tostring(seats(room))); table.insert(out, r[7] or '')
  end
end
return out
`;

/** members(prefix) -> flat list of [id, url, state, players, rooms, cap, leaseAgeMs] per live member. */
export const MEMBERS = `${PRELUDE}
cleanup()
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'members', NOW, '+inf')) do
  local m = redis.call('HMGET', P .. 'm:' .. id, 'id', 'url', 'state', 'players', 'rooms', 'cap', 'renewed', 'ws', 'sig')
  if m[1] then
    table.insert(out, m[1]); table.insert(out, m[2]); table.insert(out, m[3]); table.insert(out, m[4]); table.insert(out, m[5])
    table.insert(out, m[6]); table.insert(out, tostring(NOW - tonumber(m[7]))); table.insert(out, m[8]); table.insert(out, m[9])
  end
end
return out
`;
