// The fuzzer against running servers: the inbox dispatch in-process (fake clock, every message
// timed), a real WebSocket and WebRTC client sending mutated messages, and raw HTTP requests to the
// HTTP and signaling ports. Checks that nothing throws, ticks go on and no bug is logged.
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import WebSocket from 'ws';
import { arena } from '../../games/arena.ts';
import { loadServerConfig, type ServerConfig } from '../../server/config.ts';
import { FakeClock } from '../../server/loop.ts';
import { LoopbackTransport, type LoopbackPeer } from '../../server/net/loopback.ts';
import { TickwireServer, type ServerHooks } from '../../server/server.ts';
import type { Session } from '../../server/sessions.ts';
import { configHash, PROTOCOL_VERSION } from '../../shared/config.ts';
import type { AnyGame } from '../../shared/sim/game.ts';
import { BitReader } from '../../shared/protocol/bits.ts';
import { decodeClientControl, decodeServerControl, encodeControl, type ServerControl } from '../../shared/protocol/control.ts';
import { createViewClaims, readViewClaims } from '../../shared/protocol/view-claim.ts';
import { createCameraMessage, readCamera } from '../../shared/protocol/camera.ts';
import { DecodeError } from '../../shared/protocol/errors.ts';
import { createInputPacket, readInputPacket, type InputPacket } from '../../shared/protocol/input.ts';
import { readSnapshotAck } from '../../shared/protocol/snapshot.ts';
import { MsgType } from '../../shared/protocol/ids.ts';
import { connectGeckos, loadGeckosClient, type GeckosClientConnection } from '../../tools/node-client/rtc.ts';
import { addFailure, describe, loadCorpus, newReport, timed, withoutStacks, TOKEN_PLACEHOLDER, type FuzzReport, type FuzzRunOptions } from './fuzz-targets.ts';
import { Mutator } from './mutate.ts';

/** The message the server logs for an exception that is not a DecodeError while handling a client message. */
export const BUG_LOG_MESSAGE = 'bug while handling a client message';

/** Error-level log lines of a server, captured in memory. */
export interface LogCapture {
  /** A pino logger writing error-level lines (and above) here. */
  readonly logger: Logger;
  /** Every captured line, parsed. */
  readonly lines: { level: number; msg: string; err?: { message?: string; stack?: string } }[];
  /** Lines saying a client message hit a bug. */
  bugs(): number;
}

/** A pino logger that keeps error-level lines in memory. */
export function captureLog(): LogCapture {
  const lines: LogCapture['lines'] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        try {
          lines.push(JSON.parse(line) as LogCapture['lines'][number]);
        } catch {
          lines.push({ level: 60, msg: line });
        }
      }
      done();
    },
  });
  const logger = pino({ level: 'error', base: null }, stream);
  return { logger, lines, bugs: () => lines.filter((l) => l.msg === BUG_LOG_MESSAGE).length };
}

/** Config of a fuzzed server: limits raised so one client can send every input without being cut off. */
export function fuzzServerConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return loadServerConfig({}, {
    port: 0, signalingPort: 0, webrtc: false, logLevel: 'error', gameParams: { npcs: 8 }, maxRooms: 8,
    maxBadMessages: 1_000_000, maxMessagesPerSec: 100_000, ...overrides,
  });
}

/** A game's relay of client events to the room, as games typically do: whatever the decoder accepted must be sendable. */
function relayEvents(): ServerHooks {
  return {
    onEvent(server, session, name, data) {
      if (!session.room) return;
      for (const p of session.room.players) {
        const to = server.sessions.get(p.id);
        if (to) server.sendControl(to, { t: 'event', name, data, from: session.id });
      }
    },
  };
}

/** A started server with its captured log. */
export interface FuzzServer {
  readonly srv: TickwireServer;
  readonly log: LogCapture;
}

/** Starts a real server on 127.0.0.1 (ephemeral ports) with a captured log and an event-relaying hook. */
export async function startFuzzServer(overrides: Partial<ServerConfig> = {}, game: AnyGame = arena): Promise<FuzzServer> {
  const log = captureLog();
  const srv = new TickwireServer(fuzzServerConfig(overrides), { game, logger: log.logger, hooks: relayEvents() });
  await srv.start();
  return { srv, log };
}

/** Report of a fuzz run against the inbox or a live server. */
export interface LiveReport extends FuzzReport {
  /** Messages the server counted as malformed (decodeErrors total) during the run. */
  dropped: number;
  /** Times the fuzzing client had to join again (left, kicked, resumed away, closed). */
  rejoins: number;
  /** Ticks the server ran during the run. */
  ticks: number;
  /** Messages the server received during the run (on the fuzzed channel). */
  delivered: number;
}

