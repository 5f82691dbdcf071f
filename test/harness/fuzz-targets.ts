// The fuzzer's decoders and corpus: seed generation, corpus files under test/corpus/, and the
// timed mutation loop that feeds each decoder (pure, in-process; the live servers are in fuzz-live.ts).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { GAMES } from '../../games/index.ts';
import { configHash, PROTOCOL_VERSION } from '../../shared/config.ts';
import type { AnyGame } from '../../shared/sim/game.ts';
import { BitReader, BitWriter } from '../../shared/protocol/bits.ts';
import { decodeClientControl, decodeServerControl, encodeControl, type ClientControl, type ServerControl } from '../../shared/protocol/control.ts';
import { DecodeError } from '../../shared/protocol/errors.ts';
import { createInputPacket, MAX_INPUTS_PER_PACKET, readInputPacket, writeInputPacket, type InputPacket } from '../../shared/protocol/input.ts';
import { compileSchema } from '../../shared/protocol/schema.ts';
import { readSnapshotAck, SNAPSHOT_ACK_NONE, writeSnapshotAck, type SnapshotAck } from '../../shared/protocol/snapshot.ts';
import { CAMERA_BYTES, createCameraMessage, MAX_CAMERA_COORD, readCamera, writeCamera, type CameraMessage } from '../../shared/protocol/camera.ts';
import { createViewClaims, MAX_VIEW_CLAIMS, readViewClaims, viewClaimBytes, writeViewClaims, type ViewClaims } from '../../shared/protocol/view-claim.ts';
import { inputHash, Mutator } from './mutate.ts';

/** Directory of the corpus kept in the repo: one sub-directory per target. */
export const CORPUS_DIR = fileURLToPath(new URL('../corpus/', import.meta.url));

/** One corpus file. */
export interface CorpusEntry {
  /** File name, e.g. `seed-hello.bin` or `crash-0123456789abcdef.bin`. */
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** Reads every `.bin` file of test/corpus/<target>/, sorted by name ([] when the directory is missing). */
export function loadCorpus(target: string): CorpusEntry[] {
  const dir = join(CORPUS_DIR, target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.bin'))
    .sort()
    .map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) }));
}

/** Saves a failing input as test/corpus/<target>/crash-<hash>.bin (a regression from then on); returns the path. */
export function saveCrash(target: string, bytes: Uint8Array): string {
  const dir = join(CORPUS_DIR, target);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `crash-${inputHash(bytes)}.bin`);
  writeFileSync(path, bytes);
  return path;
}

// ---- seeds: valid messages of every kind, built with the encoders ----

const enc = new TextEncoder();
const utf8 = (s: string): Uint8Array => enc.encode(s);

/** A token placeholder in seeds; live harnesses replace it with a real session token. */
export const TOKEN_PLACEHOLDER = 'f'.repeat(32);

const arenaHash = configHash(GAMES['arena-v1']);

/** Valid client control messages of every type (hello and resume first: the handshake seeds). */
export function clientControlSeeds(hash = arenaHash): [string, ClientControl][] {
  return [
    ['hello', { t: 'hello', v: PROTOCOL_VERSION, hash, name: 'ann' }],
    ['hello-full', { t: 'hello', v: PROTOCOL_VERSION, hash, name: 'bob', token: 'secret-token', room: 'lobby-1', wsOnly: true }],
    ['hello-webrtc', { t: 'hello', v: PROTOCOL_VERSION, hash, name: 'cy', room: 'r', wsOnly: false }],
    ['resume', { t: 'resume', v: PROTOCOL_VERSION, hash, token: TOKEN_PLACEHOLDER, a: 3 }],
    ['chat', { t: 'chat', text: 'good game', s: 1, a: 0 }],
    ['chat-long', { t: 'chat', text: 'x'.repeat(200), s: 2 }],
    ['ping', { t: 'ping', id: 7, ms: 1234.5 }],
    ['ping-int', { t: 'ping', id: 0xffffffff, ms: 0 }],
    ['event', { t: 'event', name: 'emote', data: { id: 3, tags: ['a', 'b'], pos: [1.5, -2], on: true, none: null }, s: 3 }],
    ['event-bin', { t: 'event', name: 'blob', data: new Uint8Array([1, 2, 3, 250]), s: 4 }],
    ['event-nodata', { t: 'event', name: 'x' }],
    ['transport-ws', { t: 'transport', use: 'ws' }],
    ['transport-webrtc', { t: 'transport', use: 'webrtc', a: 9 }],
    ['ack', { t: 'ack', a: 5 }],
    ['leave', { t: 'leave' }],
  ];
}

const info = { sessionId: 12, token: 'a'.repeat(32), room: 'arena-v1-1', eid: 501, tick: 99_000, tickRateHz: 60, snapshotRateHz: 20, inputRedundancy: 4, maxPacketBytes: 1200, signalingPort: 8081, webrtc: true, resumeGraceMs: 15_000 };

