// The monitor page's script: asks for the admin token (kept in this tab's sessionStorage, sent
// only as an Authorization header), polls the admin API every second, shows rooms, players and a
// selected room's entities, and kicks players or closes rooms. Text from the server (names, rooms,
// reasons) only ever goes into textContent.
import {
  ADMIN_PATHS, type AdminEntitiesReply, type AdminRoom, type AdminRoomsReply, type AdminSession,
} from '../shared/protocol/admin.ts';

const TOKEN_KEY = 'tickwire.adminToken';
const POLL_MS = 1000;
/** Paths without the leading slash: the page works behind a proxy that serves it under a prefix. */
const rel = (path: string): string => path.replace(/^\//, '');

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`monitor page: no #${id}`);
  return el as T;
};

const ui = {
  status: $('status'),
  logout: $<HTMLButtonElement>('logout'),
  login: $<HTMLFormElement>('login'),
  token: $<HTMLInputElement>('token'),
  loginError: $('login-error'),
  main: $('main'),
  rooms: $<HTMLTableElement>('rooms'),
  roomsCount: $('rooms-count'),
  players: $<HTMLTableElement>('players'),
  playersCount: $('players-count'),
  entitiesSection: $('entities-section'),
  entitiesRoom: $('entities-room'),
  entitiesCount: $('entities-count'),
  entitiesClose: $<HTMLButtonElement>('entities-close'),
  entities: $<HTMLTableElement>('entities'),
};

let token = sessionStorage.getItem(TOKEN_KEY) ?? '';
let selectedRoom: string | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;
let polling = false;
let updates = 0;

/** Calls the admin API with the token; undefined after a 401 (the token is forgotten and asked for again). */
async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: T } | undefined> {
  const res = await fetch(rel(path), {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
    cache: 'no-store',
    credentials: 'omit',
    referrerPolicy: 'no-referrer',
  });
  if (res.status === 401) {
    askToken('The server refused that token.');
    return undefined;
  }
  const body = (await res.json().catch(() => ({ error: `HTTP ${res.status}` }))) as T;
  return { status: res.status, body };
}

function setStatus(text: string, error = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', error);
}

function askToken(message = ''): void {
  token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  ui.main.hidden = true;
  ui.logout.hidden = true;
  ui.login.hidden = false;
  ui.loginError.textContent = message;
  setStatus('locked');
  ui.token.value = '';
  ui.token.focus();
}

function start(): void {
  ui.login.hidden = true;
  ui.main.hidden = false;
  ui.logout.hidden = false;
  setStatus('connecting');
  void poll();
}

ui.login.addEventListener('submit', (e) => {
  e.preventDefault();
  token = ui.token.value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  ui.token.value = '';
  start();
});
ui.logout.addEventListener('click', () => askToken());
ui.entitiesClose.addEventListener('click', () => selectRoom(undefined));

/** One refresh: rooms and players, then the selected room's entities; schedules the next. */
async function poll(): Promise<void> {
  if (polling || !token) return;
  polling = true;
  try {
    const r = await api<AdminRoomsReply>(ADMIN_PATHS.rooms);
    if (!r) return;
    if (r.status !== 200) {
      setStatus(`GET ${ADMIN_PATHS.rooms}: ${errorOf(r.body)}`, true);
    } else {
      renderRooms(r.body);
      if (selectedRoom !== undefined) await refreshEntities(r.body);
      updates++;
      document.body.dataset.updates = String(updates);
      setStatus(`updated ${new Date().toLocaleTimeString()} · up ${duration(r.body.uptimeSec)} · ${r.body.sessions} sessions · ${r.body.rooms.length} rooms`);
    }
  } catch (err) {
    setStatus(`server unreachable: ${(err as Error).message}`, true);
  } finally {
    polling = false;
    if (token) {
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(() => void poll(), POLL_MS);
    }
  }
}

function errorOf(body: unknown): string {
  return typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string' ? (body as { error: string }).error : 'unexpected reply';
}

// ---- rendering: rows are keyed and updated in place, so buttons survive a refresh under the pointer

type Cell = string | { text: string; cls?: string } | ((td: HTMLTableCellElement) => void);