/** One line summarising a live report (the inbox run also has per-input timings). */
export function summarizeLive(r: LiveReport): string {
  const timing = r.target === 'inbox' ? `, max ${r.maxMs.toFixed(2)} ms per message (raw ${r.rawMaxMs.toFixed(2)} ms, ${r.retimed} re-timed)` : '';
  return `${r.target}: ${r.inputs} messages in ${(r.elapsedMs / 1000).toFixed(1)} s (${r.elapsedMs > 0 ? Math.round((r.inputs / r.elapsedMs) * 1000) : 0}/s), delivered ${r.delivered}, dropped as malformed ${r.dropped}, rejoins ${r.rejoins}, ticks ${r.ticks}${timing}, failures ${r.failureCount}`;
}

/** One line summarising an HTTP report. */
export function summarizeHttp(r: HttpReport): string {
  const statuses = Object.entries(r.statuses).map(([k, v]) => `${k}:${v}`).join(' ');
  return `${r.target}: ${r.sent} requests in ${(r.elapsedMs / 1000).toFixed(1)} s, answered ${r.responded} (${statuses}), closed without answer ${r.closedWithoutReply}, no answer in time ${r.timedOut}, slowest answer ${r.maxReplyMs.toFixed(0)} ms`;
}

function decodeErrorTotal(srv: TickwireServer): number {
  const d = srv.stats.decodeErrors;
  return d.control + d.input + d.ack + d.view + d.camera + d.unknown;
}

/** The server counters a live fuzz run reports, read at its start; `finish` fills the report's window figures. */
function liveWindow(srv: TickwireServer, channel: 'ws' | 'webrtc'): { finish(r: LiveReport): LiveReport } {
  const ticks0 = srv.stats.ticks;
  const dropped0 = decodeErrorTotal(srv);
  const delivered0 = srv.stats.messagesIn[channel];
  const t0 = performance.now();
  return {
    finish(r: LiveReport): LiveReport {
      r.elapsedMs = performance.now() - t0;
      r.ticks = srv.stats.ticks - ticks0;
      r.dropped = decodeErrorTotal(srv) - dropped0;
      r.delivered = srv.stats.messagesIn[channel] - delivered0;
      return r;
    },
  };
}

function newLiveReport(target: string): LiveReport {
  return { ...newReport(target), dropped: 0, rejoins: 0, ticks: 0, delivered: 0 };
}

const te = new TextEncoder();
const tokenBytes = te.encode(TOKEN_PLACEHOLDER);

/** Replaces the first occurrence of the token placeholder in `bytes` with `token` (same length); returns whether it did. */
export function patchToken(bytes: Uint8Array, token: string): boolean {
  outer: for (let i = 0; i + tokenBytes.length <= bytes.length; i++) {
    for (let k = 0; k < tokenBytes.length; k++) if (bytes[i + k] !== tokenBytes[k]) continue outer;
    bytes.set(te.encode(token), i);
    return true;
  }
  return false;
}

/** Corpus of the server-level targets: messages a client sends, and the handshake messages. */
export interface ServerCorpus {
  /** Messages an active player sends (control, inputs, acks, junk). */
  readonly player: readonly Uint8Array[];
  /** First messages of a connection (hello, resume). */
  readonly handshake: readonly Uint8Array[];
}

/** Handshake seeds are the client control files named seed-hello* and seed-resume*. */
const HANDSHAKE_FILE = /^seed-(hello|resume)/;

/**
 * The server targets' corpus for a game: client control messages, the game's input packets, acks
 * and test/corpus/server/ (junk and crash regressions) as player messages; hello and resume seeds
 * as first messages of a connection.
 */
export function serverCorpus(game: AnyGame = arena): ServerCorpus {
  const control = loadCorpus('control-client');
  return {
    player: [...control.filter((e) => !HANDSHAKE_FILE.test(e.name)), ...loadCorpus(`input-${game.name}`), ...loadCorpus('ack'), ...loadCorpus('view'), ...loadCorpus('server')].map((e) => e.bytes),
    handshake: control.filter((e) => HANDSHAKE_FILE.test(e.name)).map((e) => e.bytes),
  };
}

/** A loopback client of the inbox fuzzer and the session the server made of it. */
interface FuzzPlayer {
  readonly peer: LoopbackPeer;
  readonly session: Session | undefined;
}