/** Valid server control messages of every type. */
export function serverControlSeeds(): [string, ServerControl][] {
  return [
    ['welcome', { t: 'welcome', ...info }],
    ['resumed', { t: 'resumed', ...info, token: 'b'.repeat(32), a: 4 }],
    ['ack', { t: 'ack', a: 2 }],
    ['reject', { t: 'reject', code: 3, reason: 'config hash mismatch' }],
    ['pong', { t: 'pong', id: 7, ms: 1234.5, tick: 99_000 }],
    ['chat', { t: 'chat', from: 2, name: 'ann', text: 'hi there', s: 5, a: 1 }],
    ['joined', { t: 'joined', sessionId: 2, name: 'ann', eid: 502, s: 6 }],
    ['roster', { t: 'roster', players: [{ sessionId: 2, name: 'ann', eid: 502 }, { sessionId: 3, name: 'bob', eid: 503 }], s: 6 }],
    ['roster-left', { t: 'roster', players: [{ sessionId: 4, name: 'cy', eid: 504 }], left: [2, 3], s: 7 }],
    ['left', { t: 'left', sessionId: 2, s: 7 }],
    ['event', { t: 'event', name: 'boom', data: { at: [10, 20], power: 0.5 }, from: 3, s: 8 }],
    ['error', { t: 'error', code: 1, message: 'no such room', s: 9 }],
    ['transport', { t: 'transport', use: 'webrtc' }],
    ['bye', { t: 'bye', code: 2, reason: 'too many malformed messages' }],
  ];
}

/**
 * Valid input packets of a game: one input, a typical redundant packet, a full one with max values,
 * a wrapping sequence, and packets carrying a snapshot ack (a batch of three ticks with its ack,
 * the "no snapshot yet" ack, and a full packet with a full ack window).
 */
export function inputSeeds(game: AnyGame): [string, Uint8Array][] {
  const schema = compileSchema(game);
  const nf = schema.inputFields.length;
  const w = new BitWriter(1024);
  const vals = (count: number, f: (i: number, q: number) => number): number[] =>
    Array.from({ length: count * nf }, (_, k) => f(k, schema.inputFields[k % nf].q.maxQ));
  return [
    ['one', writeInputPacket(w, schema, 1, 100, 1, vals(1, () => 1)).slice()],
    ['redundant', writeInputPacket(w, schema, 300, 5000, 4, vals(4, (k, max) => k % (max + 1))).slice()],
    ['full-max', writeInputPacket(w, schema, 65535, 0xffffffff, MAX_INPUTS_PER_PACKET, vals(MAX_INPUTS_PER_PACKET, (_, max) => max)).slice()],
    ['wrap-zero', writeInputPacket(w, schema, 0, 0, 2, vals(2, () => 0)).slice()],
    ['ack-batch', writeInputPacket(w, schema, 302, 5002, 9, vals(9, (k, max) => (k * 3) % (max + 1)), true, 4998, 0x0000000f).slice()],
    ['ack-none', writeInputPacket(w, schema, 7, 40, 2, vals(2, () => 1), true, SNAPSHOT_ACK_NONE, 0).slice()],
    ['ack-full-max', writeInputPacket(w, schema, 65535, 0xffffffff, MAX_INPUTS_PER_PACKET, vals(MAX_INPUTS_PER_PACKET, (_, max) => max), true, 0xfffffffe, 0xffffffff).slice()],
  ];
}

/** Valid snapshot acks. */
export function ackSeeds(): [string, Uint8Array][] {
  const out = new Uint8Array(16);
  return [
    ['first', writeSnapshotAck(out, 3, 0).slice()],
    ['steady', writeSnapshotAck(out, 99_000, 0xfffffffe).slice()],
    ['none', writeSnapshotAck(out, 0xffffffff, 0).slice()],
  ];
}

/** Valid view-claim messages: one claim, a redundant run of interpolated ones, a full message with extreme values, one extrapolating. */
export function viewClaimSeeds(): [string, Uint8Array][] {
  const out = new Uint8Array(viewClaimBytes(MAX_VIEW_CLAIMS));
  const make = (rows: [number, number, number, number][]): Uint8Array => {
    const c = createViewClaims();
    c.count = rows.length;
    rows.forEach(([seq, tick, span, frac], i) => {
      c.seq[i] = seq;
      c.tick[i] = tick;
      c.span[i] = span;
      c.frac[i] = frac;
    });
    return writeViewClaims(out, c).slice();
  };
  return [
    ['one', make([[1, 99, 3, 128]])],
    ['redundant', make([[300, 5001, 3, 700], [299, 5001, 3, 440], [298, 4998, 3, 700], [297, 4998, 3, 400]])],
    ['full-max', make(Array.from({ length: MAX_VIEW_CLAIMS }, (_, i) => [65535 - i, 0xffffffff, 255, 255 * 256 - 1] as [number, number, number, number]))],
    ['extrapolating', make([[0, 120, 0, 0xffff], [65535, 120, 0, 300]])],
  ];
}

