// A live server for the monitor: an admin token, a matchmade arena room with players over the
// WebSocket, WebRTC and a slow lossy link, a client-named room and a private one, every player
// sending inputs each tick. test/monitor.test.ts drives the page against it and takes the README's
// screenshot of it.
import { arena as arenaGame } from '../../games/arena.ts';
import { conditionClientIO } from '../../netcode/conditioned-io.ts';
import { Connection, type ConnectionOptions } from '../../netcode/connection.ts';
import type { TickwireServer } from '../../server/server.ts';
import { defaultLinkSettings } from '../../shared/net/link-conditioner.ts';
import { nodeClientIO } from '../../tools/node-client/io.ts';
import { startTestServer, urlOf, waitFor } from './server.ts';

/** A scene client and how it ended (its bye code and reason), if it did. */
export interface ScenePlayer {
  readonly name: string;
  c: Connection;
  closed: { code: number; reason: string } | undefined;
}

/** The running scene. */
export interface MonitorScene {
  readonly srv: TickwireServer;
  /** The matchmade room, a client-named listed room, a client-named private room. */
  readonly arena: string;
  readonly duel: string;
  readonly hideout: string;
  /** Players by room, in join order. */
  readonly players: Record<string, ScenePlayer[]>;
  stop(): Promise<void>;
}

/** Starts the server and its players; resolves once every player is in (the WebRTC one on WebRTC). */
export async function monitorScene(o: { adminToken: string }): Promise<MonitorScene> {
  const srv = await startTestServer({ adminToken: o.adminToken, webrtc: true, gameParams: { npcs: 40 } });
  const all: ScenePlayer[] = [];
  const join = async (name: string, opts: Partial<ConnectionOptions>, lossy = false): Promise<ScenePlayer> => {
    const io = lossy
      ? conditionClientIO(nodeClientIO({ webrtc: false }), {
        settings: { ...defaultLinkSettings(), enabled: true, delayMs: 40, jitterMs: 5, lossPct: 4 }, seed: 11,
        timers: { nowMs: () => performance.now(), setTimer: (fn, ms) => setTimeout(fn, ms) }, lossyWebSocket: true,
      }).io
      : nodeClientIO({ webrtc: opts.transport !== 'ws' });
    const p: ScenePlayer = { name, c: undefined as unknown as Connection, closed: undefined };
    p.c = new Connection(arenaGame, io, { url: urlOf(srv), name, transport: 'ws', webrtcTimeoutMs: 8000, ...opts }, { onClose: (reason, code) => (p.closed = { code, reason }) });
    p.c.connect();
    all.push(p);
    await waitFor(() => p.c.state === 'active' || p.c.state === 'closed', 8000, `${name} welcome`);
    if (p.c.state !== 'active') throw new Error(`${name} was not welcomed`);
    return p;
  };
  const matched = [await join('ana', {}), await join('ben', {}), await join('cleo', { transport: 'auto' }), await join('slow', {}, true)];
  const arena = matched[0].c.welcome!.room;
  const duel = [await join('eve', { room: 'duel' }), await join('finn', { room: 'duel' })];
  const hideout = [await join('gus', { room: 'hideout', privateRoom: true })];
  await waitFor(() => matched[2].c.transport === 'webrtc', 10_000, 'cleo on WebRTC');

  // Every player walks, turning now and then: one input per room tick, sent two ticks ahead.
  const last = new Map<ScenePlayer, number>();
  const driver = setInterval(() => {
    for (const p of all) {
      if (p.c.state !== 'active') continue;
      const room = srv.rooms.get(p.c.welcome!.room);
      if (!room) continue;
      let t = last.get(p) ?? room.ctx.tick;
      while (t < room.ctx.tick) {
        t++;
        p.c.sendInput({ dir: 1 + ((Math.floor(t / 45) * 3 + p.name.length * 5) % 8) }, t + 2);
      }
      last.set(p, t);
    }
  }, 8);
  return {
    srv, arena, duel: 'duel', hideout: 'hideout', players: { [arena]: matched, duel, hideout },
    async stop() {
      clearInterval(driver);
      for (const p of all) p.c.close();
      await srv.stop();
    },
  };
}
