// The replay file format (docs/replay.md): a header (magic, format version, the match's metadata
// as msgpack), then records in tick order (snapshot packets as a spectator receives them, deltas
// against the recording's own previous frame with a full snapshot as a keyframe every few seconds,
// and the reliable control messages of the match), and, once the recording finished, an index of
// the keyframes and a footer. Writing helpers for the recorder, and a reader that checks every
// byte of a file it is given: replay files are as hostile as network bytes.
import { Packr } from 'msgpackr';
import { decodeServerControl, type ServerControl } from './control.ts';
import { MsgType } from './ids.ts';
import { newSnapshotHeader, readSnapshotPacketHeader, SnapshotKind } from './snapshot.ts';

/** First four bytes of a replay file: "TWRP". */
export const REPLAY_MAGIC = 0x50525754;
/** Last four bytes of a finished replay file: "TWRE" (after the index record's offset). */
export const REPLAY_END_MAGIC = 0x45525754;
/** The format version this module writes and reads. */
export const REPLAY_FORMAT_VERSION = 1;
/** Bytes before the metadata: magic u32, format version u16, metadata length u32. */
export const REPLAY_PREAMBLE_BYTES = 10;
/** Bytes of a record header: kind u8, tick u32, payload length u32. */
export const REPLAY_RECORD_HEADER_BYTES = 9;
/** Bytes of the footer of a finished file: the index record's offset u32, REPLAY_END_MAGIC u32. */
export const REPLAY_FOOTER_BYTES = 8;
/** Largest metadata block accepted, bytes. */
export const MAX_REPLAY_META_BYTES = 64 * 1024;
/** Largest record payload accepted, bytes (a snapshot packet is at most maxPacketBytes). */
export const MAX_REPLAY_RECORD_BYTES = 64 * 1024;
/** Bytes of one keyframe index entry: tick u32, record offset u32. */
export const REPLAY_INDEX_ENTRY_BYTES = 8;

/** Record kinds. */
export const ReplayRecordKind = {
  /** One snapshot packet (type 3, one part) exactly as sent; a full snapshot's parts are a keyframe. */
  Snapshot: 1,
  /** One server control message (type 1: `event`, `joined` or `left`), without sequencing. */
  Control: 2,
  /** The keyframe index (last record of a finished file). */
  Index: 255,
} as const;

/** Control messages a replay carries. */
export type ReplayControl = Extract<ServerControl, { t: 'event' | 'joined' | 'left' }>;

/** What the header says about the match. */
export interface ReplayMeta {
  /** The game's name (GameDefinition.name). */
  readonly game: string;
  /** The game's config hash (shared/config.ts configHash: protocol version, name, entities, field and input tables). */
  readonly configHash: number;
  /** PROTOCOL_VERSION of the snapshot packets. */
  readonly protocolVersion: number;
  readonly tickRateHz: number;
  readonly snapshotRateHz: number;
  readonly maxEntities: number;
  /** The networked field table, as the config hash reads it (component{field:quantizer,…};…). */
  readonly schema: string;
  /** The room recorded. */
  readonly room: string;
  /** When the recording started (wall clock, ms since the epoch). */
  readonly startedAtMs: number;
  /** Snapshot ticks between keyframes. */
  readonly keyframeEveryTicks: number;
}

/** Raised when replay bytes do not parse; names the field and the byte offset. */
export class ReplayFormatError extends Error {
  constructor(
    readonly field: string,
    readonly byteOffset: number,
    reason: string,
  ) {
    super(`replay format error at byte ${byteOffset} (${field}): ${reason}`);
    this.name = 'ReplayFormatError';
  }
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true, moreTypes: false, int64AsType: 'number' });

/** The preamble and metadata block of a replay file. Allocates (once per recording). */
export function encodeReplayHeader(meta: ReplayMeta): Uint8Array {
  const body = packr.pack({ ...meta });
  const out = new Uint8Array(REPLAY_PREAMBLE_BYTES + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, REPLAY_MAGIC, true);
  dv.setUint16(4, REPLAY_FORMAT_VERSION, true);
  dv.setUint32(6, body.length, true);
  out.set(body, REPLAY_PREAMBLE_BYTES);
  return out;
}