/** Valid camera messages: a point, a zoom (radius), following an entity, the extremes. */
export function cameraSeeds(): [string, Uint8Array][] {
  const out = new Uint8Array(CAMERA_BYTES);
  return [
    ['point', writeCamera(out, 1024, 512, 0).slice()],
    ['zoomed', writeCamera(out, 4096.5, 7000.25, 1800).slice()],
    ['follow', writeCamera(out, 300, 200, 600, 17).slice()],
    ['extremes', writeCamera(out, -MAX_CAMERA_COORD, MAX_CAMERA_COORD, MAX_CAMERA_COORD, 65534).slice()],
  ];
}

/** Raw HTTP/1.1 requests to the HTTP + WebSocket port: every route, methods, headers and bodies. */
export function httpSeeds(): [string, Uint8Array][] {
  const req = (lines: string[], body = ''): Uint8Array => utf8(lines.join('\r\n') + '\r\n\r\n' + body);
  const json = '{"t":"hello","name":"x"}';
  return [
    ['healthz', req(['GET /healthz HTTP/1.1', 'Host: 127.0.0.1'])],
    ['metrics', req(['GET /metrics HTTP/1.1', 'Host: 127.0.0.1', 'Accept: text/plain'])],
    ['rooms', req(['GET /rooms HTTP/1.1', 'Host: 127.0.0.1', 'Connection: keep-alive'])],
    ['config', req(['GET /config?x=1&y=%20 HTTP/1.1', 'Host: 127.0.0.1', 'User-Agent: fuzz/1.0'])],
    ['index', req(['GET / HTTP/1.1', 'Host: 127.0.0.1', 'Accept-Encoding: gzip, deflate'])],
    ['static-missing', req(['GET /assets/../../etc/passwd HTTP/1.1', 'Host: 127.0.0.1'])],
    ['post-body', req(['POST /rooms HTTP/1.1', 'Host: 127.0.0.1', 'Content-Type: application/json', `Content-Length: ${json.length}`], json)],
    ['chunked', req(['POST /config HTTP/1.1', 'Host: 127.0.0.1', 'Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n')],
    ['head', req(['HEAD /healthz HTTP/1.0'])],
    ['options', req(['OPTIONS * HTTP/1.1', 'Host: 127.0.0.1', 'Origin: http://evil.example'])],
    ['ws-upgrade', req(['GET /ws HTTP/1.1', 'Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', 'Origin: http://127.0.0.1', 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits'])],
    ['pipelined', utf8('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /rooms HTTP/1.1\r\nHost: a\r\n\r\n')],
  ];
}

/** Placeholder in signaling seeds for the id of a live geckos connection (24 alphanumerics). */
export const ID_PLACEHOLDER = '{{ID}}';
/** Placeholder in signaling seeds for a live session token. */
export const TOKEN_TEMPLATE = '{{TOKEN}}';

/** A short SDP answer of the shape a WebRTC peer sends to /remote-description. */
export const SAMPLE_SDP_ANSWER = [
  'v=0', 'o=rtc 2771474537 0 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0', 'a=msid-semantic:WMS *',
  'a=setup:active', 'a=ice-ufrag:Xy7q', 'a=ice-pwd:0123456789abcdefghijkl', 'a=ice-options:ice2,trickle',
  'a=fingerprint:sha-256 6A:39:5E:18:2C:B1:6D:77:1F:0E:E4:52:1D:8B:C7:64:27:9A:33:9F:C2:46:EE:93:BD:19:0A:8D:0F:43:79:A1',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'c=IN IP4 127.0.0.1', 'a=mid:0', 'a=sendrecv',
  'a=sctp-port:5000', 'a=max-message-size:262144', 'a=candidate:1 1 UDP 2122317823 127.0.0.1 50000 typ host', 'a=end-of-candidates', '',
].join('\r\n');

/** Raw requests to the geckos signaling port, with {{ID}} and {{TOKEN}} placeholders for live values. */
export function signalingSeeds(): [string, Uint8Array][] {
  const post = (path: string, headers: string[], body: string): Uint8Array =>
    utf8([`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...headers, `Content-Length: ${Buffer.byteLength(body)}`].join('\r\n') + '\r\n\r\n' + body);
  const get = (path: string, headers: string[] = []): Uint8Array => utf8([`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...headers].join('\r\n') + '\r\n\r\n');
  const answer = JSON.stringify({ sdp: SAMPLE_SDP_ANSWER, type: 'answer' });
  return [
    ['connect', post('/.wrtc/v2/connections', [`Authorization: ${TOKEN_TEMPLATE}`, 'Content-Type: application/json'], '')],
    ['connect-bad-token', post('/.wrtc/v2/connections', ['Authorization: 00000000000000000000000000000000'], '')],
    ['remote-description', post(`/.wrtc/v2/connections/${ID_PLACEHOLDER}/remote-description`, ['Content-Type: application/json'], answer)],
    ['remote-description-offer', post(`/.wrtc/v2/connections/${ID_PLACEHOLDER}/remote-description`, [], JSON.stringify({ sdp: 'v=0\r\n', type: 'offer' }))],
    ['remote-description-junk', post(`/.wrtc/v2/connections/${ID_PLACEHOLDER}/remote-description`, [], '{"sdp":[1,{"a":null}],"type":{"x":1}}')],
    ['candidates', get(`/.wrtc/v2/connections/${ID_PLACEHOLDER}/additional-candidates`)],
    ['close', post(`/.wrtc/v2/connections/${ID_PLACEHOLDER}/close`, [], '')],
    ['preflight', utf8(['OPTIONS /.wrtc/v2/connections HTTP/1.1', 'Host: 127.0.0.1', 'Origin: http://a.example', 'Access-Control-Request-Method: POST', 'Access-Control-Request-Headers: authorization'].join('\r\n') + '\r\n\r\n')],
    ['not-geckos', get('/favicon.ico')],
    ['big-declared', utf8(['POST /.wrtc/v2/connections/abc/remote-description HTTP/1.1', 'Host: 127.0.0.1', 'Content-Length: 99999999'].join('\r\n') + '\r\n\r\n{')],
  ];
}

/** Messages only the live server sees as a whole (any type byte): empty, unknown types, control on the wrong channel. */
export function serverSeeds(): [string, Uint8Array][] {
  return [
    ['empty', new Uint8Array(0)],
    ['unknown-type', new Uint8Array([9, 0, 0, 0])],
    ['snapshot-from-client', new Uint8Array([3, 0, 1, 0, 0, 0, 0, 0, 0, 1])],
    ['zero', new Uint8Array([0])],
    ['camera', writeCamera(new Uint8Array(CAMERA_BYTES), 2048, 2048, 900, 3).slice()],
  ];
}

/** Every seed of the corpus by target directory. */
export function buildSeeds(): Record<string, [string, Uint8Array][]> {
  const seeds: Record<string, [string, Uint8Array][]> = {
    'control-client': clientControlSeeds().map(([n, m]) => [n, encodeControl(m)]),
    'control-server': serverControlSeeds().map(([n, m]) => [n, encodeControl(m)]),
    ack: ackSeeds(),
    view: viewClaimSeeds(),
    camera: cameraSeeds(),
    http: httpSeeds(),
    signaling: signalingSeeds(),
    server: serverSeeds(),
  };
  for (const [name, game] of Object.entries(GAMES)) seeds[`input-${name}`] = inputSeeds(game);
  return seeds;
}

/** (Re)writes every seed-<name>.bin file of the corpus; crash files are left alone. Returns the files written. */
export function writeSeeds(seeds: Record<string, [string, Uint8Array][]> = buildSeeds()): string[] {
  const written: string[] = [];
  for (const [target, list] of Object.entries(seeds)) {
    const dir = join(CORPUS_DIR, target);
    mkdirSync(dir, { recursive: true });
    for (const [name, bytes] of list) {
      const path = join(dir, `seed-${name}.bin`);
      writeFileSync(path, bytes);
      written.push(path);
    }
  }
  return written;
}

// ---- decoder targets ----

/** What a decoder did with one input. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: DecodeError };

/** Thrown by a target's consistency check: the decoder accepted or rejected something it should not have. */
export class FuzzCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FuzzCheckError';
  }
}

/** A decoder under fuzz. */
export interface DecoderTarget {
  /** Target name; also its directory under test/corpus/. */
  readonly name: string;
  /** Largest mutated input, bytes (the channel's message limit). */
  readonly maxBytes: number;
  /** Tokens of the format, for dictionary mutations. */
  readonly dictionary: readonly Uint8Array[];
  /** Decodes one input (this call alone is timed). Returns the decoded value or throws DecodeError. */
  decode(bytes: Uint8Array): unknown;
  /** Checks an outcome for consistency (re-encoding, decoding in context); throws FuzzCheckError when wrong. */
  check?(bytes: Uint8Array, outcome: Outcome): void;
  /** Runs after every input: decodes a known-good message, so state leaking from a hostile input into the next decode is caught. */
  canary?(): void;
}

/** A msgpack fixstr (strings of up to 31 bytes). */
function mp(s: string): Uint8Array {
  const b = utf8(s);
  return new Uint8Array([0xa0 | b.length, ...b]);
}

/** msgpack tokens: field names, type tags, and the extensions msgpackr decodes (records, structured-clone refs, errors, regexps, sets, typed arrays, bigints, dates, bundles). */
const MSGPACK_DICTIONARY: readonly Uint8Array[] = [
  ...['t', 's', 'a', 'v', 'hash', 'name', 'token', 'room', 'wsOnly', 'text', 'id', 'ms', 'data', 'use', 'from', 'code', 'reason', 'tick',
    'hello', 'resume', 'chat', 'ping', 'event', 'transport', 'ack', 'leave', 'ws', 'webrtc', 'welcome', 'resumed', 'pong', 'joined', 'roster', 'players', 'left',
    'error', 'bye', 'reject', 'sessionId', 'eid', '__proto__', 'constructor', 'toString'].map(mp),
  [0xc0], [0xc1], [0xc2], [0xc3], [0xca, 0x7f, 0xc0, 0, 0], [0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0], [0xcb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0],
  [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0], [0xd9, 0xff], [0xda, 0xff, 0xff], [0xdb, 0xff, 0xff, 0xff, 0xff],
  [0xc4, 0x10], [0xdc, 0xff, 0xff], [0xdd, 0xff, 0xff, 0xff, 0xff], [0xde, 0xff, 0xff], [0xdf, 0xff, 0xff, 0xff, 0xff],
  [0xd4, 0x72, 0x40], [0xd5, 0x72, 0x40, 0x01], [0x40], [0xd6, 0x69, 0, 0, 0, 1], [0xd6, 0x70, 0, 0, 0, 1], [0xd4, 0x65, 0], [0xd4, 0x78, 0],
  [0xd4, 0x73, 0], [0xc7, 9, 0x74, 10], [0xd5, 0x42, 0x80, 0x01], [0xd6, 0xff, 0, 0, 0, 1], [0xd7, 0xff, 0, 0, 0, 0, 0, 0, 0, 0],
  [0xc7, 4, 0x62, 0, 0, 0, 8], [0xd4, 0, 0], [0xd4, 0x7f, 0],
].map((t) => (t instanceof Uint8Array ? t : new Uint8Array(t)));

const BINARY_DICTIONARY: readonly Uint8Array[] = [[1], [2], [3], [4], [0xff], [0xff, 0xff], [0, 0], [0xff, 0xff, 0xff, 0xff], [0, 0, 0, 0x80], [16], [17]]
  .map((t) => new Uint8Array(t));

/** decode(encode(value)) must equal value: whatever a decoder accepts can be written back (relayed, logged, resent). */
function controlCheck(decode: (b: Uint8Array) => unknown) {
  return (_bytes: Uint8Array, outcome: Outcome): void => {
    if (!outcome.ok) return;
    let again: unknown;
    try {
      again = decode(encodeControl(outcome.value as ClientControl));
    } catch (err) {
      throw new FuzzCheckError(`accepted message does not survive re-encoding: ${(err as Error).message}`);
    }
    if (!isDeepStrictEqual(zeroSign(again), zeroSign(outcome.value))) throw new FuzzCheckError(`accepted message changes when re-encoded: ${inspectShort(outcome.value)} -> ${inspectShort(again)}`);
  };
}

/** `v` with every -0 turned into 0: msgpack writes integral doubles as integers, so the sign of zero does not travel. */
function zeroSign(v: unknown): unknown {
  if (typeof v === 'number') return v === 0 ? 0 : v;
  if (Array.isArray(v)) return v.map(zeroSign);
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, zeroSign(x)]));
  }
  return v;
}

