// The browser client: asks the server which game it runs (GET /config), picks that game from the
// bundle, gets a seat from the matchmaker (POST /matchmake: in a fleet, the room may be on another
// server) and joins that room over the shared client netcode, draws it on a canvas every animation frame
// with names, the players table, chat and game events, shows the net graph and the toggles panel,
// and, when its server goes away for good, goes back to the matchmaker with backoff (the net graph
// counts the rejoins). URL parameters are listed in docs/client.md.
import { ClientNetcode, type NetcodeToggles } from '../netcode/netcode.ts';
import type { ClientIO } from '../netcode/io.ts';
import { requestSeat, type Seat } from '../netcode/matchmake.ts';
import { defaultLinkSettings, type LinkSettings } from '../shared/net/link-conditioner.ts';
import { conditionClientIO } from '../netcode/conditioned-io.ts';
import { configHash } from '../shared/config.ts';
import { RejectCode } from '../shared/protocol/ids.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import type { GameClient } from '../shared/sim/view.ts';
import { Autopilot } from './autopilot.ts';
import { bundledGames } from './games.ts';
import { NetGraph } from './hud.ts';
import { ControlsSource } from './input.ts';
import { browserClientIO } from './net.ts';
import { buildPanel, type PanelState } from './panel.ts';
import { GameRenderer } from './render.ts';
import { isReplayPage, replayState, startReplayPage } from './replay.ts';
import { Roster } from './roster.ts';
import { Sidebar } from './sidebar.ts';
import { FreeCamera, SPECTATOR_HINT } from './spectate.ts';

const params = new URLSearchParams(location.search);
const num = (key: string, fallback: number): number => {
  const v = Number(params.get(key));
  return params.has(key) && Number.isFinite(v) ? v : fallback;
};
const flag = (key: string, fallback: boolean): boolean => (params.has(key) ? params.get(key) !== '0' && params.get(key) !== 'false' : fallback);
const transportParam = params.get('transport');
const transport: 'auto' | 'ws' | 'webrtc' = transportParam === 'ws' || transportParam === 'webrtc' ? transportParam : 'auto';
const name = (params.get('name') ?? 'player').slice(0, 32) || 'player';
const room = params.get('room') ?? undefined;
const seed = num('seed', Math.floor(performance.now() * 1000) >>> 0);
/** `?inputhz=H`: input packets per second (the netcode's inputPacketRateHz; default DEFAULT_INPUT_PACKET_RATE_HZ). */
const inputPacketRateHz = params.has('inputhz') ? num('inputhz', 0) : undefined;
/** `?spectate=1`: watch (a spectator's seat from the matchmaker; no entity, no inputs) with a free camera. */
const spectating = flag('spectate', false);

const link: LinkSettings = {
  ...defaultLinkSettings(),
  delayMs: num('delay', 0), jitterMs: num('jitter', 0), lossPct: num('loss', 0), duplicatePct: num('dup', 0), reorderPct: num('reorder', 0),
};
link.enabled = flag('conditioner', link.delayMs > 0 || link.jitterMs > 0 || link.lossPct > 0 || link.duplicatePct > 0 || link.reorderPct > 0);
const toggles: NetcodeToggles = { prediction: flag('prediction', true), reconciliation: flag('reconciliation', true), interpolation: flag('interpolation', true) };
const state: PanelState = { toggles, link, view: { camera: params.get('camera') === 'world' ? 'world' : 'follow', ghost: flag('ghost', false) }, netGraph: flag('netgraph', true) };

const canvas = document.getElementById('view') as HTMLCanvasElement;
const netGraphEl = document.getElementById('netgraph') as HTMLElement;
const overlay = document.getElementById('overlay') as HTMLElement;
const helpEl = document.getElementById('help') as HTMLElement;
const graph = new NetGraph(netGraphEl);
buildPanel(document.getElementById('panel') as HTMLElement, state, netGraphEl, () => undefined);
const roster = new Roster();

/**
 * Life cycle of the page: loading (asking the server for its game), unsupported (this bundle
 * cannot play that game), connecting, playing, waiting (to reconnect), refused (reload needed).
 */
type Phase = 'loading' | 'unsupported' | 'connecting' | 'playing' | 'waiting' | 'refused';
let phase: Phase = 'loading';
let game: AnyGame | undefined;
let net: ClientNetcode | undefined;
let lastNet: ClientNetcode | undefined;
let attempt = 0;
let retryAtMs = 0;
let lastReason = '';
let refusedBy: number | undefined;
let errorText = '';