/**
 * Feeds the real server's inbound dispatch in-process: a fake clock, no loop, messages sent by
 * loopback clients through the real admission and inbox and drained one at a time (each drain
 * timed), ticks run every 64 inputs. One player session receives most inputs; a quarter go to
 * brand-new connections as their first message.
 */
export class InboxFuzzer {
  private player: FuzzPlayer | undefined;
  private readonly helloBytes: Uint8Array;
  private readonly packet: InputPacket;
  private readonly reader = new BitReader();
  private readonly ack = { tick: 0, bits: 0 };
  private readonly claims = createViewClaims();
  private readonly camera = createCameraMessage();

  private constructor(
    readonly srv: TickwireServer,
    readonly log: LogCapture,
    private readonly clock: FakeClock,
    private readonly loop: LoopbackTransport,
  ) {
    this.helloBytes = encodeControl({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(srv.game), name: 'fuzz' });
    this.packet = createInputPacket(srv.schema);
  }

  /** Starts a server driven by hand (autoTick off, fake clock). */
  static async start(game: AnyGame = arena, overrides: Partial<ServerConfig> = {}): Promise<InboxFuzzer> {
    const log = captureLog();
    const clock = new FakeClock(1000);
    const srv = new TickwireServer(fuzzServerConfig({ resumeGraceMs: 0, ...overrides }), { game, logger: log.logger, hooks: relayEvents(), autoTick: false, clock });
    const loop = new LoopbackTransport({ reliable: true, manual: true, nowMs: () => clock.nowMs() });
    srv.startInProcess(loop);
    return new InboxFuzzer(srv, log, clock, loop);
  }

  /** Stops the server. */
  stop(): Promise<void> {
    return this.srv.stop();
  }

  /** A new loopback connection, admitted and open on both ends. */
  private open(): LoopbackPeer {
    const peer = this.loop.connect({ remoteAddress: '127.0.0.1' });
    this.loop.pump();
    return peer;
  }

  /** Sends `bytes` from `peer` and delivers them to the server's inbox (not yet drained). */
  private send(peer: LoopbackPeer, bytes: Uint8Array): void {
    peer.send(bytes);
    this.loop.pump();
  }

  /** Closes `peer` and delivers the close to the server's inbox (not yet drained). */
  private close(peer: LoopbackPeer): void {
    peer.close();
    this.loop.pump();
  }

  /** Opens a connection and sends `first` (a hello); returns it with the session the server made. */
  private connect(first: Uint8Array): FuzzPlayer {
    const peer = this.open();
    this.send(peer, first);
    this.srv.inbound.drain();
    return { peer, session: this.srv.conns.get(peer.connId)?.session };
  }

  /**
   * Times one hello from a new connection (asking for `room`, which creates that room if it does
   * not exist), then closes the connection. Returns the wall-clock and process CPU time of the
   * hello's drain, ms (CPU time is what the hello cost, whatever else the machine was doing).
   */
  timeHello(room?: string): { ms: number; cpuMs: number } {
    const hello = encodeControl({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(this.srv.game), name: 'timed', ...(room ? { room } : {}) });
    const peer = this.open();
    this.srv.inbound.drain();
    this.send(peer, hello);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    this.srv.inbound.drain();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    this.close(peer);
    this.srv.inbound.drain();
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
  }

  private activePlayer(r: LiveReport): FuzzPlayer & { session: Session } {
    const p = this.player;
    if (p?.session && p.session.state === 'active' && p.session.reliable?.id === p.peer.connId) return p as FuzzPlayer & { session: Session };
    if (p) {
      r.rejoins++;
      p.peer.close();
    }
    const next = this.connect(this.helloBytes);
    this.player = next;
    if (!next.session || next.session.state !== 'active') throw new Error(`fuzz player could not join: ${next.session?.state ?? 'no session'}`);
    return next as FuzzPlayer & { session: Session };
  }

  /** True when the pure decoders reject `bytes` whatever the session's state (the server must drop and count it). */
  private rejects(bytes: Uint8Array): boolean {
    try {
      switch (bytes[0]) {
        case MsgType.Control:
          decodeClientControl(bytes);
          return false;
        case MsgType.Input:
          readInputPacket(this.reader, bytes, this.srv.schema, this.packet);
          return false;
        case MsgType.SnapshotAck:
          readSnapshotAck(bytes, this.ack);
          return false;
        case MsgType.ViewClaim:
          readViewClaims(bytes, this.claims);
          return false;
        case MsgType.Camera:
          readCamera(bytes, this.camera);
          return false;
        default:
          return true; // empty, snapshots from a client, unknown types
      }
    } catch (err) {
      if (err instanceof DecodeError) return true;
      throw err;
    }
  }

