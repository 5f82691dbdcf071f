// Mutation fuzzing of the HTTP surfaces: raw requests (request line, headers, bodies) to the HTTP +
// WebSocket port and to the WebRTC signaling routes, with WebRTC in-process (a native crash would
// end this test) and in its supervised process (which must not restart). The server answers or
// closes, keeps ticking, logs no error, and WebRTC still works afterwards.
import { afterEach, describe, expect, it } from 'vitest';
import { connectGeckos, loadGeckosClient } from '../tools/node-client/rtc.ts';
import { loadCorpus } from './harness/fuzz-targets.ts';
import { fuzzHttp, fuzzWebRtc, healthy, serverCorpus, SignalingPeers, startFuzzServer, summarizeHttp, summarizeLive, type FuzzServer } from './harness/fuzz-live.ts';
import type { GeckosTransport } from '../server/net/geckos.ts';
import type { RtcProcessTransport } from '../server/net/rtc-process.ts';
import { waitFor } from './helpers/server.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_122);
/** Mutated requests per HTTP surface (FUZZ_HTTP_INPUTS overrides it); `npm run fuzz` sends more. */
const REQUESTS = Number(process.env.FUZZ_HTTP_INPUTS ?? 1000);

let live: FuzzServer | undefined;
let peers: SignalingPeers | undefined;
afterEach(async () => {
  await peers?.closeAll();
  await live?.srv.stop();
  peers = undefined;
  live = undefined;
});

/** Proves WebRTC still works: a new player joins and opens a datachannel. */
async function webrtcStillWorks(fs: FuzzServer): Promise<void> {
  const check = new SignalingPeers(fs.srv, fs.srv.rtc!.signalingPort);
  await check.refresh(0);
  const token = check.token();
  const channel = await connectGeckos(await loadGeckosClient(), { url: 'http://127.0.0.1', port: fs.srv.rtc!.signalingPort, token, timeoutMs: 8000 });
  const session = [...fs.srv.sessions.values()].find((s) => s.token === token);
  await waitFor(() => session?.unreliable !== undefined, 3000, 'server sees the channel open');
  channel.close();
  await check.closeAll();
}

describe('HTTP fuzzing', () => {
  it(`HTTP + WebSocket port: corpus + ${REQUESTS} mutated requests`, async () => {
    live = await startFuzzServer();
    const ticks0 = live.srv.stats.ticks;
    const corpus = loadCorpus('http').map((e) => e.bytes);
    const r = await fuzzHttp(corpus, { name: 'http', port: live.srv.http!.port, seed: SEED, inputs: REQUESTS, halfCloseMs: 30 });
    console.log(summarizeHttp(r));
    expect(r.sent).toBe(corpus.length + REQUESTS);
    expect(r.responded).toBeGreaterThan(r.sent / 4);
    for (const status of ['200', '404', '405']) expect(r.statuses[status] ?? 0, `answers ${status}`).toBeGreaterThan(0);
    expect(r.timedOut).toBeLessThan(r.sent / 50);
    expect(await healthy(live.srv)).toBe(true);
    expect(live.srv.stats.ticks).toBeGreaterThan(ticks0);
    expect(live.log.lines).toEqual([]);
    // upgraded sockets were closed: their sessions are gone
    await waitFor(() => live!.srv.sessions.size === 0, 5000, 'sessions of fuzzed upgrades to end');
  }, 120_000);

  it(`signaling routes with WebRTC in-process: corpus + ${REQUESTS} mutated requests, then WebRTC still connects`, async () => {
    live = await startFuzzServer({ webrtc: true, webrtcProcess: false });
    const rtc = live.srv.rtc as GeckosTransport;
    peers = new SignalingPeers(live.srv, rtc.signalingPort);
    await peers.refresh();
    const corpus = loadCorpus('signaling').map((e) => e.bytes);
    const r = await fuzzHttp(corpus, { name: 'signaling', port: rtc.signalingPort, seed: SEED, inputs: REQUESTS, maxBytes: 20_000, halfCloseMs: 400, prepare: peers.prepare, onAnswer: peers.onAnswer });
    console.log(summarizeHttp(r), JSON.stringify(rtc.stats()));
    expect(r.sent).toBe(corpus.length + REQUESTS);
    expect(r.responded).toBeGreaterThan(r.sent * 0.8);
    for (const status of ['200', '400', '401', '404', '413']) expect(r.statuses[status] ?? 0, `answers ${status}`).toBeGreaterThan(0);
    expect(rtc.stats().callbackErrors).toBe(0);
    await peers.closeAll();
    expect(await healthy(live.srv)).toBe(true);
    expect(live.log.lines).toEqual([]);
    await waitFor(() => rtc.pendingCount() < 8, 5000, 'fuzzed peer connections to close');
    await webrtcStillWorks(live);
  }, 120_000);

  it('signaling routes and datagrams with WebRTC in its own process: the worker never restarts', async () => {
    live = await startFuzzServer({ webrtc: true, webrtcProcess: true });
    const rtc = live.srv.rtc as RtcProcessTransport;
    expect(rtc.isUp()).toBe(true);
    peers = new SignalingPeers(live.srv, rtc.signalingPort);
    await peers.refresh();
    const r = await fuzzHttp(loadCorpus('signaling').map((e) => e.bytes), { name: 'signaling-process', port: rtc.signalingPort, seed: SEED + 1, inputs: REQUESTS / 4, maxBytes: 20_000, halfCloseMs: 400, prepare: peers.prepare, onAnswer: peers.onAnswer });
    console.log(summarizeHttp(r));
    expect(r.responded).toBeGreaterThan(r.sent * 0.8);
    await peers.closeAll();
    const d = await fuzzWebRtc(live, serverCorpus().player, { seed: SEED + 1, inputs: REQUESTS / 2 });
    console.log(summarizeLive(d));
    expect(d.failureCount).toBe(0);
    expect(d.delivered).toBeGreaterThan(REQUESTS / 2 * 0.8);
    expect(rtc.restarts).toBe(0);
    expect(rtc.isUp()).toBe(true);
    expect(live.log.lines).toEqual([]);
    await webrtcStillWorks(live);
  }, 120_000);
});
