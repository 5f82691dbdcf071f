// The operator's side against a real server: kicks and room closes through the session life cycle
// (bye codes, sessions and rooms gone).
import { afterAll, describe, expect, it } from 'vitest';
import type { Connection } from '../netcode/connection.ts';
import type { TickwireServer } from '../server/server.ts';
import { CloseCode } from '../shared/protocol/ids.ts';
import { connectClient, startTestServer, waitFor } from './helpers/server.ts';

const servers: TickwireServer[] = [];
const clients: Connection[] = [];

afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.stop();
});

/** A client that records the bye code it ends with. */
async function player(srv: TickwireServer, name: string, room: string): Promise<{ c: Connection; closed: { code: number; reason: string } | undefined }> {
  const p: { c: Connection; closed: { code: number; reason: string } | undefined } = { c: undefined as unknown as Connection, closed: undefined };
  p.c = await connectClient(srv, { name, room }, { onClose: (reason, code) => (p.closed = { code, reason }) });
  clients.push(p.c);
  return p;
}

describe('operator actions', () => {
  it('a kick ends one session with bye Kicked; closing a room ends all of its sessions with bye RoomClosed and disposes it', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const a = await player(srv, 'a', 'one');
    const b = await player(srv, 'b', 'one');
    const others = [await player(srv, 'c', 'two'), await player(srv, 'd', 'two'), await player(srv, 'e', 'two')];
    expect(srv.sessions.size).toBe(5);

    expect(srv.inbound.kick(a.c.welcome!.sessionId, 'testing kicks')).toBe(true);
    expect(srv.inbound.kick(9999, 'nobody')).toBe(false);
    await waitFor(() => a.closed !== undefined, 3000, 'the kicked client hears bye');
    expect(a.closed).toEqual({ code: CloseCode.Kicked, reason: 'testing kicks' });
    expect(srv.sessions.size).toBe(4);
    expect(srv.rooms.get('one')?.players.length).toBe(1);
    expect(b.closed).toBeUndefined();

    expect(srv.inbound.closeRoom('two', 'closing two')).toBe(3);
    expect(srv.inbound.closeRoom('no-such-room', 'x')).toBe(-1);
    await waitFor(() => others.every((o) => o.closed !== undefined), 3000, 'every client of the closed room hears bye');
    for (const o of others) expect(o.closed).toEqual({ code: CloseCode.RoomClosed, reason: 'closing two' });
    expect(srv.rooms.get('two')).toBeUndefined();
    expect(srv.rooms.list.map((r) => r.name)).toEqual(['one']);
    expect(srv.sessions.size).toBe(1);
    expect(b.closed).toBeUndefined();
    expect(b.c.state).toBe('active');
  });
});