  /** Runs the corpus and `o.inputs` mutated messages through the inbox. */
  async run(corpus: ServerCorpus, o: FuzzRunOptions): Promise<LiveReport> {
    const r = newLiveReport('inbox');
    const srv = this.srv;
    const slowMs = o.slowMs ?? 5;
    const retimes = o.retimes ?? 3;
    const maxFailures = o.maxFailures ?? 20;
    const total = o.inputs ?? 100_000;
    const deadline = o.durationMs !== undefined ? performance.now() + o.durationMs : Infinity;
    const all = [...corpus.player, ...corpus.handshake];
    const m = new Mutator({ seed: o.seed, maxBytes: srv.config.wsMaxPayloadBytes });
    const stepMs = 1000 / srv.config.net.tickRateHz;
    const counters = liveWindow(srv, 'ws');
    let threw: unknown;

    const drain = (): void => {
      try {
        srv.inbound.drain();
      } catch (err) {
        threw = err;
      }
    };
    const feed = (bytes: Uint8Array, handshake: boolean): void => {
      const player = this.activePlayer(r);
      const mustDrop = !handshake && this.rejects(bytes);
      const bugs0 = this.log.bugs();
      const errs0 = decodeErrorTotal(srv);
      threw = undefined;
      const once = (): void => {
        if (handshake) {
          // a new connection: its first message, then it closes (whoever it carries by then: the
          // new session, or a session it resumed)
          const peer = this.open();
          this.send(peer, bytes);
          drain();
          this.close(peer);
          drain();
        } else {
          this.send(player.peer, bytes);
          drain();
        }
      };
      r.inputs++;
      const ms = timed(once, slowMs, retimes, r);
      if (ms > r.maxMs) r.maxMs = ms;
      if (decodeErrorTotal(srv) > errs0) r.rejected++;
      else r.accepted++;
      if (mustDrop && decodeErrorTotal(srv) === errs0) addFailure(r, maxFailures, 'check', 'a message the decoders reject was not counted as a decode error', bytes, 0);
      if (ms > slowMs) addFailure(r, maxFailures, 'slow', `${handshake ? 'handshake' : 'message'} took ${ms.toFixed(2)} ms (> ${slowMs} ms)`, bytes, ms);
      if (threw !== undefined) addFailure(r, maxFailures, 'inbox-threw', `drainNetEvents threw ${describe(threw)}`, bytes, ms);
      if (this.log.bugs() > bugs0) addFailure(r, maxFailures, 'bug-log', lastBug(this.log), bytes, ms);
    };

    const ack = (): void => {
      const p = this.player;
      if (p?.session && p.session.state === 'active' && p.session.reliable?.id === p.peer.connId) {
        this.send(p.peer, encodeControl({ t: 'ack', a: p.session.reliableOut.next - 1 }));
        drain();
      }
    };
    const tick = (): void => {
      this.clock.advance(stepMs);
      try {
        srv.tickOnce();
      } catch (err) {
        addFailure(r, maxFailures, 'tick-threw', describe(err), new Uint8Array(0), 0);
      }
    };

    withoutStacks(o.stackTraces, () => {
      for (const bytes of corpus.player) feed(bytes, false);
      for (const bytes of corpus.handshake) feed(bytes, true);
    });
    for (let i = 0; i < total && performance.now() < deadline; ) {
      // stacks stay off only inside a synchronous stretch, never across the await
      withoutStacks(o.stackTraces, () => {
        for (const end = Math.min(total, i + 1024); i < end; i++) {
          const handshake = m.int(4) === 0 && corpus.handshake.length > 0;
          const bytes = m.mutate(handshake ? m.choose(corpus.handshake) : m.choose(corpus.player), all).slice();
          if (m.int(2) === 0 && this.player?.session) patchToken(bytes, this.player.session.token);
          feed(bytes, handshake);
          if ((i & 63) === 63) tick();
          if ((i & 255) === 255) ack();
        }
      });
      await new Promise((res) => setImmediate(res));
    }
    return counters.finish(r);
  }
}

function lastBug(log: LogCapture): string {
  const line = [...log.lines].reverse().find((l) => l.msg === BUG_LOG_MESSAGE);
  return `server logged "${BUG_LOG_MESSAGE}": ${line?.err?.message ?? 'no error message'}`;
}

