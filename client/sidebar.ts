// The page around the canvas: the players table (names, and the game's score and mark when it
// declares a scoreboard), the feed of chat and game events, and the chat box (Enter to type, Enter
// to send, Escape to leave it).
import type { Scoreboard } from '../shared/sim/view.ts';
import type { Roster } from './roster.ts';

/** Most lines kept in the feed. */
const FEED_LINES = 40;

/** Reads a networked field of an entity as drawn (GameRenderer.field). */
export type FieldReader = (eid: number, name: string) => number | undefined;

interface Row {
  tr: HTMLTableRowElement;
  name: HTMLTableCellElement;
  mark: HTMLTableCellElement;
  score: HTMLTableCellElement;
}

/** The players table, the feed and the chat box. */
export class Sidebar {
  private readonly body: HTMLTableSectionElement;
  private readonly rows: Row[] = [];

  constructor(
    private readonly table: HTMLTableElement,
    private readonly feed: HTMLElement,
    input: HTMLInputElement,
    private readonly board: Scoreboard | undefined,
    /** Sends a chat line; false when it could not be sent (not connected). */
    send: (text: string) => boolean,
  ) {
    const head = table.createTHead().insertRow();
    for (const text of ['player', '', board ? board.title ?? 'score' : '']) {
      const th = document.createElement('th');
      th.textContent = text;
      head.append(th);
    }
    this.body = table.createTBody();
    globalThis.addEventListener('keydown', (e) => {
      if (e.code !== 'Enter' || document.activeElement === input) return;
      const t = e.target;
      if (t instanceof HTMLInputElement && t.type !== 'checkbox') return;
      e.preventDefault();
      input.focus();
    });
    input.addEventListener('keydown', (e) => {
      if (e.code === 'Escape') {
        input.blur();
        return;
      }
      if (e.code !== 'Enter' && e.code !== 'NumpadEnter') return;
      e.preventDefault();
      const text = input.value.trim();
      if (text && send(text)) input.value = '';
      input.blur();
    });
  }

  /** Adds a line to the feed: `kind` is chat, event or system (a CSS class). */
  line(kind: 'chat' | 'event' | 'system', text: string, who?: string): void {
    const div = document.createElement('div');
    div.className = kind;
    if (who !== undefined) {
      const b = document.createElement('b');
      b.textContent = `${who}: `;
      div.append(b);
    }
    div.append(text);
    this.feed.append(div);
    while (this.feed.childElementCount > FEED_LINES) this.feed.firstElementChild?.remove();
    this.feed.scrollTop = this.feed.scrollHeight;
  }

  /** Refreshes the players table (a few times a second). */
  update(roster: Roster, field: FieldReader, selfEid: number): void {
    const board = this.board;
    const players = roster.players();
    const score = (eid: number): number => (board ? field(eid, board.field) ?? 0 : 0);
    if (board) players.sort((a, b) => score(b.eid) - score(a.eid) || a.name.localeCompare(b.name));
    while (this.rows.length < players.length) {
      const tr = this.body.insertRow();
      this.rows.push({ tr, name: tr.insertCell(), mark: tr.insertCell(), score: tr.insertCell() });
    }
    for (let i = 0; i < this.rows.length; i++) {
      const row = this.rows[i];
      const p = players[i];
      row.tr.hidden = p === undefined;
      if (!p) continue;
      set(row.name, p.name);
      set(row.mark, board?.mark && (field(p.eid, board.mark.field) ?? 0) !== 0 ? board.mark.text : '');
      set(row.score, board ? String(score(p.eid)) : '');
      row.tr.className = p.eid === selfEid ? 'self' : '';
      row.tr.dataset.eid = String(p.eid);
    }
    this.table.hidden = players.length === 0;
  }
}

function set(cell: HTMLElement, text: string): void {
  if (cell.textContent !== text) cell.textContent = text;
}