/** Writes a record header at `at` of `out` (REPLAY_RECORD_HEADER_BYTES bytes). */
export function writeReplayRecordHeader(out: Uint8Array, at: number, kind: number, tick: number, length: number): void {
  out[at] = kind;
  writeU32(out, at + 1, tick);
  writeU32(out, at + 5, length);
}

/** Writes a little-endian u32 at `at`. */
export function writeU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = (v >>> 24) & 0xff;
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

/**
 * The tail of a finished file: the index record (kind 255 at `lastTick`: count u32, then per
 * keyframe its tick and the offset of its first record) and the footer (the index record's offset,
 * REPLAY_END_MAGIC). `at` is the file offset the index record starts at.
 */
export function encodeReplayTail(at: number, lastTick: number, keyTicks: ArrayLike<number>, keyOffsets: ArrayLike<number>, count: number): Uint8Array {
  const payload = 4 + count * REPLAY_INDEX_ENTRY_BYTES;
  const out = new Uint8Array(REPLAY_RECORD_HEADER_BYTES + payload + REPLAY_FOOTER_BYTES);
  writeReplayRecordHeader(out, 0, ReplayRecordKind.Index, lastTick, payload);
  let o = REPLAY_RECORD_HEADER_BYTES;
  writeU32(out, o, count);
  o += 4;
  for (let i = 0; i < count; i++) {
    writeU32(out, o, keyTicks[i]);
    writeU32(out, o + 4, keyOffsets[i]);
    o += REPLAY_INDEX_ENTRY_BYTES;
  }
  writeU32(out, o, at);
  writeU32(out, o + 4, REPLAY_END_MAGIC);
  return out;
}

/** A parsed replay: its metadata, its records (offsets into `bytes`), the keyframes and the controls. */
export interface Replay {
  readonly bytes: Uint8Array;
  readonly formatVersion: number;
  readonly meta: ReplayMeta;
  /** Records of kind Snapshot and Control, in file order: kind, tick and payload [start, end). */
  readonly recordCount: number;
  readonly kinds: Uint8Array;
  readonly ticks: Uint32Array;
  readonly starts: Uint32Array;
  readonly ends: Uint32Array;
  /** Distinct snapshot ticks, ascending. */
  readonly snapshotTicks: Uint32Array;
  /** Keyframes: tick, and the index (into the records) of the keyframe's first record. */
  readonly keyTicks: Uint32Array;
  readonly keyRecords: Uint32Array;
  /** The control messages, decoded, with their ticks. */
  readonly controls: readonly { readonly tick: number; readonly msg: ReplayControl }[];
  /** True when the file ends with its index and footer (the recording finished); false for one in progress. */
  readonly finished: boolean;
  /** Snapshot packets (parts) in the file. */
  readonly snapshotPackets: number;
}

function str(o: Record<string, unknown>, key: string, max: number): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length < 1 || v.length > max) throw new ReplayFormatError(`meta.${key}`, REPLAY_PREAMBLE_BYTES, `not a string of 1..${max} characters`);
  return v;
}

function int(o: Record<string, unknown>, key: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ReplayFormatError(`meta.${key}`, REPLAY_PREAMBLE_BYTES, `not an integer in ${min}..${max}`);
  return v;
}