// ---- a real client over the WebSocket and WebRTC ----

/** A joined raw WebSocket client. */
interface RawClient {
  readonly ws: WebSocket;
  readonly welcome: Extract<ServerControl, { t: 'welcome' }>;
  /** Close code once closed, else 0. */
  closeCode(): number;
}

async function joinRaw(port: number, game: AnyGame, wsOnly: boolean, timeoutMs = 5000): Promise<RawClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  let code = 0;
  let welcome: Extract<ServerControl, { t: 'welcome' }> | undefined;
  ws.on('message', (d: Buffer) => {
    if (d[0] !== MsgType.Control || welcome) return;
    try {
      const m = decodeServerControl(new Uint8Array(d));
      if (m.t === 'welcome') welcome = m;
    } catch {
      // the fuzzing client does not care
    }
  });
  ws.on('close', (c) => {
    code = c || 1005;
  });
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(encodeControl({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(game), name: 'fuzz', wsOnly }));
  const deadline = Date.now() + timeoutMs;
  while (!welcome) {
    if (code || Date.now() > deadline) {
      ws.terminate();
      throw new Error(`fuzz client got no welcome (close code ${code})`);
    }
    await sleep(5);
  }
  return { ws, welcome, closeCode: () => code };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(2);
  }
  return true;
}

/** Options of a live fuzz run. */
export interface LiveRunOptions extends FuzzRunOptions {
  /** Messages sent before waiting for the server to take them. Default 100. */
  batch?: number;
  /** Sees every message as it is sent (e.g. to keep the last few for a crash report). */
  onSend?: (bytes: Uint8Array) => void;
}

/**
 * Sends mutated messages from a joined client over a real WebSocket, in batches, waiting after each
 * for the server's inbox to take them. Joins again whenever the server closes the connection. A
 * batch after which the server logged a bug is replayed message by message to find the culprit.
 */
export async function fuzzWebSocket(fs: FuzzServer, corpus: readonly Uint8Array[], o: LiveRunOptions): Promise<LiveReport> {
  const { srv, log } = fs;
  const r = newLiveReport('ws');
  const port = srv.http!.port;
  const total = o.inputs ?? 20_000;
  const batchSize = o.batch ?? 100;
  const maxFailures = o.maxFailures ?? 20;
  const deadline = o.durationMs !== undefined ? Date.now() + o.durationMs : Infinity;
  const m = new Mutator({ seed: o.seed, maxBytes: srv.config.wsMaxPayloadBytes });
  const counters = liveWindow(srv, 'ws');
  let client: RawClient | undefined;
  const open = (): boolean => client !== undefined && client.ws.readyState === WebSocket.OPEN;

  const sendBatch = async (batch: readonly Uint8Array[]): Promise<void> => {
    if (!open()) {
      if (client) r.rejoins++;
      client?.ws.terminate();
      client = await joinRaw(port, srv.game, true);
    }
    const c = client!;
    const m0 = srv.stats.messagesIn.ws;
    let sent = 0;
    for (const bytes of batch) {
      if (c.ws.readyState !== WebSocket.OPEN) break;
      // one in a hundred goes out as a text frame, which the server must refuse as well
      o.onSend?.(bytes);
      if (bytes.length > 0 && bytes[0] === 0x7b) c.ws.send(Buffer.from(bytes).toString('latin1'));
      else c.ws.send(bytes);
      sent++;
    }
    await until(() => srv.stats.messagesIn.ws >= m0 + sent || c.closeCode() !== 0, 3000);
  };

  const inputs: Uint8Array[] = [...corpus];
  while (r.inputs < total + corpus.length && Date.now() < deadline) {
    while (inputs.length < batchSize) {
      const bytes = m.mutate(m.choose(corpus), corpus).slice();
      if (m.int(100) === 0 && bytes.length > 0) bytes[0] = 0x7b; // '{' marks a text frame
      inputs.push(bytes);
    }
    const batch = inputs.splice(0, batchSize);
    const bugs0 = log.bugs();
    await sendBatch(batch);
    r.inputs += batch.length;
    if (log.bugs() > bugs0) {
      for (const bytes of batch) {
        const b0 = log.bugs();
        await sendBatch([bytes]);
        await sleep(30); // a tick or two
        if (log.bugs() > b0) addFailure(r, maxFailures, 'bug-log', lastBug(log), bytes, 0);
      }
      if (r.failureCount === 0) addFailure(r, maxFailures, 'bug-log', `${lastBug(log)} (culprit not reproduced alone)`, batch[0], 0);
    }
  }
  client?.ws.terminate();
  counters.finish(r);
  r.accepted = r.delivered - r.dropped;
  r.rejected = r.dropped;
  return r;
}

