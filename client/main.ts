// The browser client: joins an arena-v1 room over the shared client netcode, draws it on a canvas
// every animation frame, shows the net graph and the toggles panel, and reconnects with backoff
// when the server goes away. URL parameters are listed in docs/client.md.
import { arena } from '../games/arena.ts';
import { ClientNetcode, type NetcodeToggles } from '../netcode/netcode.ts';
import { defaultLinkSettings, type LinkSettings } from '../shared/net/link-conditioner.ts';
import { conditionClientIO } from '../netcode/conditioned-io.ts';
import { RejectCode } from '../shared/protocol/ids.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { NetGraph } from './hud.ts';
import { InputSource } from './input.ts';
import { browserClientIO } from './net.ts';
import { buildPanel, type PanelState } from './panel.ts';
import { ArenaRenderer } from './render.ts';

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
const input = new InputSource(window, canvas);
const renderer = new ArenaRenderer(canvas, compileSchema(arena));
const graph = new NetGraph(netGraphEl);
buildPanel(document.getElementById('panel') as HTMLElement, state, netGraphEl, () => undefined);

/** Connection life cycle of the page. */
type Phase = 'connecting' | 'playing' | 'waiting' | 'refused';
let phase: Phase = 'connecting';
let net: ClientNetcode | undefined;
let lastNet: ClientNetcode | undefined;
let attempt = 0;
let retryAtMs = 0;
let lastReason = '';
let refusedBy: number | undefined;

function show(text: string): void {
  overlay.textContent = text;
  overlay.style.display = text ? '' : 'none';
  overlay.dataset.phase = phase;
}

function connect(): void {
  phase = 'connecting';
  refusedBy = undefined;
  show(attempt === 0 ? 'Connecting…' : `Reconnecting (attempt ${attempt + 1})…`);
  const io = conditionClientIO(browserClientIO({ webrtc: transport !== 'ws' }), {
    settings: link, seed: (seed + attempt) >>> 0, timers: { nowMs: () => performance.now(), setTimer: (fn, ms) => setTimeout(fn, ms) },
  }).io;
  const n: ClientNetcode = new ClientNetcode(arena, io, { url: location.origin, name, room, transport }, {
    toggles,
    events: {
      onWelcome: () => {
        if (net !== n) return;
        phase = 'playing';
        attempt = 0;
        show('');
      },
      onControl: (msg) => {
        if (msg.t === 'reject') refusedBy = msg.code;
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
}

function lost(reason: string): void {
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
}

let lastFrameMs = 0;
let lastHudMs = 0;
function frame(): void {
  const now = performance.now();
  lastFrameMs = now;
  input.enabled = document.visibilityState === 'visible';
  if (net) {
    Object.assign(net.toggles, toggles);
    net.frame(now, { dir: input.dir() });
  }
  if (phase === 'waiting') {
    const s = Math.max(0, Math.ceil((retryAtMs - now) / 1000));
    show(`The server went away (${lastReason}). Reconnecting in ${s} s…`);
  }
  renderer.draw(net ?? lastNet, state.view);
  canvas.style.opacity = net && phase === 'playing' ? '1' : '0.45';
  if (now - lastHudMs > 100 && (net ?? lastNet)) {
    lastHudMs = now;
    graph.update((net ?? lastNet)!.stats);
  }
}

function loop(): void {
  frame();
  requestAnimationFrame(loop);
}
// Animation frames stop in a hidden tab: keep the connection fed (idle input) at a low rate.
setInterval(() => {
  if (performance.now() - lastFrameMs > 200) frame();
}, 250);

/** Debug and test handle. */
const api = {
  get phase(): Phase {
    return phase;
  },
  get eid(): number {
    return net?.eid ?? -1;
  },
  get transport(): string {
    return net?.stats.transport ?? 'none';
  },
  get stats(): object | undefined {
    return net?.stats;
  },
  /** Where entity `eid` is drawn now (the local player from its prediction), or null. */
  entityPosition(eid: number): { x: number; y: number } | null {
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
  },
  toggles,
  link,
};
(globalThis as unknown as { tickwire: typeof api }).tickwire = api;

connect();
requestAnimationFrame(loop);