/** Makes `tbody` hold one row per item, in order, reusing the row with the same key. */
function syncRows<T>(tbody: HTMLTableSectionElement, items: readonly T[], key: (item: T) => string, attr: string, cells: (item: T) => Cell[], numeric: readonly boolean[]): void {
  const existing = new Map<string, HTMLTableRowElement>();
  for (const tr of Array.from(tbody.rows)) if (tr.dataset[attr] !== undefined) existing.set(tr.dataset[attr] as string, tr);
  const rows: HTMLTableRowElement[] = [];
  for (const item of items) {
    const k = key(item);
    let tr = existing.get(k);
    existing.delete(k);
    const values = cells(item);
    if (!tr || tr.cells.length !== values.length) {
      tr = document.createElement('tr');
      tr.dataset[attr] = k;
      for (let i = 0; i < values.length; i++) {
        const td = document.createElement('td');
        if (numeric[i]) td.className = 'num';
        tr.appendChild(td);
      }
    }
    values.forEach((v, i) => {
      const td = (tr as HTMLTableRowElement).cells[i];
      if (typeof v === 'function') v(td);
      else {
        const text = typeof v === 'string' ? v : v.text;
        if (td.textContent !== text) td.textContent = text;
        td.classList.toggle('warn', typeof v === 'object' && v.cls === 'warn');
        td.classList.toggle('bad', typeof v === 'object' && v.cls === 'bad');
      }
    });
    rows.push(tr);
  }
  rows.forEach((tr, i) => {
    if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] ?? null);
  });
  for (const tr of existing.values()) tr.remove();
  while (tbody.rows.length > rows.length) tbody.deleteRow(rows.length);
}

/** A cell holding buttons, created once per row. */
function buttons(specs: readonly { action: string; label: string; danger?: boolean; onClick: () => void }[]): Cell {
  return (td) => {
    for (const s of specs) {
      let b = td.querySelector<HTMLButtonElement>(`button[data-action="${s.action}"]`);
      if (!b) {
        b = document.createElement('button');
        b.type = 'button';
        b.dataset.action = s.action;
        b.textContent = s.label;
        if (s.danger) b.className = 'danger';
        td.appendChild(b);
      }
      if (b.textContent !== s.label) b.textContent = s.label;
      b.onclick = s.onClick;
    }
  };
}

function tags(list: readonly [string, boolean][]): Cell {
  return (td) => {
    const text = list.map(([t]) => t).join(' ');
    if (td.dataset.tags === text + list.map(([, on]) => (on ? '1' : '0')).join('')) return;
    td.dataset.tags = text + list.map(([, on]) => (on ? '1' : '0')).join('');
    td.replaceChildren(...list.flatMap(([t, on], i) => {
      const span = document.createElement('span');
      span.className = on ? 'tag on' : 'tag';
      span.textContent = t;
      return i === 0 ? [span] : [document.createTextNode(' '), span];
    }));
  };
}

function renderRooms(reply: AdminRoomsReply): void {
  const rooms = reply.rooms;
  ui.roomsCount.textContent = `${rooms.length}`;
  syncRows(ui.rooms.tBodies[0], rooms, (r) => r.name, 'room', (r: AdminRoom) => [
    r.name,
    r.game,
    `${r.players} / ${r.capacity}`,
    `${r.entities}`,
    `${r.tick}`,
    tags([[r.listed ? 'listed' : 'unlisted', r.listed], [r.matchmade ? 'matchmade' : 'owner only', r.matchmade], [r.awake ? 'awake' : 'asleep', r.awake]]),
    r.creator ? `${r.creator.name} (#${r.creator.sessionId}, ${r.creator.address})` : r.createdBy,
    `${r.snapshots.full} / ${r.snapshots.delta}`,
    `${r.inputs.applied} / ${r.inputs.repeated} / ${r.inputs.lost}`,
    buttons([
      { action: 'entities', label: selectedRoom === r.name ? 'Entities ✓' : 'Entities', onClick: () => selectRoom(r.name) },
      { action: 'close', label: 'Close room', danger: true, onClick: () => void closeRoom(r) },
    ]),
  ], [false, false, true, true, true, false, false, true, true, false]);
  for (const tr of Array.from(ui.rooms.tBodies[0].rows)) tr.classList.toggle('selected', tr.dataset.room === selectedRoom);
  if (rooms.length === 0) emptyRow(ui.rooms, 'no rooms');

  const players = rooms.flatMap((r) => r.sessions.map((s) => ({ room: r.name, s })));
  ui.playersCount.textContent = `${players.length}`;
  syncRows(ui.players.tBodies[0], players, (p) => String(p.s.sessionId), 'session', ({ room, s }: { room: string; s: AdminSession }) => [
    room,
    `${s.sessionId}`,
    s.name,
    s.transport,
    s.state,
    s.rttMs === null ? '—' : { text: `${s.rttMs.toFixed(1)} (${(s.lastRttMs ?? 0).toFixed(1)})`, cls: s.rttMs > 250 ? 'bad' : s.rttMs > 100 ? 'warn' : undefined },
    s.snapshotLoss.settled === 0 ? '—' : { text: `${(s.snapshotLoss.share * 100).toFixed(1)} % of ${s.snapshotLoss.settled}`, cls: s.snapshotLoss.share > 0.05 ? 'bad' : s.snapshotLoss.share > 0 ? 'warn' : undefined },
    `${s.inputs.repeated} / ${s.inputs.lost}`,
    bytes(s.bytesInPerSec),
    bytes(s.bytesOutPerSec),
    `${s.snapshots.full} / ${s.snapshots.delta}`,
    s.lastAckAgeMs === null ? '—' : { text: `${s.lastAckAgeMs} ms`, cls: s.lastAckAgeMs > 1000 ? 'bad' : undefined },
    buttons([{ action: 'kick', label: 'Kick', danger: true, onClick: () => void kick(s) }]),
  ], [false, true, false, false, false, true, true, true, true, true, true, true, false]);
  if (players.length === 0) emptyRow(ui.players, 'no players');
  if (selectedRoom !== undefined && !rooms.some((r) => r.name === selectedRoom)) {
    ui.entitiesCount.textContent = 'room closed';
    ui.entities.tBodies[0].replaceChildren();
  }
}

