// Snapshot decoding under fuzz: a real packet stream captured from an in-process server (full,
// delta and split snapshots, acked by a client receiver), and the client's SnapshotReceiver fed
// mutated packets against baselines primed from that stream.
import { arena } from '../../games/arena.ts';
import { FakeClock } from '../../server/loop.ts';
import { LoopbackTransport } from '../../server/net/loopback.ts';
import { TickwireServer } from '../../server/server.ts';
import { SnapshotReceiver } from '../../netcode/receiver.ts';
import { configHash, DEFAULT_NET_CONFIG, PROTOCOL_VERSION } from '../../shared/config.ts';
import type { AnyGame } from '../../shared/sim/game.ts';
import { encodeControl } from '../../shared/protocol/control.ts';
import { MsgType } from '../../shared/protocol/ids.ts';
import type { NetSchema } from '../../shared/protocol/schema.ts';
import { SnapshotFrame } from '../../shared/protocol/snapshot.ts';
import { Rng } from '../../shared/sim/rng.ts';
import { captureLog, fuzzServerConfig } from './fuzz-live.ts';
import { FuzzCheckError, loadCorpus, type DecoderTarget } from './fuzz-targets.ts';

/** A captured snapshot stream: every packet one client received, in order. */
export interface SnapshotStream {
  readonly game: AnyGame;
  readonly schema: NetSchema;
  readonly ticksPerSnapshot: number;
  readonly packets: readonly Uint8Array[];
}

/** Options of a capture. */
export interface CaptureOptions {
  game?: AnyGame;
  /** NPCs in the room (more entities, bigger snapshots). Default 40. */
  npcs?: number;
  /** Snapshots to capture. Default 40. */
  snapshots?: number;
  /** Packet size limit; small values force split snapshots. Default 256 (the smallest allowed). */
  maxPacketBytes?: number;
  /** Seed of the client's packet and ack loss. Default 1. */
  seed?: number;
}

/**
 * Runs the real server on a fake clock over the loopback transport with one client whose snapshots
 * are captured; the client decodes them with a SnapshotReceiver and acks (losing a tenth of the
 * packets and a fifth of the acks, so the stream holds full snapshots, deltas against several
 * baselines and fallbacks).
 */
export async function captureSnapshotStream(o: CaptureOptions = {}): Promise<SnapshotStream> {
  const game = o.game ?? arena;
  const net = { ...DEFAULT_NET_CONFIG, maxPacketBytes: o.maxPacketBytes ?? 256 };
  const clock = new FakeClock(1000);
  const srv = new TickwireServer(fuzzServerConfig({ gameParams: { npcs: o.npcs ?? 40 }, net }), { game, autoTick: false, clock, logger: captureLog().logger });
  const loop = new LoopbackTransport({ reliable: true, manual: true, nowMs: () => clock.nowMs() });
  srv.startInProcess(loop);
  try {
    let pending: Uint8Array[] = [];
    const peer = loop.connect();
    peer.onmessage = (ev) => {
      const bytes = ev.data as Uint8Array;
      if (bytes[0] === MsgType.Snapshot) pending.push(bytes.slice());
    };
    loop.pump();
    peer.send(encodeControl({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(game), name: 'capture' }));
    loop.pump();
    srv.inbound.drain();
    const s = srv.conns.get(peer.connId)?.session;
    if (!s || s.state !== 'active') throw new Error(`capture client could not join: ${s?.state ?? 'no session'}`);
    const ticksPerSnapshot = net.tickRateHz / net.snapshotRateHz;
    const receiver = new SnapshotReceiver(srv.schema, ticksPerSnapshot);
    const rng = new Rng(o.seed ?? 1);
    const packets: Uint8Array[] = [];
    const want = o.snapshots ?? 40;
    let snapshots = 0;
    for (let t = 0; snapshots < want && t < want * ticksPerSnapshot * 4; t++) {
      clock.advance(1000 / net.tickRateHz);
      srv.tickOnce();
      loop.pump();
      if (pending.length === 0) continue;
      snapshots++;
      for (const p of pending) {
        packets.push(p);
        if (rng.next() < 0.1) continue; // lost on the way
        receiver.receive(p);
      }
      pending = [];
      if (rng.next() < 0.8) {
        peer.send(receiver.ack());
        loop.pump();
        srv.inbound.drain();
      }
    }
    return { game, schema: srv.schema, ticksPerSnapshot, packets };
  } finally {
    await srv.stop();
  }
}