function show(text: string): void {
  overlay.textContent = text;
  overlay.style.display = text ? '' : 'none';
  overlay.dataset.phase = phase;
}

/** What GET /config says (the fields the page reads). */
interface ServerConfigView {
  game: string;
  configHash: number;
}

/** Reads GET /config, retrying with backoff while the server is not there. */
async function serverConfig(): Promise<ServerConfigView> {
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`${location.origin}/config`, { cache: 'no-store' });
      if (res.ok) {
        const body = (await res.json()) as Partial<ServerConfigView>;
        if (typeof body.game === 'string' && typeof body.configHash === 'number') return { game: body.game, configHash: body.configHash };
      }
    } catch {
      // not up yet
    }
    show(`Waiting for the server (GET /config, attempt ${i + 1})…`);
    await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** Math.min(i, 4))));
  }
}

/** The game the server runs, from this bundle, or the reason the page cannot play it. */
function pickGame(cfg: ServerConfigView): AnyGame | string {
  let games: Record<string, AnyGame>;
  try {
    games = bundledGames();
  } catch (err) {
    return `This page was built with a game that is not valid: ${(err as Error).message}`;
  }
  const g = games[cfg.game];
  if (!g) {
    return `The server runs the game "${cfg.game}", which this page does not include (it has: ${Object.keys(games).join(', ')}). ` +
      'Rebuild the client with that game: npm run build:client -- --game path/to/your-game.ts';
  }
  const hash = configHash(g);
  if (hash !== cfg.configHash) {
    return `The server runs a different version of the game "${cfg.game}" than this page (config hash ${cfg.configHash} on the server, ${hash} here). ` +
      'Rebuild the client (npm run build:client), restart the server and reload.';
  }
  if (!g.client) return `The game "${cfg.game}" declares no client view (GameDefinition.client), so the browser cannot show it.`;
  return g;
}

async function boot(): Promise<void> {
  // ?replay=URL (or ?replay and a dropped file): the replay viewer, client/replay.ts
  if (isReplayPage(params)) return startReplayPage(params, { canvas, show: (text) => show(text) });
  show('Loading…');
  const cfg = await serverConfig();
  const picked = pickGame(cfg);
  if (typeof picked === 'string') {
    phase = 'unsupported';
    errorText = picked;
    show(picked);
    return;
  }
  game = picked;
  play(picked, picked.client as GameClient<Record<string, number>>);
}

