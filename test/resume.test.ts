// Reconnection: a client whose link drops for 3 s or 8 s resumes the same session, entity and room
// with a rotated single-use token, and reliable messages arrive exactly once, in order, both ways.
import { afterEach, describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { nodeClientIO } from '../tools/node-client/io.ts';
import { Connection } from '../netcode/connection.ts';
import { configHash, PROTOCOL_VERSION } from '../shared/config.ts';
import { decodeServerControl, encodeControl, type ServerControl } from '../shared/protocol/control.ts';
import { RejectCode } from '../shared/protocol/ids.ts';
import type { TickwireServer } from '../server/server.ts';
import WebSocket from 'ws';
import { cuttableIO, startTestServer, urlOf, waitFor } from './helpers/server.ts';

let srv: TickwireServer | undefined;
const conns: Connection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.close();
  await srv?.stop();
  srv = undefined;
});


async function dropFor(ms: number): Promise<void> {
  srv = await startTestServer();
  const link = cuttableIO();
  const chats: string[] = [];
  const me = new Connection(arena, link.io, { url: urlOf(srv), name: 'me', transport: 'ws' }, {
    onControl: (m) => {
      if (m.t === 'chat') chats.push(m.text);
    },
  });
  conns.push(me);
  me.connect();
  await waitFor(() => me.state === 'active', 5000, 'welcome');
  const other = new Connection(arena, nodeClientIO({ webrtc: false }), { url: urlOf(srv), name: 'other', transport: 'ws' });
  conns.push(other);
  other.connect();
  await waitFor(() => other.state === 'active', 5000, 'other welcome');
  const before = { ...me.welcome! };
  const room = srv.rooms.get(before.room)!;
  const send = (c: Connection, from: number, to: number): void => {
    for (let i = from; i < to; i++) c.sendControl({ t: 'chat', text: `${c.opts.name}-${i}` });
  };

  send(me, 0, 5);
  send(other, 0, 5);
  await waitFor(() => chats.length === 10, 3000, 'chats before the drop');
  link.cut();
  await waitFor(() => me.state === 'resuming', 3000, 'resuming');
  // While the link is down both sides keep talking; the server keeps the player in the room.
  send(me, 5, 10);
  send(other, 5, 10);
  const session = srv.sessions.get(before.sessionId)!;
  await waitFor(() => session.state === 'resuming', 3000, 'server noticed');
  expect(room.replicated()).toContain(before.eid);
  await new Promise((r) => setTimeout(r, ms));
  expect(room.players).toContain(session.player);
  link.heal();
  await waitFor(() => me.state === 'active', 5000, 'resumed');
  send(me, 10, 12);
  await waitFor(() => chats.length === 22, 5000, 'every chat after the resume').catch((e: Error) => {
    throw new Error(`${e.message}: got ${chats.join(',')}`);
  });

  // Same session, entity and room; a fresh token; the old one is spent.
  expect(me.welcome!.sessionId).toBe(before.sessionId);
  expect(me.welcome!.eid).toBe(before.eid);
  expect(me.welcome!.room).toBe(before.room);
  expect(me.welcome!.token).not.toBe(before.token);
  expect(me.counters.resumes).toBe(1);
  // Exactly once, in order, both directions (the server relays each chat to everyone, sender included).
  const mine = chats.filter((t) => t.startsWith('me-'));
  const theirs = chats.filter((t) => t.startsWith('other-'));
  expect(mine).toEqual(Array.from({ length: 12 }, (_, i) => `me-${i}`));
  expect(theirs).toEqual(Array.from({ length: 10 }, (_, i) => `other-${i}`));
  expect(srv.stats.resumes).toBe(1);

  // The old token cannot resume again.
  const ws = new WebSocket(`ws://127.0.0.1:${srv.http!.port}/ws`);
  const got: ServerControl[] = [];
  ws.on('message', (d: Buffer) => got.push(decodeServerControl(new Uint8Array(d))));
  await new Promise((r) => ws.once('open', r));
  ws.send(encodeControl({ t: 'resume', v: PROTOCOL_VERSION, hash: configHash(arena), token: before.token }));
  await waitFor(() => got.length > 0, 3000, 'reply to a spent token');
  expect(got[0]).toMatchObject({ t: 'reject', code: RejectCode.ResumeFailed });
  ws.terminate();
}

describe('session resume', () => {
  it('resumes after a 3 s outage', () => dropFor(3000), 30_000);
  it('resumes after an 8 s outage', () => dropFor(8000), 30_000);

  it('gives up after the grace window; the server frees the entity', async () => {
    srv = await startTestServer({ resumeGraceMs: 1500 });
    const link = cuttableIO();
    const c = new Connection(arena, link.io, { url: urlOf(srv), name: 'late', transport: 'ws' });
    conns.push(c);
    c.connect();
    await waitFor(() => c.state === 'active', 5000, 'welcome');
    const room = srv.rooms.get(c.welcome!.room)!;
    link.cut();
    await waitFor(() => c.state === 'closed', 6000, 'client gave up');
    await waitFor(() => srv!.sessions.size === 0, 4000, 'server expired the session');
    expect(room.replicated()).not.toContain(c.eid);
  }, 20_000);

  it('detects a silent server (half-open link) and resumes', async () => {
    srv = await startTestServer();
    const c = new Connection(arena, nodeClientIO({ webrtc: false }), { url: urlOf(srv), name: 'quiet', transport: 'ws', silenceTimeoutMs: 1500 });
    conns.push(c);
    c.connect();
    await waitFor(() => c.state === 'active', 5000, 'welcome');
    const eid = c.eid;
    // The server keeps the socket open but stops sending: stop its loop for a while.
    const room = srv.rooms.get(c.welcome!.room)!;
    const players = room.players.slice();
    room.players.length = 0; // no snapshots go out to anyone
    await waitFor(() => c.state === 'resuming' || c.counters.resumes > 0, 5000, 'client noticed the silence');
    room.players.push(...players);
    await waitFor(() => c.state === 'active' && c.counters.resumes === 1, 5000, 'resumed');
    expect(c.eid).toBe(eid);
  }, 20_000);
});
