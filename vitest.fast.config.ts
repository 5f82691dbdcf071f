// The edit-loop tier (`npm run test:fast`): unit, property, golden and in-process tests that open
// no sockets and start no processes; under a minute. `npm test` runs everything, these included.
import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

/** Test files of the fast tier. */
export const FAST_TESTS = [
  'test/architecture.test.ts', 'test/bench-accounting.test.ts', 'test/bench-stats.test.ts', 'test/client-clock.test.ts',
  'test/client-conditioner.test.ts', 'test/client-interpolation.test.ts', 'test/client-prediction.test.ts', 'test/codec.test.ts',
  'test/config.test.ts', 'test/delta-codec.test.ts', 'test/game-api.test.ts', 'test/delta-property.test.ts', 'test/fuzz-corpus.test.ts', 'test/inputs.test.ts', 'test/input-batching.test.ts', 'test/send-queue.test.ts',
  'test/loop.test.ts', 'test/loopback-transport.test.ts', 'test/property-codecs.test.ts', 'test/property-control.test.ts',
  'test/property-snapshot.test.ts', 'test/property-snapshot-slots.test.ts', 'test/reliable.test.ts', 'test/rooms.test.ts', 'test/snapshot-encoder.test.ts',
  'test/snapshot-golden.test.ts', 'test/snapshot-receiver.test.ts', 'test/link-stats.test.ts', 'test/lagcomp.test.ts', 'test/lagcomp-integration.test.ts',
  'test/snapshot-golden.test.ts', 'test/snapshot-receiver.test.ts', 'test/link-stats.test.ts', 'test/interest.test.ts', 'test/golden-stream.test.ts',
];

export default defineConfig({ ...base, test: { ...base.test, include: FAST_TESTS } });
