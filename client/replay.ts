// The replay page of the browser client (`?replay=URL`, or `?replay` and a dropped or picked
// file): loads a replay file (docs/replay.md), picks its game from the bundle, and plays it
// through ReplayPlayer (the live client's receiver, timeline and interpolator) onto the same
// GameRenderer, with play/pause, a seek bar, speed, the players table and the game events.
import { ReplayPlayer } from '../netcode/replay-player.ts';
import { readReplayHeader, ReplayFormatError } from '../shared/protocol/replay.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import type { GameClient } from '../shared/sim/view.ts';
import { bundledGames } from './games.ts';
import { GameRenderer, type ViewOptions } from './render.ts';
import { Roster } from './roster.ts';
import { Sidebar } from './sidebar.ts';

/** What the page hands the replay view. */
export interface ReplayPage {
  readonly canvas: HTMLCanvasElement;
  /** Shows a message over the canvas ('' hides it). */
  show(text: string): void;
}

/** Speeds the speed control offers. */
const SPEEDS = [0.25, 0.5, 1, 2, 4, 8];

/** The state the page's test handle reads. */
export interface ReplayState {
  phase: 'waiting' | 'loading' | 'playing' | 'error';
  error: string;
  player: ReplayPlayer | undefined;
}

/** Shared with main.ts's test handle. */
export const replayState: ReplayState = { phase: 'waiting', error: '', player: undefined };

/** True when the page was opened as the replay viewer (`?replay` with or without a URL). */
export function isReplayPage(params: URLSearchParams): boolean {
  return params.has('replay');
}

/** Starts the replay viewer: from `?replay=URL`, or waiting for a dropped or picked file. */
export function startReplayPage(params: URLSearchParams, page: ReplayPage): void {
  const url = params.get('replay') ?? '';
  const bar = controls();
  const open = (bytes: Uint8Array, from: string): void => {
    try {
      play(bytes, from, page, bar);
    } catch (err) {
      replayState.phase = 'error';
      replayState.error = (err as Error).message;
      page.show(`Cannot play ${from}: ${(err as Error).message}`);
    }
  };
  const fromFile = (f: File): void => {
    replayState.phase = 'loading';
    f.arrayBuffer().then((b) => open(new Uint8Array(b), f.name), (err: unknown) => page.show(`Cannot read ${f.name}: ${(err as Error).message}`));
  };
  globalThis.addEventListener('dragover', (e) => e.preventDefault());
  globalThis.addEventListener('drop', (e) => {
    e.preventDefault();
    const f = e.dataTransfer?.files[0];
    if (f) fromFile(f);
  });
  bar.file.addEventListener('change', () => {
    const f = bar.file.files?.[0];
    if (f) fromFile(f);
  });
  if (url === '') {
    page.show('Drop a replay file (.twr) here, or pick one below.');
    return;
  }
  replayState.phase = 'loading';
  page.show(`Loading ${url}…`);
  fetch(new URL(url, location.href), { cache: 'no-store' }).then(async (res) => {
    if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
    open(new Uint8Array(await res.arrayBuffer()), url);
  }).catch((err: unknown) => {
    replayState.phase = 'error';
    replayState.error = (err as Error).message;
    page.show(`Cannot load ${url}: ${(err as Error).message}`);
  });
}

interface Bar {
  root: HTMLElement;
  toggle: HTMLButtonElement;
  seek: HTMLInputElement;
  speed: HTMLSelectElement;
  time: HTMLElement;
  file: HTMLInputElement;
}

/** The control bar at the bottom of the page. */
function controls(): Bar {
  const root = document.createElement('div');
  root.id = 'replay-bar';
  root.className = 'box';
  root.style.cssText = 'position:fixed;left:8px;right:8px;bottom:8px;display:flex;gap:8px;align-items:center;padding:6px 8px;z-index:2';
  const toggle = document.createElement('button');
  toggle.id = 'replay-toggle';
  toggle.textContent = 'play';
  const seek = document.createElement('input');
  seek.id = 'replay-seek';
  seek.type = 'range';
  seek.min = '0';
  seek.max = '0';
  seek.step = '1';
  seek.style.flex = '1';
  const speed = document.createElement('select');
  speed.id = 'replay-speed';
  for (const s of SPEEDS) speed.add(new Option(`${s}×`, String(s), s === 1, s === 1));
  const time = document.createElement('span');
  time.id = 'replay-time';
  const file = document.createElement('input');
  file.type = 'file';
  file.accept = '.twr,application/octet-stream';
  root.append(toggle, seek, speed, time, file);
  document.body.append(root);
  const help = document.getElementById('help');
  if (help) help.textContent = 'Space play/pause · ←/→ 5 s · drop a replay file to open it';
  // the bar takes the bottom line: what sat there moves above it
  for (const id of ['help', 'social', 'players']) {
    const el = document.getElementById(id);
    if (el) el.style.bottom = id === 'help' ? '46px' : '66px';
  }
  // nothing to type or toggle in a replay: the chat box, the toggles panel and the net graph go
  for (const id of ['chat-input', 'panel', 'netgraph']) {
    const el = document.getElementById(id);
    if (el) el.style.display = 'none';
  }
  return { root, toggle, seek, speed, time, file };
}