/**
 * Sends mutated messages from a joined client over a real WebRTC datachannel (geckos.io through
 * node-datachannel), in batches. Datagrams may be lost, so each batch waits for most to arrive.
 */
export async function fuzzWebRtc(fs: FuzzServer, corpus: readonly Uint8Array[], o: LiveRunOptions): Promise<LiveReport> {
  const { srv, log } = fs;
  if (!srv.rtc) throw new Error('server has no WebRTC transport');
  const r = newLiveReport('rtc');
  const total = o.inputs ?? 2000;
  const batchSize = o.batch ?? 50;
  const maxFailures = o.maxFailures ?? 20;
  const deadline = o.durationMs !== undefined ? Date.now() + o.durationMs : Infinity;
  const m = new Mutator({ seed: o.seed, maxBytes: srv.config.wsMaxPayloadBytes });
  const factory = await loadGeckosClient();
  const counters = liveWindow(srv, 'webrtc');
  let client: RawClient | undefined;
  let channel: GeckosClientConnection | undefined;
  let channelOpen = false;

  const connectBoth = async (): Promise<void> => {
    channel?.close();
    client?.ws.terminate();
    client = await joinRaw(srv.http!.port, srv.game, false);
    const session = srv.sessions.get(client.welcome.sessionId);
    channel = await connectGeckos(factory, { url: 'http://127.0.0.1', port: client.welcome.signalingPort, token: client.welcome.token, timeoutMs: 5000 });
    channelOpen = true;
    channel.onClose(() => {
      channelOpen = false;
    });
    if (!(await until(() => session?.unreliable !== undefined, 3000))) throw new Error('server never saw the WebRTC channel open');
  };

  const inputs: Uint8Array[] = [...corpus];
  while (r.inputs < total + corpus.length && Date.now() < deadline) {
    if (!channel || !channelOpen || !client || client.ws.readyState !== WebSocket.OPEN) {
      if (channel) r.rejoins++;
      await connectBoth();
    }
    while (inputs.length < batchSize) inputs.push(m.mutate(m.choose(corpus), corpus).slice());
    const batch = inputs.splice(0, batchSize);
    const bugs0 = log.bugs();
    const m0 = srv.stats.messagesIn.webrtc;
    let sent = 0;
    for (const bytes of batch) {
      // an empty datagram is not sent by the stack
      if (bytes.length > 0) {
        o.onSend?.(bytes);
        channel!.send(bytes);
        sent++;
      }
    }
    await until(() => srv.stats.messagesIn.webrtc >= m0 + sent, 300);
    r.inputs += batch.length;
    if (log.bugs() > bugs0) addFailure(r, maxFailures, 'bug-log', lastBug(log), batch[0], 0);
  }
  channel?.close();
  client?.ws.terminate();
  counters.finish(r);
  r.accepted = r.delivered - r.dropped;
  r.rejected = r.dropped;
  return r;
}

// ---- raw HTTP requests ----

/** Report of an HTTP fuzz run. */
export interface HttpReport {
  target: string;
  /** Requests sent. */
  sent: number;
  /** Requests answered with a status line. */
  responded: number;
  /** Answers by status code ('400', '404', ...). */
  statuses: Record<string, number>;
  /** Connections the server closed without answering (it refused to parse the request). */
  closedWithoutReply: number;
  /** Requests with no answer within replyTimeoutMs (e.g. waiting for a body that never came); then closed by us. */
  timedOut: number;
  /** Slowest answer, ms (includes the loopback round trip and event-loop sharing with the server). */
  maxReplyMs: number;
  elapsedMs: number;
}