/** Reads the preamble and metadata; returns them and the offset of the first record. */
export function readReplayHeader(bytes: Uint8Array): { meta: ReplayMeta; formatVersion: number; recordsAt: number } {
  if (bytes.length < REPLAY_PREAMBLE_BYTES) throw new ReplayFormatError('magic', 0, `${bytes.length} bytes is too short for a replay`);
  if (readU32(bytes, 0) !== REPLAY_MAGIC) throw new ReplayFormatError('magic', 0, 'not a Tickwire replay (no "TWRP")');
  const formatVersion = bytes[4] | (bytes[5] << 8);
  if (formatVersion !== REPLAY_FORMAT_VERSION) throw new ReplayFormatError('formatVersion', 4, `format version ${formatVersion}; this reader reads ${REPLAY_FORMAT_VERSION}`);
  const metaBytes = readU32(bytes, 6);
  if (metaBytes > MAX_REPLAY_META_BYTES || REPLAY_PREAMBLE_BYTES + metaBytes > bytes.length) throw new ReplayFormatError('metaLength', 6, `${metaBytes} bytes of metadata in a ${bytes.length}-byte file`);
  let o: unknown;
  try {
    o = packr.unpack(bytes.subarray(REPLAY_PREAMBLE_BYTES, REPLAY_PREAMBLE_BYTES + metaBytes));
  } catch (err) {
    throw new ReplayFormatError('meta', REPLAY_PREAMBLE_BYTES, `invalid msgpack: ${(err as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new ReplayFormatError('meta', REPLAY_PREAMBLE_BYTES, 'not a map');
  const m = o as Record<string, unknown>;
  const tickRateHz = int(m, 'tickRateHz', 1, 1000);
  const snapshotRateHz = int(m, 'snapshotRateHz', 1, tickRateHz);
  if (tickRateHz % snapshotRateHz !== 0) throw new ReplayFormatError('meta.snapshotRateHz', REPLAY_PREAMBLE_BYTES, 'must divide the tick rate');
  const meta: ReplayMeta = {
    game: str(m, 'game', 64), configHash: int(m, 'configHash', 0, 0xffffffff), protocolVersion: int(m, 'protocolVersion', 1, 0xffff),
    tickRateHz, snapshotRateHz, maxEntities: int(m, 'maxEntities', 1, 65536), schema: str(m, 'schema', 16384), room: str(m, 'room', 64),
    startedAtMs: int(m, 'startedAtMs', 0, Number.MAX_SAFE_INTEGER), keyframeEveryTicks: int(m, 'keyframeEveryTicks', 1, 0xffffffff),
  };
  return { meta, formatVersion, recordsAt: REPLAY_PREAMBLE_BYTES + metaBytes };
}

/**
 * Parses and checks a whole replay file: the header, every record's kind, tick order and length,
 * every snapshot packet's header (its tick must be the record's), every control message, and for a
 * finished file the index against the keyframes found. Throws ReplayFormatError naming the field
 * and offset; never reads past the end, and takes time linear in the file's size.
 */
export function parseReplay(bytes: Uint8Array): Replay {
  const { meta, formatVersion, recordsAt } = readReplayHeader(bytes);
  let end = bytes.length;
  let indexAt = -1;
  if (end - recordsAt >= REPLAY_RECORD_HEADER_BYTES + 4 + REPLAY_FOOTER_BYTES && readU32(bytes, end - 4) === REPLAY_END_MAGIC) {
    indexAt = readU32(bytes, end - 8);
    if (indexAt < recordsAt || indexAt > end - REPLAY_FOOTER_BYTES - REPLAY_RECORD_HEADER_BYTES - 4 || bytes[indexAt] !== ReplayRecordKind.Index) {
      throw new ReplayFormatError('footer.indexOffset', end - 8, `${indexAt} is not the offset of an index record`);
    }
    end -= REPLAY_FOOTER_BYTES;
  }
  // first pass: count records, so the tables are allocated once
  let n = 0;
  for (let at = recordsAt; at < end; ) {
    if (at === indexAt) break;
    if (end - at < REPLAY_RECORD_HEADER_BYTES) throw new ReplayFormatError('record', at, `${end - at} bytes left: a record header is ${REPLAY_RECORD_HEADER_BYTES} (the file is cut short)`);
    const len = readU32(bytes, at + 5);
    if (len > MAX_REPLAY_RECORD_BYTES) throw new ReplayFormatError('record.length', at + 5, `${len} bytes, more than ${MAX_REPLAY_RECORD_BYTES}`);
    if (at + REPLAY_RECORD_HEADER_BYTES + len > end) throw new ReplayFormatError('record.length', at + 5, `${len} bytes run past the end of the file (it is cut short)`);
    at += REPLAY_RECORD_HEADER_BYTES + len;
    n++;
  }
  const kinds = new Uint8Array(n);
  const ticks = new Uint32Array(n);
  const starts = new Uint32Array(n);
  const ends = new Uint32Array(n);
  const snapTicks: number[] = [];
  const keyTicks: number[] = [];
  const keyRecords: number[] = [];
  const keyOffsets: number[] = [];
  const controls: { tick: number; msg: ReplayControl }[] = [];
  const h = newSnapshotHeader();
  let at = recordsAt;
  let lastTick = -1;
  let snapshotPackets = 0;
  let openTick = -1;
  let openParts = 0;
  let openCount = 0;
  for (let i = 0; i < n; i++) {
    const kind = bytes[at];
    const tick = readU32(bytes, at + 1);
    const len = readU32(bytes, at + 5);
    const start = at + REPLAY_RECORD_HEADER_BYTES;
    if (tick < lastTick) throw new ReplayFormatError('record.tick', at + 1, `tick ${tick} after tick ${lastTick}: records go in tick order`);
    const payload = bytes.subarray(start, start + len);
    if (kind === ReplayRecordKind.Snapshot) {
      if (payload.length < 1 || payload[0] !== MsgType.Snapshot) throw new ReplayFormatError('snapshot.type', start, 'not a snapshot packet');
      try {
        readSnapshotPacketHeader(payload, h);
      } catch (err) {
        throw new ReplayFormatError('snapshot.header', start, (err as Error).message);
      }
      if (h.tick !== tick) throw new ReplayFormatError('snapshot.tick', start + 2, `packet of tick ${h.tick} in a record of tick ${tick}`);
      if (tick !== openTick) {
        if (openTick >= 0 && openParts !== openCount) throw new ReplayFormatError('snapshot.parts', at, `snapshot ${openTick} has ${openParts} of its ${openCount} parts`);
        if (tick % (meta.tickRateHz / meta.snapshotRateHz) !== 0) throw new ReplayFormatError('snapshot.tick', start + 2, `tick ${tick} is not a snapshot tick`);
        openTick = tick;
        openParts = 0;
        openCount = h.partCount;
        snapTicks.push(tick);
        if (h.kind === SnapshotKind.Full) {
          keyTicks.push(tick);
          keyRecords.push(i);
          keyOffsets.push(at);
        }
      }
      if (h.partCount !== openCount || h.partIndex !== openParts) throw new ReplayFormatError('snapshot.partIndex', start + 8, `part ${h.partIndex} of ${h.partCount} where part ${openParts} of ${openCount} was due`);
      openParts++;
      snapshotPackets++;
    } else if (kind === ReplayRecordKind.Control) {
      let msg: ServerControl;
      try {
        msg = decodeServerControl(payload);
      } catch (err) {
        throw new ReplayFormatError('control', start, (err as Error).message);
      }
      if (msg.t !== 'event' && msg.t !== 'joined' && msg.t !== 'left') throw new ReplayFormatError('control.t', start, `a replay carries event, joined and left messages, not ${msg.t}`);
      controls.push({ tick, msg });
    } else throw new ReplayFormatError('record.kind', at, `unknown record kind ${kind}`);
    kinds[i] = kind;
    ticks[i] = tick;
    starts[i] = start;
    ends[i] = start + len;
    lastTick = tick;
    at = start + len;
  }
  if (openTick >= 0 && openParts !== openCount) throw new ReplayFormatError('snapshot.parts', at, `snapshot ${openTick} has ${openParts} of its ${openCount} parts (the file is cut short)`);
  if (indexAt >= 0) checkIndex(bytes, indexAt, end, lastTick, keyTicks, keyOffsets);
  return {
    bytes, formatVersion, meta, recordCount: n, kinds, ticks, starts, ends, snapshotTicks: Uint32Array.from(snapTicks),
    keyTicks: Uint32Array.from(keyTicks), keyRecords: Uint32Array.from(keyRecords), controls, finished: indexAt >= 0, snapshotPackets,
  };
}

function checkIndex(bytes: Uint8Array, at: number, end: number, lastTick: number, keyTicks: number[], keyOffsets: number[]): void {
  const len = readU32(bytes, at + 5);
  const tick = readU32(bytes, at + 1);
  const start = at + REPLAY_RECORD_HEADER_BYTES;
  if (start + len !== end) throw new ReplayFormatError('index.length', at + 5, `${len} bytes; the index runs to the footer`);
  if (tick < lastTick) throw new ReplayFormatError('index.tick', at + 1, `tick ${tick} before the last record's ${lastTick}`);
  const count = readU32(bytes, start);
  if (len !== 4 + count * REPLAY_INDEX_ENTRY_BYTES) throw new ReplayFormatError('index.count', start, `${count} keyframes do not fill ${len} bytes`);
  if (count !== keyTicks.length) throw new ReplayFormatError('index.count', start, `${count} keyframes indexed, ${keyTicks.length} in the file`);
  for (let k = 0; k < count; k++) {
    const o = start + 4 + k * REPLAY_INDEX_ENTRY_BYTES;
    if (readU32(bytes, o) !== keyTicks[k] || readU32(bytes, o + 4) !== keyOffsets[k]) throw new ReplayFormatError('index.entry', o, `entry ${k} does not match keyframe ${keyTicks[k]} at ${keyOffsets[k]}`);
  }
}

/** Index of the newest keyframe at or before `tick`, or -1 (binary search). */
export function keyframeAtOrBefore(r: Replay, tick: number): number {
  let lo = 0;
  let hi = r.keyTicks.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (r.keyTicks[mid] <= tick) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

/** What `tickwire replay info` prints: the summary of a replay. */
export interface ReplaySummary {
  game: string;
  formatVersion: number;
  protocolVersion: number;
  configHash: number;
  room: string;
  startedAt: string;
  finished: boolean;
  firstTick: number;
  lastTick: number;
  durationSec: number;
  snapshots: number;
  snapshotPackets: number;
  keyframes: number;
  /** Players that joined during the recording (joined messages), by name. */
  players: string[];
  events: number;
  bytes: number;
  bytesPerMinute: number;
}

/** The summary of a parsed replay. */
export function summarizeReplay(r: Replay): ReplaySummary {
  const st = r.snapshotTicks;
  const first = st.length > 0 ? st[0] : 0;
  const last = st.length > 0 ? st[st.length - 1] : 0;
  const durationSec = (last - first) / r.meta.tickRateHz;
  const players: string[] = [];
  let events = 0;
  for (const c of r.controls) {
    if (c.msg.t === 'joined' && !players.includes(c.msg.name)) players.push(c.msg.name);
    else if (c.msg.t === 'event') events++;
  }
  return {
    game: r.meta.game, formatVersion: r.formatVersion, protocolVersion: r.meta.protocolVersion, configHash: r.meta.configHash, room: r.meta.room,
    startedAt: new Date(r.meta.startedAtMs).toISOString(), finished: r.finished, firstTick: first, lastTick: last, durationSec,
    snapshots: st.length, snapshotPackets: r.snapshotPackets, keyframes: r.keyTicks.length, players, events, bytes: r.bytes.length,
    bytesPerMinute: durationSec > 0 ? Math.round((r.bytes.length / durationSec) * 60) : 0,
  };
}

/** The networked field table of a game as a replay's header states it (the config hash reads the same text). */
export function replaySchemaText(game: { readonly networked: unknown }): string {
  return Object.entries(game.networked as Record<string, Record<string, { signature: string }>>)
    .map(([comp, fields]) => `${comp}{${Object.entries(fields).map(([f, q]) => `${f}:${q.signature}`).join(',')}}`)
    .join(';');
}