function inspectShort(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)).slice(0, 200);
  } catch {
    return String(v).slice(0, 200);
  }
}

function controlCanary(decode: (b: Uint8Array) => unknown, msg: ClientControl | ServerControl): () => void {
  const bytes = encodeControl(msg);
  return () => {
    const got = decode(bytes);
    if (!isDeepStrictEqual(got, msg)) throw new FuzzCheckError(`a valid message decodes differently after a hostile one: ${inspectShort(got)}`);
  };
}

/** The client's control messages, as the server decodes them. */
export const clientControlTarget: DecoderTarget = {
  name: 'control-client',
  maxBytes: 4096,
  dictionary: MSGPACK_DICTIONARY,
  decode: decodeClientControl,
  check: controlCheck(decodeClientControl),
  canary: controlCanary(decodeClientControl, { t: 'event', name: 'e', data: [64, { a: 65 }], s: 66, a: 64 }),
};

/** The server's control messages, as a client decodes them. */
export const serverControlTarget: DecoderTarget = {
  name: 'control-server',
  maxBytes: 4096,
  dictionary: MSGPACK_DICTIONARY,
  decode: decodeServerControl,
  check: controlCheck(decodeServerControl),
  canary: controlCanary(decodeServerControl, { t: 'welcome', ...info }),
};