/** Options of an HTTP fuzz run. */
export interface HttpRunOptions {
  /** Target name for the report. */
  name: string;
  port: number;
  seed: number;
  /** Mutated requests after the corpus. */
  inputs: number;
  /** Stop after this long, ms. Default unbounded. */
  durationMs?: number;
  /** Requests in flight at once. Default 16. */
  concurrency?: number;
  /** How long to wait for an answer before giving up, ms. Default 1000. */
  replyTimeoutMs?: number;
  /** How long after sending the request to half-close the connection if no answer came, ms. Default 50. */
  halfCloseMs?: number;
  /** Largest mutated request, bytes. Default 8192. */
  maxBytes?: number;
  /** Turns a mutated request into what is sent (placeholders to live values). Default identity. */
  prepare?: (bytes: Uint8Array) => Uint8Array;
  /** Sees every answer (status, and as much of the head and body as arrived). */
  onAnswer?: (status: number, text: string) => void;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/**
 * Mutates a request: half the time the whole request (line, headers, body), half the time only the
 * body (see mutateBody).
 */
export function mutateRequest(m: Mutator, seed: Uint8Array, corpus: readonly Uint8Array[]): Uint8Array {
  return m.int(2) === 0 ? m.mutate(seed, corpus).slice() : mutateBody(m, seed, corpus);
}

/** Mutates only the body of a request and sets its Content-Length to match, so the server reads all of it. */
export function mutateBody(m: Mutator, seed: Uint8Array, corpus: readonly Uint8Array[]): Uint8Array {
  const split = Buffer.from(seed.buffer, seed.byteOffset, seed.byteLength).indexOf(CRLF2);
  if (split < 0) return m.mutate(seed, corpus).slice();
  const head = Buffer.from(seed.subarray(0, split)).toString('latin1');
  const body = m.mutate(seed.subarray(split + 4), corpus).slice();
  const lines = head.split('\r\n').filter((l) => !/^content-length:/i.test(l));
  lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body]);
}

/** Sends one raw request on a fresh connection and waits for the answer's head (and declared body), a close, or the timeout. */
function request(port: number, bytes: Uint8Array, timeoutMs: number, halfCloseMs: number): Promise<{ kind: 'answer' | 'closed' | 'timeout'; status: number; text: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const sock = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (kind: 'answer' | 'closed' | 'timeout'): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(halfClose);
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      sock.destroy();
      resolve({ kind: status ? 'answer' : kind, status, text, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    // Half-close a while after the request: a server waiting for the rest of a truncated request then
    // sees the end of input (and closes) instead of idling until its timeout. Not at once: Node's
    // HTTP server aborts a request still being answered when the client half-closes.
    let halfClose: NodeJS.Timeout | undefined;
    sock.on('connect', () => {
      sock.write(bytes);
      halfClose = setTimeout(() => sock.end(), halfCloseMs);
    });
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      const headEnd = all.indexOf(CRLF2);
      if (headEnd < 0) return;
      const head = all.subarray(0, headEnd).toString('latin1');
      const len = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
      if (len !== undefined) {
        if (all.length >= headEnd + 4 + Number(len)) finish('answer');
      } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
        if (all.subarray(headEnd).includes('\r\n0\r\n\r\n')) finish('answer');
      } else if (/^HTTP\/1\.1 101/.test(head)) {
        finish('answer');
      } // else the body runs to the close
    });
    sock.on('error', () => finish('closed'));
    sock.on('close', () => finish('closed'));
  });
}

/** Sends the corpus and `o.inputs` mutated requests, `concurrency` at a time, each on its own connection. */
export async function fuzzHttp(corpus: readonly Uint8Array[], o: HttpRunOptions): Promise<HttpReport> {
  const r: HttpReport = { target: o.name, sent: 0, responded: 0, statuses: {}, closedWithoutReply: 0, timedOut: 0, maxReplyMs: 0, elapsedMs: 0 };
  const m = new Mutator({ seed: o.seed, maxBytes: o.maxBytes ?? 8192, dictionary: HTTP_DICTIONARY });
  const prepare = o.prepare ?? ((b: Uint8Array) => b);
  const deadline = o.durationMs !== undefined ? Date.now() + o.durationMs : Infinity;
  const t0 = performance.now();
  const queue = [...corpus];
  let made = 0;
  const next = (): Uint8Array | undefined => {
    if (queue.length > 0) return queue.shift();
    if (made >= o.inputs || Date.now() >= deadline) return undefined;
    made++;
    return mutateRequest(m, m.choose(corpus), corpus);
  };
  const worker = async (): Promise<void> => {
    for (let bytes = next(); bytes; bytes = next()) {
      const a = await request(o.port, prepare(bytes), o.replyTimeoutMs ?? 1000, o.halfCloseMs ?? 50);
      r.sent++;
      if (a.kind === 'answer') {
        r.responded++;
        r.statuses[a.status] = (r.statuses[a.status] ?? 0) + 1;
        r.maxReplyMs = Math.max(r.maxReplyMs, a.ms);
        o.onAnswer?.(a.status, a.text);
      } else if (a.kind === 'closed') {
        r.closedWithoutReply++;
      } else {
        r.timedOut++;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 16 }, worker));
  r.elapsedMs = performance.now() - t0;
  return r;
}

