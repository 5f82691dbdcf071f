// Who is in the room: player names by entity id, from the server's `joined`, `roster` and `left` messages
// (and the page's own name for its own entity), for names over heads, the score table and events.
import type { RosterPlayer, ServerControl } from '../shared/protocol/control.ts';

/** One player the page knows of. */
export type RosterEntry = Readonly<RosterPlayer>;

/** Players of the room by session and by entity id. */
export class Roster {
  private readonly bySession = new Map<number, RosterEntry>();
  private readonly byEid = new Map<number, string>();
  private selfEid = -1;
  private selfName = '';
  /** Bumped on every change (the score table rebuilds its rows then). */
  version = 0;

  /** The page's own player (the server does not send a `joined` of oneself). */
  setSelf(eid: number, name: string): void {
    this.selfEid = eid;
    this.selfName = name;
    this.version++;
  }

  /** Takes `joined`, `roster` (its players and its `left`) and `left`; ignores every other message. */
  onControl(msg: ServerControl): void {
    if (msg.t === 'joined') this.add(msg);
    else if (msg.t === 'roster') {
      for (const p of msg.players) this.add(p);
      if (msg.left) for (const id of msg.left) this.remove(id);
    } else if (msg.t === 'left') this.remove(msg.sessionId);
  }

  private remove(sessionId: number): void {
    const old = this.bySession.get(sessionId);
    if (!old) return;
    this.bySession.delete(sessionId);
    if (this.byEid.get(old.eid) === old.name) this.byEid.delete(old.eid);
    this.version++;
  }

  private add(p: RosterEntry): void {
    const old = this.bySession.get(p.sessionId);
    if (old) this.byEid.delete(old.eid);
    this.bySession.set(p.sessionId, { sessionId: p.sessionId, name: p.name, eid: p.eid });
    this.byEid.set(p.eid, p.name);
    this.version++;
  }

  /** Forgets everyone (a new connection). */
  clear(): void {
    this.bySession.clear();
    this.byEid.clear();
    this.selfEid = -1;
    this.selfName = '';
    this.version++;
  }

  /** The name of the player of session `sessionId`, if known. */
  sessionName(sessionId: number): string | undefined {
    return this.bySession.get(sessionId)?.name;
  }

  /** The name of the player whose entity `eid` is, if it is one (bound: hand it around as is). */
  readonly name = (eid: number): string | undefined => (eid === this.selfEid && eid >= 0 ? this.selfName : this.byEid.get(eid));

  /** Every player, the page's own first. */
  players(): RosterEntry[] {
    const out: RosterEntry[] = [];
    if (this.selfEid >= 0) out.push({ sessionId: -1, name: this.selfName, eid: this.selfEid });
    for (const e of this.bySession.values()) out.push(e);
    return out;
  }
}