/** Runs `decode` on `bytes` copied into the middle of a larger buffer of junk, as the server's inbox ring hands them over. */
function inContext(bytes: Uint8Array, junk: number, run: (buf: Uint8Array, start: number, end: number) => void): void {
  const pad = 5;
  const buf = new Uint8Array(bytes.length + 2 * pad).fill(junk);
  buf.set(bytes, pad);
  run(buf, pad, pad + bytes.length);
}

function sameOutcome(a: Outcome, b: Outcome, what: string): void {
  if (a.ok !== b.ok) throw new FuzzCheckError(`${what}: ${a.ok ? 'accepted' : 'rejected'} alone but ${b.ok ? 'accepted' : 'rejected'} inside a larger buffer (reads outside its range)`);
  if (!a.ok && !b.ok && a.error.field !== b.error.field) throw new FuzzCheckError(`${what}: rejected for ${a.error.field} alone but for ${b.error.field} inside a larger buffer`);
  if (a.ok && b.ok && !isDeepStrictEqual(a.value, b.value)) throw new FuzzCheckError(`${what}: decodes differently inside a larger buffer`);
}

function capture(run: () => unknown): Outcome {
  try {
    return { ok: true, value: run() };
  } catch (err) {
    if (err instanceof DecodeError) return { ok: false, error: err };
    throw err;
  }
}