/** Checks what a receiver returned: ids ascending and in range, masks and values within the schema. */
export function checkFrame(f: SnapshotFrame, schema: NetSchema): void {
  if (f.count < 0 || f.count > schema.maxEntities) throw new FuzzCheckError(`frame count ${f.count} outside 0..${schema.maxEntities}`);
  const nf = f.fieldCount;
  const nc = schema.components.length;
  for (let i = 0; i < f.count; i++) {
    if (f.ids[i] >= schema.maxEntities) throw new FuzzCheckError(`entity id ${f.ids[i]} >= maxEntities`);
    if (i > 0 && f.ids[i] <= f.ids[i - 1]) throw new FuzzCheckError(`entity ids not ascending at row ${i}`);
    if (nc < 32 && f.masks[i] >= 2 ** nc) throw new FuzzCheckError(`mask ${f.masks[i]} names unknown components`);
    for (let k = 0; k < nf; k++) {
      const field = schema.fields[k];
      const v = f.values[i * nf + k];
      if (v > field.q.maxQ) throw new FuzzCheckError(`${field.component}.${field.field} = ${v} > maxQ ${field.q.maxQ}`);
      if (((f.masks[i] >>> field.compIndex) & 1) === 0 && v !== 0) throw new FuzzCheckError(`${field.component}.${field.field} set on an entity without the component`);
    }
  }
}

/**
 * The client's snapshot receiver under fuzz. The receiver is stateful: it is primed with the
 * captured stream (so deltas find their baselines) and primed afresh every `reprimeEvery` inputs,
 * when a new receiver must decode the stream to the same final frame as the first one did (a
 * check that hostile packets left no state behind in shared decoder code). After a packet that
 * leaves its snapshot incomplete, the display frame (missing parts extrapolated) is built too.
 */
export function snapshotTarget(stream: SnapshotStream, reprimeEvery = 512): DecoderTarget {
  const schema = stream.schema;
  const prime = (): SnapshotReceiver => {
    const r = new SnapshotReceiver(schema, stream.ticksPerSnapshot);
    for (const p of stream.packets) r.receive(p);
    return r;
  };
  let receiver = prime();
  const expected = new SnapshotFrame(schema);
  const latest = receiver.latest();
  if (!latest) throw new Error('the captured stream completes no snapshot');
  expected.copyFrom(latest);
  let fed = 0;
  return {
    name: `snapshot-${stream.game.name}`,
    maxBytes: 2048,
    dictionary: [[3], [0], [1], [4], [5], [0xff], [1, 1], [0, 0, 0, 0x80], [0xff, 0xff], [0xff, 0xff, 0xff, 0xff]].map((t) => new Uint8Array(t)),
    decode(bytes) {
      const frame = receiver.receive(bytes);
      if (frame) return frame;
      return receiver.display(receiver.header.tick) ?? null;
    },
    check(_bytes, outcome) {
      if (outcome.ok && outcome.value instanceof SnapshotFrame) checkFrame(outcome.value, schema);
    },
    canary() {
      if (++fed % reprimeEvery !== 0) return;
      receiver = prime();
      const again = receiver.latest();
      if (!again || again.tick !== expected.tick || !again.sameFrame(expected)) throw new FuzzCheckError('the captured stream decodes differently after hostile packets');
    },
  };
}

/** Snapshot targets of every fuzzed game (arena-v1), each with its captured stream first in the corpus. */
export async function snapshotTargets(): Promise<{ target: DecoderTarget; corpus: Uint8Array[] }[]> {
  const stream = await captureSnapshotStream({ npcs: 60, snapshots: 60 });
  const target = snapshotTarget(stream);
  return [{ target, corpus: [...stream.packets, ...loadCorpus(target.name).map((e) => e.bytes)] }];
}

/** Writes a captured stream as the seed files of test/corpus/snapshot-<game>/ (seed-000.bin, ...). */
export function streamSeeds(stream: SnapshotStream): [string, Uint8Array][] {
  return stream.packets.map((p, i) => [String(i).padStart(3, '0'), p]);
}
