// The fuzzer's own parts: the seeded mutation engine is deterministic and bounded and applies every
// mutation, and the corpus in test/corpus/ holds valid seeds for every target plus the regressions.
import { describe, expect, it } from 'vitest';
import { GAMES } from '../games/index.ts';
import { inputHash, MUTATIONS, Mutator } from './harness/mutate.ts';
import { buildSeeds, loadCorpus } from './harness/fuzz-targets.ts';
import { mutateBody } from './harness/fuzz-live.ts';
import { BitReader } from '../shared/protocol/bits.ts';
import { decodeClientControl, decodeServerControl } from '../shared/protocol/control.ts';
import { DecodeError } from '../shared/protocol/errors.ts';
import { createInputPacket, readInputPacket } from '../shared/protocol/input.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { readSnapshotAck } from '../shared/protocol/snapshot.ts';
import { createViewClaims, readViewClaims } from '../shared/protocol/view-claim.ts';
import { createCameraMessage, readCamera } from '../shared/protocol/camera.ts';

const corpus = [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), new Uint8Array([0x82, 0xa1, 0x74, 0xa4, 0x70, 0x69, 0x6e, 0x67]), new Uint8Array(0)];
const dictionary = [new Uint8Array([0xde, 0xad]), new TextEncoder().encode('Content-Length: ')];

function run(seed: number, n: number, maxBytes = 64): string[] {
  const m = new Mutator({ seed, maxBytes, dictionary });
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(Buffer.from(m.mutate(m.choose(corpus), corpus)).toString('hex'));
  return out;
}

describe('mutation engine', () => {
  it('is deterministic from its seed', () => {
    expect(run(7, 2000)).toEqual(run(7, 2000));
    const a = run(7, 200);
    const b = run(8, 200);
    expect(a.filter((x, i) => x !== b[i]).length).toBeGreaterThan(150);
  });

  it('applies every mutation, never exceeds maxBytes, and always changes its input', () => {
    const m = new Mutator({ seed: 3, maxBytes: 48, dictionary });
    let unchanged = 0;
    for (let i = 0; i < 20_000; i++) {
      const input = m.choose(corpus);
      const out = m.mutate(input, corpus);
      expect(out.length).toBeLessThanOrEqual(48);
      if (Buffer.compare(out, input) === 0) unchanged++;
    }
    for (const kind of MUTATIONS) expect(m.counts[kind], kind).toBeGreaterThan(100);
    expect(unchanged).toBe(0);
  });

  it('does not modify the input it mutates', () => {
    const input = new Uint8Array([9, 8, 7, 6, 5]);
    const m = new Mutator({ seed: 1 });
    for (let i = 0; i < 1000; i++) m.mutate(input, [input]);
    expect([...input]).toEqual([9, 8, 7, 6, 5]);
  });

  it('mutates a request body with its Content-Length kept right', () => {
    const req = new TextEncoder().encode('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello');
    const m = new Mutator({ seed: 5, maxBytes: 256 });
    for (let i = 0; i < 500; i++) {
      const text = Buffer.from(mutateBody(m, req, [req])).toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      expect(text.slice(0, head)).toMatch(/^POST \/x HTTP\/1\.1\r\nHost: a\r\nContent-Length: \d+$/);
      expect(Number(/Content-Length: (\d+)$/.exec(text.slice(0, head))![1])).toBe(text.length - head - 4);
    }
  });

  it('names inputs by a stable hash', () => {
    expect(inputHash(new Uint8Array([1, 2, 3]))).toBe(inputHash(new Uint8Array([1, 2, 3])));
    expect(inputHash(new Uint8Array([1, 2, 3]))).not.toBe(inputHash(new Uint8Array([1, 2, 4])));
    expect(inputHash(new Uint8Array(0))).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('corpus', () => {
  it('has a directory of seeds for every target', () => {
    for (const target of [...Object.keys(buildSeeds()), 'snapshot-arena-v1']) {
      expect(loadCorpus(target).filter((e) => e.name.startsWith('seed-')).length, target).toBeGreaterThan(0);
    }
  });

  it('seeds of the message decoders are valid messages, so mutations start deep in the format', () => {
    for (const e of loadCorpus('control-client').filter((x) => x.name.startsWith('seed-'))) expect(() => decodeClientControl(e.bytes), e.name).not.toThrow();
    for (const e of loadCorpus('control-server').filter((x) => x.name.startsWith('seed-'))) expect(() => decodeServerControl(e.bytes), e.name).not.toThrow();
    for (const [name, game] of Object.entries(GAMES)) {
      const schema = compileSchema(game);
      for (const e of loadCorpus(`input-${name}`).filter((x) => x.name.startsWith('seed-'))) {
        expect(() => readInputPacket(new BitReader(), e.bytes, schema, createInputPacket(schema)), e.name).not.toThrow();
      }
    }
    for (const e of loadCorpus('ack').filter((x) => x.name.startsWith('seed-'))) expect(() => readSnapshotAck(e.bytes, { tick: 0, bits: 0 }), e.name).not.toThrow();
    for (const e of loadCorpus('view').filter((x) => x.name.startsWith('seed-'))) expect(() => readViewClaims(e.bytes, createViewClaims()), e.name).not.toThrow();
    for (const e of loadCorpus('camera').filter((x) => x.name.startsWith('seed-'))) expect(() => readCamera(e.bytes, createCameraMessage()), e.name).not.toThrow();
    for (const e of [...loadCorpus('http'), ...loadCorpus('signaling')].filter((x) => x.name.startsWith('seed-'))) {
      expect(Buffer.from(e.bytes).toString('latin1'), e.name).toMatch(/^[A-Z]+ \S+ HTTP\/1\.[01]\r\n([\s\S]*\r\n)?\r\n/);
    }
  });

  it('regressions: event data holding extension types or itself is rejected, naming data', () => {
    const crashes = [...loadCorpus('control-client'), ...loadCorpus('control-server')].filter((e) => e.name.startsWith('crash-'));
    expect(crashes.length).toBeGreaterThanOrEqual(3);
    for (const e of crashes) {
      for (const decode of [decodeClientControl, decodeServerControl]) {
        try {
          decode(e.bytes);
          expect.unreachable(e.name);
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
          expect((err as DecodeError).field, e.name).toBe('data');
        }
      }
    }
  });
});