function emptyRow(table: HTMLTableElement, text: string): void {
  const tr = table.tBodies[0].insertRow();
  const td = tr.insertCell();
  td.colSpan = table.tHead?.rows[0]?.cells.length ?? 1;
  td.className = 'empty';
  td.textContent = text;
}

function bytes(perSec: number): string {
  return perSec >= 10_000 ? `${(perSec / 1000).toFixed(1)} k` : `${Math.round(perSec)}`;
}

function duration(sec: number): string {
  return sec >= 3600 ? `${Math.floor(sec / 3600)} h ${Math.floor((sec % 3600) / 60)} min` : sec >= 60 ? `${Math.floor(sec / 60)} min ${sec % 60} s` : `${sec} s`;
}

// ---- the entity table of the selected room

function selectRoom(name: string | undefined): void {
  selectedRoom = name;
  ui.entitiesSection.hidden = name === undefined;
  ui.entitiesRoom.textContent = name ?? '';
  ui.entitiesCount.textContent = '';
  ui.entities.tHead?.replaceChildren();
  ui.entities.tBodies[0].replaceChildren();
  if (timer !== undefined) clearTimeout(timer);
  void poll();
}

async function refreshEntities(rooms: AdminRoomsReply): Promise<void> {
  const name = selectedRoom;
  if (name === undefined || !rooms.rooms.some((r) => r.name === name)) return;
  const r = await api<AdminEntitiesReply>(`${ADMIN_PATHS.entities}?room=${encodeURIComponent(name)}`);
  if (!r || name !== selectedRoom) return;
  if (r.status !== 200) {
    ui.entitiesCount.textContent = errorOf(r.body);
    return;
  }
  const e = r.body;
  ui.entitiesCount.textContent = `tick ${e.tick} · ${e.shown === e.count ? `${e.count} entities` : `first ${e.shown} of ${e.count} entities`}`;
  const head = ui.entities.tHead as HTMLTableSectionElement;
  const columns = ['id', 'player', ...e.columns];
  if (head.rows[0]?.cells.length !== columns.length || head.dataset.columns !== columns.join(',')) {
    head.dataset.columns = columns.join(',');
    const tr = document.createElement('tr');
    columns.forEach((c, i) => {
      const th = document.createElement('th');
      th.textContent = c;
      if (i !== 1) th.className = 'num';
      tr.appendChild(th);
    });
    head.replaceChildren(tr);
    ui.entities.tBodies[0].replaceChildren();
  }
  syncRows(ui.entities.tBodies[0], e.entities, (x) => String(x.id), 'eid', (x) => [
    `${x.id}`,
    x.sessionId === null ? '' : `#${x.sessionId}`,
    ...x.values.map((v) => (v === null ? '·' : formatValue(v))),
  ], columns.map((_, i) => i !== 1));
}

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 100 ? 2 : 4).replace(/0+$/, '').replace(/\.$/, '');
}

// ---- actions

async function kick(s: AdminSession): Promise<void> {
  const reason = prompt(`Kick ${s.name} (session ${s.sessionId})? Reason sent to the player:`, 'kicked by an operator');
  if (reason === null) return;
  await act(`kick ${s.name}`, ADMIN_PATHS.kick, { sessionId: s.sessionId, reason }, `kicked session ${s.sessionId} (${s.name})`);
}

async function closeRoom(room: AdminRoom): Promise<void> {
  const reason = prompt(`Close room ${room.name} and end its ${room.players} sessions? Reason sent to every player:`, 'room closed by an operator');
  if (reason === null) return;
  await act(`close ${room.name}`, ADMIN_PATHS.closeRoom, { room: room.name, reason }, `closed room ${room.name}`);
}

/** POSTs an action, says how it went, and refreshes soon after (it takes effect within a tick). */
async function act(what: string, path: string, body: unknown, done: string): Promise<void> {
  try {
    const r = await api<unknown>(path, { method: 'POST', body });
    if (!r) return;
    setStatus(r.status === 200 ? done : `${what} failed: ${errorOf(r.body)}`, r.status !== 200);
  } catch (err) {
    setStatus(`${what} failed: ${(err as Error).message}`, true);
  }
  setTimeout(() => void poll(), 150);
}

if (token) start();
else askToken();