/** Tokens of HTTP requests and of the geckos signaling routes, for dictionary mutations. */
export const HTTP_DICTIONARY: readonly Uint8Array[] = [
  'GET ', 'POST ', 'PUT ', 'DELETE ', 'OPTIONS ', 'HEAD ', 'CONNECT ', ' HTTP/1.1', ' HTTP/1.0', ' HTTP/2.0', '\r\n', '\r\n\r\n', '\n', '\0', ' ', ':',
  'Content-Length: ', 'Content-Length: -1', 'Content-Length: 99999999999999999999', 'Transfer-Encoding: chunked', 'Connection: close', 'Connection: Upgrade',
  'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: ', 'Origin: ', 'Authorization: ', 'Host: ', 'Expect: 100-continue',
  '/ws', '/healthz', '/metrics', '/rooms', '/config', '/index.html', '/..', '%2e%2e', '%00', '%', '?', '#', '*', '/.wrtc/v2/connections',
  '/remote-description', '/additional-candidates', '/close', '{"sdp":"', '","type":"answer"}', '"offer"', 'null', '[]', '{}', '\\u0000',
  'a=candidate:', 'm=application', 'a=fingerprint:sha-256 ', 'a=max-message-size:', 'a=sctp-port:', 'c=IN IP6 ::1', 'ffffffff', 'FFFF\r\n',
].map((s) => te.encode(s));

/**
 * Keeps live values for the signaling placeholders: a session token that may open a WebRTC peer,
 * and ids of geckos connections created with it (refreshed as they are used up). Ids seen in fuzzed
 * answers are remembered so they can be closed at the end.
 */
export class SignalingPeers {
  readonly ids: string[] = [];
  readonly seen = new Set<string>();
  private token_ = '';
  private client: RawClient | undefined;
  private turn = 0;

  constructor(
    private readonly srv: TickwireServer,
    private readonly signalingPort: number,
  ) {}

  /** Joins a client (for its token) and opens `n` geckos connections by hand. */
  async refresh(n = 3): Promise<void> {
    if (!this.client || this.client.ws.readyState !== WebSocket.OPEN) {
      this.client?.ws.terminate();
      this.client = await joinRaw(this.srv.http!.port, this.srv.game, false);
      this.token_ = this.client.welcome.token;
    }
    for (let i = 0; i < n; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${this.signalingPort}/.wrtc/v2/connections`, { method: 'POST', headers: { authorization: this.token_ } });
        if (res.status !== 200) continue;
        const body = (await res.json()) as { id?: unknown };
        if (typeof body.id === 'string') {
          this.ids.push(body.id);
          this.seen.add(body.id);
        }
      } catch {
        // refused or busy: fuzzing goes on with the ids there are
      }
    }
    while (this.ids.length > 6) this.ids.shift();
  }

  /** The token of the client this helper joined (after refresh). */
  token(): string {
    return this.token_;
  }

  /** Replaces the placeholders of a mutated signaling request. */
  prepare = (bytes: Uint8Array): Uint8Array => {
    let text = Buffer.from(bytes).toString('latin1');
    if (!text.includes('{{')) return bytes;
    const id = this.ids.length ? this.ids[this.turn++ % this.ids.length] : 'x'.repeat(24);
    text = text.replaceAll('{{ID}}', id).replaceAll('{{TOKEN}}', this.token_);
    return Buffer.from(text, 'latin1');
  };

  /** Remembers connection ids in answers (to close them later). */
  onAnswer = (_status: number, text: string): void => {
    const m = /"id":"([0-9a-zA-Z]{24})"/.exec(text);
    if (m) this.seen.add(m[1]);
  };

  /** Closes every connection id seen and the client. */
  async closeAll(): Promise<void> {
    await Promise.all(
      [...this.seen].map((id) => fetch(`http://127.0.0.1:${this.signalingPort}/.wrtc/v2/connections/${id}/close`, { method: 'POST' }).then((r) => r.arrayBuffer(), () => undefined)),
    );
    this.seen.clear();
    this.ids.length = 0;
    this.client?.ws.terminate();
    this.client = undefined;
  }
}

/** Checks the server still serves: /healthz answers 200 with status ok. */
export async function healthy(srv: TickwireServer): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${srv.http!.port}/healthz`);
    const body = (await res.json()) as { status?: string };
    return res.status === 200 && body.status === 'ok';
  } catch {
    return false;
  }
}