const clock = (sec: number): string => `${Math.floor(sec / 60)}:${String(Math.floor(sec % 60)).padStart(2, '0')}`;

/** Plays one replay's bytes; throws ReplayFormatError when they are not a replay this bundle can play. */
function play(bytes: Uint8Array, from: string, page: ReplayPage, bar: Bar): void {
  const { meta } = readReplayHeader(bytes);
  const game: AnyGame | undefined = bundledGames()[meta.game];
  if (!game) throw new ReplayFormatError('meta.game', 0, `a replay of "${meta.game}", which this page does not include (it has: ${Object.keys(bundledGames()).join(', ')})`);
  const view = game.client as GameClient<Record<string, number>> | undefined;
  if (!view) throw new ReplayFormatError('meta.game', 0, `the game "${meta.game}" declares no client view`);
  const roster = new Roster();
  const sidebar = new Sidebar(
    document.getElementById('players') as HTMLTableElement, document.getElementById('feed') as HTMLElement,
    document.getElementById('chat-input') as HTMLInputElement, view.scoreboard, () => false,
  );
  const player = new ReplayPlayer(game, bytes, {
    onRewind: () => roster.clear(),
    onControl: (msg, _tick, seeking) => {
      roster.onControl(msg);
      if (seeking) return;
      if (msg.t === 'event') {
        const text = view.describeEvent ? view.describeEvent(msg.name, msg.data, roster.name) : `${msg.name} ${JSON.stringify(msg.data ?? null)}`;
        if (text !== undefined) sidebar.line('event', text);
      } else if (msg.t === 'joined') sidebar.line('system', `${msg.name} joined`);
    },
  });
  replayState.player?.pause();
  replayState.player = player;
  replayState.phase = 'playing';
  replayState.error = '';
  const schema = player.schema;
  const renderer = new GameRenderer(page.canvas, game, schema, roster.name);
  const options: ViewOptions = { camera: 'world', ghost: false };
  document.title = `Tickwire · replay · ${meta.game} · ${meta.room}`;
  page.show('');
  sidebar.line('system', `replay ${from}: ${meta.game}, room ${meta.room}, ${clock(player.durationSec)}, recorded ${new Date(meta.startedAtMs).toISOString()}`);
  bar.seek.min = String(player.startTick);
  bar.seek.max = String(player.endTick);
  const fieldOf = (eid: number, f: string): number | undefined => renderer.field(eid, f);
  const sync = (): void => {
    bar.toggle.textContent = player.playing ? 'pause' : 'play';
    bar.seek.value = String(Math.round(player.tick));
    bar.time.textContent = `${clock((player.tick - player.startTick) / meta.tickRateHz)} / ${clock(player.durationSec)}`;
  };
  bar.toggle.onclick = () => {
    if (player.playing) player.pause();
    else player.play();
    sync();
  };
  bar.seek.oninput = () => {
    player.seek(Number(bar.seek.value));
    sync();
  };
  bar.speed.onchange = () => player.setSpeed(Number(bar.speed.value));
  globalThis.onkeydown = (e: KeyboardEvent) => {
    if (e.code === 'Space') bar.toggle.click();
    else if (e.code === 'ArrowLeft' || e.code === 'ArrowRight') {
      player.seek(player.tick + (e.code === 'ArrowLeft' ? -5 : 5) * meta.tickRateHz);
      sync();
    } else return;
    e.preventDefault();
  };
  player.play();
  let last = performance.now();
  let lastTable = 0;
  const frame = (now: number): void => {
    if (replayState.player !== player) return;
    player.advance(now - last);
    last = now;
    if (player.error) page.show(`The replay is damaged: ${player.error.message}`);
    renderer.draw(player, options);
    if (now - lastTable > 250) {
      lastTable = now;
      sidebar.update(roster, fieldOf, -1);
      sync();
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}
