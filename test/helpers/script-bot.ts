// A headless player for tests and the screenshot script: the full client netcode over the Node
// WebSocket, driven at 60 Hz by the game's own bot script (client.bot) through the page's autopilot.
import { Autopilot } from '../../client/autopilot.ts';
import { ClientNetcode } from '../../netcode/netcode.ts';
import { compileSchema } from '../../shared/protocol/schema.ts';
import type { ServerControl } from '../../shared/protocol/control.ts';
import type { AnyGame } from '../../shared/sim/game.ts';
import { nodeClientIO } from '../../tools/node-client/io.ts';

/** A running script bot. */
export interface ScriptBot {
  readonly net: ClientNetcode;
  /** Control messages received (chat, events, joined, left, ...), in order. */
  readonly received: ServerControl[];
  /** Sends a chat line. */
  say(text: string): void;
  stop(): void;
}

/** Connects a bot named `name` to the server at `url` playing `game` with its client.bot script. */
export function startScriptBot(url: string, game: AnyGame, name: string, seed: number, room?: string): ScriptBot {
  const script = game.client?.bot;
  if (!script) throw new Error(`game ${game.name} has no client.bot`);
  const received: ServerControl[] = [];
  const net = new ClientNetcode(game, nodeClientIO({ webrtc: false }), { url, name, transport: 'ws', ...(room ? { room } : {}) }, {
    events: { onControl: (m) => received.push(m) },
  });
  const pilot = new Autopilot(script, compileSchema(game), game.name, seed);
  net.connect();
  const timer = setInterval(() => {
    const now = performance.now();
    net.frame(now, pilot.next(now, net));
  }, 1000 / 60);
  return {
    net,
    received,
    say: (text) => net.connection.sendControl({ t: 'chat', text }),
    stop: () => {
      clearInterval(timer);
      net.close('bot done');
    },
  };
}