/** Input packets of one game, as the server decodes them. */
export function inputTarget(game: AnyGame): DecoderTarget {
  const schema = compileSchema(game);
  const nf = schema.inputFields.length;
  const reader = new BitReader();
  const packet = createInputPacket(schema);
  const ctxPacket = createInputPacket(schema);
  const writer = new BitWriter(1024);
  let junk = 0; // alternates 0xff / 0x00 around the bytes of the context check
  const snapshot = (p: InputPacket): unknown => ({
    seq: p.newestSeq, tick: p.newestTick, count: p.count, hasAck: p.hasAck, ackTick: p.ackTick, ackBits: p.ackBits, values: Array.from(p.values.subarray(0, p.count * nf)),
  });
  return {
    name: `input-${game.name}`,
    maxBytes: 1200,
    dictionary: BINARY_DICTIONARY,
    decode: (bytes) => snapshot(readInputPacket(reader, bytes, schema, packet)),
    check(bytes, outcome) {
      if (outcome.ok) {
        // canonical: an accepted packet re-encodes to exactly its bytes (no slack bits an attacker could vary)
        const again = writeInputPacket(writer, schema, packet.newestSeq, packet.newestTick, packet.count, packet.values, packet.hasAck, packet.ackTick, packet.ackBits);
        if (Buffer.compare(again, bytes) !== 0) throw new FuzzCheckError(`accepted input packet is not canonical: ${Buffer.from(bytes).toString('hex')} re-encodes to ${Buffer.from(again).toString('hex')}`);
      }
      inContext(bytes, (junk ^= 0xff), (buf, start, end) => {
        sameOutcome(outcome, capture(() => snapshot(readInputPacket(reader, buf, schema, ctxPacket, start, end))), 'input packet');
      });
    },
  };
}

/** Snapshot acks, as the server decodes them. */
export function ackTarget(): DecoderTarget {
  const out: SnapshotAck = { tick: 0, bits: 0 };
  const ctxOut: SnapshotAck = { tick: 0, bits: 0 };
  const scratch = new Uint8Array(16);
  let junk = 0;
  return {
    name: 'ack',
    maxBytes: 64,
    dictionary: BINARY_DICTIONARY,
    decode: (bytes) => ({ ...readSnapshotAck(bytes, out) }),
    check(bytes, outcome) {
      if (outcome.ok && Buffer.compare(writeSnapshotAck(scratch, out.tick, out.bits), bytes) !== 0) throw new FuzzCheckError('accepted ack is not canonical');
      inContext(bytes, (junk ^= 0xff), (buf, start, end) => sameOutcome(outcome, capture(() => ({ ...readSnapshotAck(buf, ctxOut, start, end) })), 'snapshot ack'));
    },
  };
}

/** View-claim messages (lag compensation), as the server decodes them. */
export function viewClaimTarget(): DecoderTarget {
  const out: ViewClaims = createViewClaims();
  const ctxOut: ViewClaims = createViewClaims();
  const scratch = new Uint8Array(viewClaimBytes(MAX_VIEW_CLAIMS));
  const snapshot = (c: ViewClaims): unknown => ({ count: c.count, seq: Array.from(c.seq.subarray(0, c.count)), tick: Array.from(c.tick.subarray(0, c.count)), span: Array.from(c.span.subarray(0, c.count)), frac: Array.from(c.frac.subarray(0, c.count)) });
  let junk = 0;
  return {
    name: 'view',
    maxBytes: 256,
    dictionary: BINARY_DICTIONARY,
    decode: (bytes) => snapshot(readViewClaims(bytes, out)),
    check(bytes, outcome) {
      if (outcome.ok && Buffer.compare(writeViewClaims(scratch, out), bytes) !== 0) throw new FuzzCheckError('accepted view claims are not canonical');
      inContext(bytes, (junk ^= 0xff), (buf, start, end) => sameOutcome(outcome, capture(() => snapshot(readViewClaims(buf, ctxOut, start, end))), 'view claims'));
    },
  };
}

/** Spectator camera messages, as the server decodes them. */
export function cameraTarget(): DecoderTarget {
  const out: CameraMessage = createCameraMessage();
  const ctxOut: CameraMessage = createCameraMessage();
  const scratch = new Uint8Array(CAMERA_BYTES);
  const snapshot = (c: CameraMessage): unknown => ({ x: c.x, y: c.y, radius: c.radius, follow: c.follow });
  let junk = 0;
  return {
    name: 'camera',
    maxBytes: 64,
    dictionary: [...BINARY_DICTIONARY, new Uint8Array([0x00, 0x00, 0xc0, 0x7f]), new Uint8Array([0x00, 0x00, 0x80, 0x7f]), new Uint8Array([0x00, 0x00, 0x80, 0xff]), new Uint8Array([0x00, 0x00, 0x80, 0xbf])],
    decode: (bytes) => snapshot(readCamera(bytes, out)),
    check(bytes, outcome) {
      if (outcome.ok) {
        if (!Number.isFinite(out.x) || !Number.isFinite(out.y) || !(out.radius >= 0)) throw new FuzzCheckError('accepted camera holds a non-finite or negative value');
        // -0 and +0 are both accepted; compare after re-encoding what was decoded
        const again = writeCamera(scratch, out.x, out.y, out.radius, out.follow);
        if (Buffer.compare(again, bytes) !== 0 && !(bytes.length === CAMERA_BYTES && sameCameraValues(again, bytes))) throw new FuzzCheckError('accepted camera is not canonical');
      }
      inContext(bytes, (junk ^= 0xff), (buf, start, end) => sameOutcome(outcome, capture(() => snapshot(readCamera(buf, ctxOut, start, end))), 'camera'));
    },
  };
}

