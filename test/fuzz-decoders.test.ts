// Mutation fuzzing of every pure decoder: the corpus in test/corpus/ and 100,000 seeded mutations
// each. Every input is accepted or rejected with a DecodeError naming a field, never anything
// else; accepted inputs re-encode consistently; no input takes longer than 5 ms.
import { describe, expect, it } from 'vitest';
import { GAMES } from '../games/index.ts';
import { ackTarget, cameraTarget, clientControlTarget, failureDetail, fuzzDecoder, inputTarget, loadCorpus, serverControlTarget, summarize, viewClaimTarget, type DecoderTarget } from './harness/fuzz-targets.ts';

/** Mutated inputs per decoder (FUZZ_INPUTS overrides it for a quick local run). */
const INPUTS = Number(process.env.FUZZ_INPUTS ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_122);

function fuzz(target: DecoderTarget, expectedFields: string[]): void {
  it(`${target.name}: corpus + ${INPUTS} mutations, typed rejections only, none slower than 5 ms`, () => {
    const corpus = loadCorpus(target.name);
    expect(corpus.length, `test/corpus/${target.name}/ has seeds`).toBeGreaterThan(0);
    const r = fuzzDecoder(target, corpus.map((e) => e.bytes), { seed: SEED, inputs: INPUTS });
    console.log(summarize(r));
    expect(r.failureCount, failureDetail(r)).toBe(0);
    expect(r.inputs).toBe(corpus.length + INPUTS);
    // both paths are exercised: mutations that still decode, and rejections naming the format's fields
    expect(r.accepted).toBeGreaterThan(INPUTS / 100);
    expect(r.rejected).toBeGreaterThan(INPUTS / 2);
    for (const field of expectedFields) expect(r.fields[field] ?? 0, `rejections naming ${field}`).toBeGreaterThan(0);
    expect(r.maxMs).toBeLessThanOrEqual(5);
  }, 120_000);
}

describe('decoder fuzzing', () => {
  fuzz(clientControlTarget, ['type', 'body', 't', 'name', 'token', 's', 'data']);
  // the server's messages are decoded by clients (browser and bots): same rules
  fuzz(serverControlTarget, ['type', 'body', 't', 'sessionId', 'token']);
  for (const game of Object.values(GAMES)) fuzz(inputTarget(game), ['type', 'count', 'flags', 'newestTick', 'end']);
  fuzz(ackTarget(), ['length', 'type']);
  fuzz(viewClaimTarget(), ['length', 'type', 'count', 'frac']);
  fuzz(cameraTarget(), ['length', 'type', 'x', 'y', 'radius']);
});