function play(g: AnyGame, view: GameClient<Record<string, number>>): void {
  document.title = `Tickwire · ${g.name}`;
  helpEl.textContent = `${view.help ? `${view.help} · ` : ''}Enter chat · P prediction · R reconciliation · I interpolation · G ghost · C camera · N net graph`;
  const schema = compileSchema(g);
  const input = new ControlsSource(window, canvas);
  const renderer = new GameRenderer(canvas, g, schema, roster.name);
  const sidebar = new Sidebar(
    document.getElementById('players') as HTMLTableElement,
    document.getElementById('feed') as HTMLElement,
    document.getElementById('chat-input') as HTMLInputElement,
    view.scoreboard,
    (text) => {
      if (!net || phase !== 'playing') return false;
      net.connection.sendControl({ t: 'chat', text });
      return true;
    },
  );
  const fieldOf = (eid: number, f: string): number | undefined => renderer.field(eid, f);
  camera = spectating
    ? new FreeCamera(window, canvas, { x: view.world.width / 2, y: view.world.height / 2 }, () => renderer.followSpan(), () => renderer.cssPixelsPerUnit, document.getElementById('players') as HTMLElement)
    : undefined;
  if (camera) helpEl.textContent = SPECTATOR_HINT;
  const pilotParam = params.get('bot');
  let autopilot: Autopilot | undefined;
  if (pilotParam !== null && pilotParam !== '0') {
    if (view.bot) autopilot = new Autopilot(view.bot, schema, g.name, seed);
    else sidebar.line('system', `the game "${g.name}" has no bot script (client.bot): ?bot ignored`);
  }

  let welcomedAtMs = 0;
  const connect = (): void => {
    phase = 'connecting';
    refusedBy = undefined;
    show(attempt === 0 ? 'Connecting…' : `Reconnecting (attempt ${attempt + 1})…`);
    const io = conditionClientIO(browserClientIO({ webrtc: transport !== 'ws' }), {
      settings: link, seed: (seed + attempt) >>> 0, timers: { nowMs: () => performance.now(), setTimer: (fn, ms) => setTimeout(fn, ms) },
    }).io;
    // Every join goes through the matchmaker (any server of a fleet, or the one server): it says
    // which server owns the room and hands a single-use seat for the hello.
    const asked = ++seatRequests;
    requestSeat(location.origin, { name, game: g.name, ...(room !== undefined ? { room } : {}), ...(spectating ? { spectate: true } : {}) }).then(
      (seat) => {
        if (asked === seatRequests) join(io, seat);
      },
      (err: unknown) => {
        if (asked !== seatRequests) return;
        lost(`matchmaking: ${(err as Error).message}`);
      },
    );
  };
  let seatRequests = 0;
  let everPlayed = false;

  const join = (io: ClientIO, seat: Seat): void => {
    const n: ClientNetcode = new ClientNetcode(g, io, { url: seat.url, name, room: seat.room, seat: seat.seat, resumeAttempts: 3, transport, spectate: spectating, ...(inputPacketRateHz && inputPacketRateHz > 0 ? { inputPacketRateHz } : {}) }, {
      toggles,
      events: {
        onWelcome: (w) => {
          if (net !== n) return;
          phase = 'playing';
          attempt = 0;
          welcomedAtMs = performance.now();
          roster.clear();
          // a spectator is no player: it has no row of its own in the table
          if (w.spectator !== true) roster.setSelf(w.eid, name);
          show('');
          graph.where = `${seat.owner} ${w.room}`;
          if (everPlayed) {
            graph.rejoins++;
            sidebar.line('system', `rejoined through the matchmaker: room ${w.room} on ${seat.owner}`);
          } else sidebar.line('system', w.spectator === true ? `watching room ${w.room}` : `joined room ${w.room} as ${name}`);
          everPlayed = true;
        },
        onControl: (msg) => {
          if (msg.t === 'reject') refusedBy = msg.code;
          if (net !== n) return;
          if (msg.t === 'left') sidebar.line('system', `${roster.sessionName(msg.sessionId) ?? 'a player'} left`);
          if (msg.t === 'roster' && msg.left && msg.left.length > 0) sidebar.line('system', msg.left.length <= 3 ? `${msg.left.map((id) => roster.sessionName(id) ?? 'a player').join(', ')} left` : `${msg.left.length} players left`);
          roster.onControl(msg);
          if (msg.t === 'chat') sidebar.line('chat', msg.text, msg.name);
          // The players already there are announced right after the welcome.
          else if (msg.t === 'joined') sidebar.line('system', performance.now() - welcomedAtMs < 1000 ? `${msg.name} is here` : `${msg.name} joined`);
          else if (msg.t === 'roster' && msg.players.length > 0) {
            // the roster right after the welcome lists who is here; a later one who joined since
            const n = msg.players.length;
            const here = performance.now() - welcomedAtMs < 1000;
            const verb = here ? (n === 1 ? 'is here' : 'are here') : 'joined';
            sidebar.line('system', n <= 3 ? `${msg.players.map((p) => p.name).join(', ')} ${verb}` : `${n} players ${verb}`);
          }
          else if (msg.t === 'event') {
            const text = view.describeEvent ? view.describeEvent(msg.name, msg.data, roster.name) : `${msg.name} ${JSON.stringify(msg.data ?? null)}`;
            if (text !== undefined) sidebar.line('event', text);
          }
        },
        onMoved: (msg) => {
          if (net !== n) return;
          // the netcode resumes the same session there; the page only says where it plays now
          graph.where = `${msg.owner} ${msg.room}`;
          graph.moves++;
          sidebar.line('system', `the room moved to ${msg.owner}`);
        },
        onClose: (reason) => {
          if (net !== n) return;
          lost(reason);
        },
        onError: (err) => console.warn(`tickwire: ${err.message}`),
      },
    });
    net = n;
    lastNet = n;
    n.connect();
    // A handshake that hangs (server half up) counts as a failure too.
    setTimeout(() => {
      if (net === n && phase === 'connecting') n.close('handshake timed out');
    }, 10_000);
  };

  const lost = (reason: string): void => {
    net = undefined;
    lastReason = reason;
    if (refusedBy === RejectCode.ConfigMismatch || refusedBy === RejectCode.ProtocolVersion) {
      phase = 'refused';
      show(`The server runs a different version of the game (${reason}). Reload the page.`);
      return;
    }
    phase = 'waiting';
    const delayMs = Math.min(10_000, 500 * 2 ** Math.min(attempt, 5));
    attempt++;
    retryAtMs = performance.now() + delayMs;
    setTimeout(connect, delayMs);
  };

  let lastFrameMs = 0;
  let lastHudMs = 0;
  const frame = (): void => {
    const now = performance.now();
    lastFrameMs = now;
    input.enabled = document.visibilityState === 'visible';
    if (net) {
      Object.assign(net.toggles, toggles);
      const inp = autopilot ? autopilot.next(now, net) : view.controls(input.read(renderer.toWorld, renderer.hasSelf ? renderer.self : undefined));
      net.frame(now, inp);
    }
    if (phase === 'waiting') {
      const s = Math.max(0, Math.ceil((retryAtMs - now) / 1000));
      show(`The server went away (${lastReason}). Reconnecting in ${s} s…`);
    }
    if (camera) {
      camera.update(now, entityPosition);
      state.view.free = camera.view;
      // a room with views sends a spectator the view around its camera: tell the server where it is
      if (net && g.interest) net.connection.setCamera(camera.view.x, camera.view.y, camera.radius(canvas.clientWidth, canvas.clientHeight), camera.following);
    }
    renderer.draw(net ?? lastNet, state.view);
    canvas.style.opacity = net && phase === 'playing' ? '1' : '0.45';
    const shown = net ?? lastNet;
    if (now - lastHudMs > 100 && shown) {
      lastHudMs = now;
      graph.update(shown.stats);
      if (now - lastTableMs > 250) {
        lastTableMs = now;
        sidebar.update(roster, fieldOf, shown.eid);
      }
    }
  };
  let lastTableMs = 0;

  const loop = (): void => {
    frame();
    requestAnimationFrame(loop);
  };
  // Animation frames stop in a hidden tab: keep the connection fed (idle input) at a low rate.
  setInterval(() => {
    if (performance.now() - lastFrameMs > 200) frame();
  }, 250);
  entityPosition = (eid) => {
    if (!net) return null;
    if (eid === net.eid) {
      const p = { x: 0, y: 0 };
      return net.localPosition(p) ? p : null;
    }
    const v = net.remote;
    const i = v.indexOf(eid);
    if (i < 0) return null;
    const xf = net.predictor.xField;
    const yf = net.predictor.yField;
    return { x: v.values[i * v.fieldCount + xf], y: v.values[i * v.fieldCount + yf] };
  };
  connect();
  requestAnimationFrame(loop);
}