/** Two camera messages that decode to the same numbers (they may differ only in the sign of a zero). */
function sameCameraValues(a: Uint8Array, b: Uint8Array): boolean {
  const va = readCamera(a, createCameraMessage());
  const vb = readCamera(b, createCameraMessage());
  return va.x === vb.x && va.y === vb.y && va.radius === vb.radius && va.follow === vb.follow;
}

/** Every pure decoder target except snapshots (see fuzz-snapshot in the tests and bench/fuzz.ts). */
export function decoderTargets(): DecoderTarget[] {
  return [clientControlTarget, serverControlTarget, ...Object.values(GAMES).map(inputTarget), ackTarget(), viewClaimTarget(), cameraTarget()];
}

// ---- the mutation loop ----

/** Why an input failed. */
export type FailureKind = 'exception' | 'check' | 'unnamed-field' | 'slow' | 'canary' | 'bug-log' | 'inbox-threw' | 'tick-threw';

/** One failing input. */
export interface FuzzFailure {
  kind: FailureKind;
  message: string;
  /** The input (a copy). */
  input: Uint8Array;
  /** Decode time of the input (for slow inputs: the fastest of the re-timings), ms. */
  ms: number;
}

/** What a fuzz run found. */
export interface FuzzReport {
  target: string;
  /** Inputs fed (corpus entries unmutated first, then mutated ones). */
  inputs: number;
  /** Inputs the decoder accepted. */
  accepted: number;
  /** Inputs rejected with a DecodeError. */
  rejected: number;
  /** Rejections by the field the DecodeError named. */
  fields: Record<string, number>;
  /** Slowest input, ms: the fastest of its timings (inputs above slowMs / 5 are timed again). */
  maxMs: number;
  /** Slowest first timing, ms (includes GC pauses and scheduling noise). */
  rawMaxMs: number;
  /** Inputs re-timed because their first timing exceeded slowMs / 5. */
  retimed: number;
  elapsedMs: number;
  /** The first failures (at most maxFailures kept). */
  failures: FuzzFailure[];
  /** All failures, including those not kept. */
  failureCount: number;
}

/** Options of a fuzz run. */
export interface FuzzRunOptions {
  /** PRNG seed. */
  seed: number;
  /** Mutated inputs to feed after the corpus; the run also stops at durationMs. Default 100000. */
  inputs?: number;
  /** Stop after this long, ms. Default unbounded. */
  durationMs?: number;
  /** An input slower than this fails, ms. Default 5. */
  slowMs?: number;
  /** Re-timings of an input that took more than slowMs / 5; it fails only if every one is slow too. Default 3. */
  retimes?: number;
  /** Failures kept in the report. Default 20. */
  maxFailures?: number;
  /**
   * Capture stack traces of errors thrown while fuzzing. Default false: constructing an Error's
   * stack is most of the cost of a rejection, and only the message and field are used; a failing
   * input is decoded once more with stacks on for its report.
   */
  stackTraces?: boolean;
}

/** Runs `fn` with Error.stackTraceLimit = 0 unless stack traces are wanted; restores it after. */
export function withoutStacks<T>(stackTraces: boolean | undefined, fn: () => T): T {
  if (stackTraces) return fn();
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return fn();
  } finally {
    Error.stackTraceLimit = saved;
  }
}

/** The stack of what `run` throws, with stack traces on (for reports of failing inputs). */
export function stackOf(run: () => unknown): string {
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = Math.max(saved, 20);
  try {
    run();
    return '(did not throw again)';
  } catch (err) {
    return err instanceof Error ? (err.stack ?? describe(err)) : describe(err);
  } finally {
    Error.stackTraceLimit = saved;
  }
}

/** Starts a report. */
export function newReport(target: string): FuzzReport {
  return { target, inputs: 0, accepted: 0, rejected: 0, fields: {}, maxMs: 0, rawMaxMs: 0, retimed: 0, elapsedMs: 0, failures: [], failureCount: 0 };
}

