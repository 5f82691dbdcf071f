// Mutation fuzzing of the client's snapshot decoding: a stream captured from a real server (full,
// delta and split packets) primes a SnapshotReceiver, which is then fed the corpus and 100,000
// mutated packets. Every packet is decoded or rejected with a DecodeError naming a field; decoded
// frames stay within the schema; no packet takes longer than 5 ms.
import { describe, expect, it } from 'vitest';
import { failureDetail, fuzzDecoder, loadCorpus, summarize } from './harness/fuzz-targets.ts';
import { captureSnapshotStream, snapshotTarget } from './harness/fuzz-snapshot.ts';
import { newSnapshotHeader, readSnapshotPacketHeader, SnapshotKind } from '../shared/protocol/snapshot.ts';

const INPUTS = Number(process.env.FUZZ_INPUTS ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_122);

describe('snapshot fuzzing', () => {
  it(`SnapshotReceiver: captured stream + corpus + ${INPUTS} mutations`, async () => {
    const stream = await captureSnapshotStream({ npcs: 60, snapshots: 60 });
    // the stream covers what the receiver handles: full snapshots split into parts, and deltas
    const h = newSnapshotHeader();
    const headers = stream.packets.map((p) => ({ ...readSnapshotPacketHeader(p, h) }));
    expect(headers.some((x) => x.kind === SnapshotKind.Full && x.partCount > 1)).toBe(true);
    expect(headers.some((x) => x.kind === SnapshotKind.Delta)).toBe(true);

    const target = snapshotTarget(stream);
    const corpus = [...stream.packets, ...loadCorpus(target.name).map((e) => e.bytes)];
    const r = fuzzDecoder(target, corpus, { seed: SEED, inputs: INPUTS });
    console.log(summarize(r));
    expect(r.failureCount, failureDetail(r)).toBe(0);
    expect(r.accepted).toBeGreaterThan(INPUTS / 100);
    expect(r.rejected).toBeGreaterThan(INPUTS / 10);
    // rejections name header fields and fields deep in the entity section
    for (const field of ['type', 'partCount', 'baselineAge', 'header']) expect(r.fields[field] ?? 0, field).toBeGreaterThan(0);
    expect(Object.keys(r.fields).length).toBeGreaterThan(12);
    expect(r.maxMs).toBeLessThanOrEqual(5);
  }, 120_000);
});