let entityPosition: (eid: number) => { x: number; y: number } | null = () => null;
let camera: FreeCamera | undefined;

/** Debug and test handle. */
const api = {
  get phase(): Phase {
    return phase;
  },
  /** Name of the game being played (undefined until GET /config answered and the game was found). */
  get game(): string | undefined {
    return game?.name;
  },
  /** Why the page cannot play (phase 'unsupported'), else ''. */
  get error(): string {
    return errorText;
  },
  get eid(): number {
    return net?.eid ?? -1;
  },
  /** The session id the server gave (kept across a resume and a move), -1 before. */
  get sessionId(): number {
    return net?.connection.welcome?.sessionId ?? -1;
  },
  /** Where the page plays: the member and room, as the net graph's `server` line shows them. */
  get server(): string {
    return graph.where;
  },
  /** Times the room moved to another server with this page (`moved`). */
  get moves(): number {
    return graph.moves;
  },
  get transport(): string {
    return net?.stats.transport ?? 'none';
  },
  get stats(): object | undefined {
    return net?.stats;
  },
  /** Where entity `eid` is drawn now (the own player from its prediction), or null. */
  entityPosition(eid: number): { x: number; y: number } | null {
    return entityPosition(eid);
  },
  /** Player names by entity id, as the page knows them. */
  names(): Record<number, string> {
    return Object.fromEntries(roster.players().map((p) => [p.eid, p.name]));
  },
  /** True once the server welcomed this page as a spectator. */
  get spectator(): boolean {
    return net?.connection.welcome?.spectator === true;
  },
  /** The spectator's free camera (centre, zoom, followed entity), or null when playing. */
  get camera(): { x: number; y: number; zoom: number; following: number } | null {
    return camera ? { ...camera.view, following: camera.following } : null;
  },
  toggles,
  link,
  /** The replay viewer's state (?replay): phase, error, and its ReplayPlayer. */
  replay: replayState,
};
(globalThis as unknown as { tickwire: typeof api }).tickwire = api;

void boot();