/** Adds a failure to a report (copying the input). */
export function addFailure(r: FuzzReport, max: number, kind: FailureKind, message: string, input: Uint8Array, ms: number): void {
  r.failureCount++;
  if (r.failures.length < max) r.failures.push({ kind, message, input: input.slice(), ms });
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * Times `run` once; when it took longer than a fifth of slowMs, runs it `retimes` more times and
 * returns the fastest of all runs (a GC pause or a busy core slows one run, a slow input slows
 * every run), so the reported maximum is an input's own cost rather than the noise. On a busy
 * machine the process can be descheduled for several re-timings in a row, so a re-timing counts as
 * slow only if the process also spent more than slowMs of CPU time in it: a slow input burns CPU,
 * a descheduled process does not. While the input still looks slow, re-timings are 2 ms apart.
 */
export function timed(run: () => void, slowMs: number, retimes: number, r: FuzzReport): number {
  const t0 = performance.now();
  run();
  const ms = performance.now() - t0;
  if (ms > r.rawMaxMs) r.rawMaxMs = ms;
  if (ms <= slowMs / 5) return ms;
  r.retimed++;
  let best = ms;
  for (let i = 0; i < retimes; i++) {
    // a short pause first: a GC cycle or a burst of other processes rarely lasts across it
    if (best > slowMs) Atomics.wait(PAUSE, 0, 0, 2);
    const cpu0 = process.cpuUsage();
    const t = performance.now();
    try {
      run();
    } catch {
      // the first run already reported the outcome
    }
    const wall = performance.now() - t;
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    best = Math.min(best, cpuMs <= slowMs ? Math.min(wall, cpuMs) : wall);
  }
  return best;
}

/** Feeds a decoder every corpus entry and then mutated inputs, checking each outcome. */
export function fuzzDecoder(target: DecoderTarget, corpus: readonly Uint8Array[], o: FuzzRunOptions): FuzzReport {
  const r = newReport(target.name);
  const slowMs = o.slowMs ?? 5;
  const retimes = o.retimes ?? 3;
  const maxFailures = o.maxFailures ?? 20;
  const total = o.inputs ?? 100_000;
  const deadline = o.durationMs !== undefined ? performance.now() + o.durationMs : Infinity;
  const m = new Mutator({ seed: o.seed, maxBytes: target.maxBytes, dictionary: target.dictionary });
  const t0 = performance.now();
  let outcome: Outcome = { ok: false, error: new DecodeError('none', 0, 'none') };
  let thrown: unknown;
  const run = (bytes: Uint8Array) => (): void => {
    thrown = undefined;
    try {
      outcome = { ok: true, value: target.decode(bytes) };
    } catch (err) {
      if (err instanceof DecodeError) outcome = { ok: false, error: err };
      else thrown = err;
    }
  };
  const feed = (bytes: Uint8Array): void => {
    r.inputs++;
    const ms = timed(run(bytes), slowMs, retimes, r);
    if (ms > r.maxMs) r.maxMs = ms;
    if (ms > slowMs) addFailure(r, maxFailures, 'slow', `took ${ms.toFixed(2)} ms (> ${slowMs} ms) on every timing`, bytes, ms);
    if (thrown !== undefined) {
      addFailure(r, maxFailures, 'exception', `threw ${describe(thrown)}\n${stackOf(() => target.decode(bytes))}`, bytes, ms);
    } else if (outcome.ok) {
      r.accepted++;
    } else {
      r.rejected++;
      const field = outcome.error.field;
      if (typeof field !== 'string' || field.length === 0) addFailure(r, maxFailures, 'unnamed-field', `DecodeError without a field: ${outcome.error.message}`, bytes, ms);
      r.fields[field] = (r.fields[field] ?? 0) + 1;
    }
    if (thrown === undefined && target.check) {
      try {
        target.check(bytes, outcome);
      } catch (err) {
        addFailure(r, maxFailures, err instanceof FuzzCheckError ? 'check' : 'exception', describe(err), bytes, ms);
      }
    }
    if (target.canary) {
      try {
        target.canary();
      } catch (err) {
        addFailure(r, maxFailures, 'canary', describe(err), bytes, ms);
      }
    }
  };
  withoutStacks(o.stackTraces, () => {
    for (const entry of corpus) feed(entry);
    for (let i = 0; i < total && (i & 255 || performance.now() < deadline); i++) feed(m.mutate(m.choose(corpus), corpus));
  });
  r.elapsedMs = performance.now() - t0;
  return r;
}

/** One line describing a thrown value. */
export function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return `non-Error ${typeof err}: ${String(err)}`;
}

/** Inputs fed by the report per second. */
export function inputsPerSec(r: FuzzReport): number {
  return r.elapsedMs > 0 ? Math.round((r.inputs / r.elapsedMs) * 1000) : 0;
}

/** A report's summary and every kept failure with its input in hex (to paste into the corpus). */
export function failureDetail(r: FuzzReport): string {
  const lines = r.failures.map((f) => `  ${f.kind}: ${f.message}\n    input (${f.input.length} bytes): ${Buffer.from(f.input).toString('hex').slice(0, 400)}`);
  return [summarize(r), ...lines].join('\n');
}

/** One line summarising a report. */
export function summarize(r: FuzzReport): string {
  const topFields = Object.entries(r.fields).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([f, n]) => `${f}:${n}`).join(' ');
  return `${r.target}: ${r.inputs} inputs in ${(r.elapsedMs / 1000).toFixed(1)} s (${inputsPerSec(r)}/s), accepted ${r.accepted}, rejected ${r.rejected}, max ${r.maxMs.toFixed(2)} ms (raw ${r.rawMaxMs.toFixed(2)} ms, ${r.retimed} re-timed), failures ${r.failureCount}; top fields ${topFields}`;
}
