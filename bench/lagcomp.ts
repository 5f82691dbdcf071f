// Lag compensation under a bad link: the real server in this process on the loopback transport and
// a fake clock (deterministic from --seed, no sockets, no timers), the gallery game's fast targets,
// and ClientNetcode shooters behind the seeded link conditioner (default 150 ms RTT, 20 ms jitter,
// 5% loss each way) that aim exactly at where they draw a target. For every shot that hits on the
// shooter's screen, the server's verdict with rewind and without; the distance between the rewound
// target and where the shooter drew it; what happened to the view claims; and the cost of one
// rewound hit test, timed in place (wall clock of this machine). With --cheaters N, N more
// shooters forge their claims 600 ms older than what they drew and aim where the targets were
// then: their claims are clamped and counted, and their hit rate is reported apart.
// `npm run bench:lagcomp -- [--shooters 8] [--cheaters 0] [--seconds 60] [--rtt 150] [--jitter 20] [--loss 5] [--targets 6] [--seed 1] [--json] [--save]`
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createGallery, SHOT_RANGE, TARGET_RADIUS, type GalleryShot } from '../games/gallery.ts';
import { ClientNetcode } from '../netcode/netcode.ts';
import { EntityView } from '../netcode/interpolation.ts';
import { conditionClientIO, type ConditionedIO } from '../netcode/conditioned-io.ts';
import { loadServerConfig } from '../server/config.ts';
import { LoopbackTransport, loopbackClientIO } from '../server/net/loopback.ts';
import { TickwireServer } from '../server/server.ts';
import { DEFAULT_NET_CONFIG } from '../shared/config.ts';
import { defaultLinkSettings } from '../shared/net/link-conditioner.ts';
import { newRayHit, segmentCircle } from '../shared/sim/lagcomp.ts';
import { REPO_ROOT } from '../tools/bots/pool.ts';
import { machineInfo } from '../tools/measure/report.ts';
import { percentile, round } from '../tools/measure/stats.ts';

const { values } = parseArgs({
  options: {
    shooters: { type: 'string', default: '8' }, cheaters: { type: 'string', default: '0' }, seconds: { type: 'string', default: '60' }, rtt: { type: 'string', default: '150' },
    jitter: { type: 'string', default: '20' }, loss: { type: 'string', default: '5' }, targets: { type: 'string', default: '6' },
    seed: { type: 'string', default: '1' }, json: { type: 'boolean', default: false }, save: { type: 'boolean', default: false },
  },
});
const shooters = Math.max(1, Math.min(32, Number(values.shooters)));
const cheaters = Math.max(0, Math.min(8, Number(values.cheaters)));
const seconds = Math.max(5, Math.min(600, Number(values.seconds)));
const rttMs = Number(values.rtt);
const jitterMs = Number(values.jitter);
const lossPct = Number(values.loss);
const targets = Math.max(1, Math.min(32, Number(values.targets)));
const seed = Number(values.seed);
const log = (l: string): void => void process.stderr.write(`${l}\n`);

/** Time between two shots of one shooter, ms; shooters start 2 s in, staggered. */
const SHOT_EVERY_MS = 250;
const WARMUP_MS = 2000;
/** Rewound hit tests timed per shot (bounded). */
const TIMED_REPS = 50;
/** How much older than what they drew cheaters claim their view was, ticks (600 ms at 60 Hz). */
const CHEAT_TICKS = 36;

interface Aim {
  target: number;
  drawnX: number;
  drawnY: number;
  screenHit: number;
}
interface Shooter {
  readonly netcode: ClientNetcode;
  readonly cheat: boolean;
  /** What a cheater aims at: the world CHEAT_TICKS before what it draws. */
  readonly past: EntityView;
  readonly link: ConditionedIO;
  readonly aims: Map<number, Aim>;
  pending: Aim | undefined;
  input: { fire: number; ax: number; ay: number };
  nextFrameMs: number;
  nextShotMs: number;
  shotsFired: number;
}

let nowMs = 0;
const results: { shot: GalleryShot; aim: Aim | undefined }[] = [];
const errors: number[] = [];
const costUs: number[] = [];
const rewindMs: number[] = [];
const timedHit = newRayHit();
let byEid: Map<number, Shooter> = new Map();
const game = createGallery({
  onShot(s) {
    const sh = byEid.get(s.shooter);
    const aim = sh?.aims.get(s.seq);
    results.push({ shot: s, aim });
    const lc = s.lagComp;
    if (!lc || sh?.cheat) return; // errors, rewinds and costs of honest shots only
    rewindMs.push((s.tick - s.viewTick) * (1000 / DEFAULT_NET_CONFIG.tickRateHz));
    const p = { x: 0, y: 0 };
    if (aim && lc.positionAt(s.shooter, aim.target, p)) errors.push(Math.hypot(p.x - aim.drawnX, p.y - aim.drawnY));
    const t0 = performance.now();
    for (let i = 0; i < TIMED_REPS; i++) lc.raycast(s.shooter, s.x0, s.y0, s.x1, s.y1, timedHit);
    costUs.push(((performance.now() - t0) * 1000) / TIMED_REPS);
  },
});

const config = loadServerConfig({}, { webrtc: false, resumeGraceMs: 0, logLevel: 'silent', roomCapacity: 64, seed, gameParams: { targets }, game: 'gallery' });
const server = new TickwireServer(config, { game, clock: { nowMs: () => nowMs }, autoTick: false });
const transport = new LoopbackTransport({ reliable: true, manual: true, nowMs: () => nowMs });
server.startInProcess(transport);
const ROOM = 'lagcomp';
const settings = { ...defaultLinkSettings(), enabled: true, delayMs: rttMs / 2, jitterMs, lossPct };
const clients: Shooter[] = [];
for (let i = 0; i < shooters + cheaters; i++) {
  const inner = loopbackClientIO(transport, undefined, { nowMs: () => nowMs });
  const link = conditionClientIO({ nowMs: inner.nowMs, openWebSocket: inner.openWebSocket }, { settings, seed: seed * 1000 + i + 1, timers: { nowMs: () => nowMs }, lossyWebSocket: true });
  const netcode = new ClientNetcode(game, link.io, { url: 'http://loopback', name: `shooter${i}`, transport: 'ws', room: ROOM });
  const cheat = i >= shooters;
  const sh: Shooter = { netcode, cheat, past: new EntityView(netcode.connection.schema), link, aims: new Map(), pending: undefined, input: { fire: 0, ax: 0, ay: 0 }, nextFrameMs: (i * 7.3) % 16, nextShotMs: WARMUP_MS + (i * SHOT_EVERY_MS) / shooters, shotsFired: 0 };
  const conn = netcode.connection;
  const send = conn.sendInput.bind(conn);
  conn.sendInput = (input, target, flush) => {
    const seq = send(input, target, flush);
    if (input.fire === 1 && sh.pending) {
      sh.aims.set(seq, sh.pending);
      sh.shotsFired++;
    }
    return seq;
  };
  if (cheat) {
    // The claim's tick (bytes 4..7 of each 9-byte claim from byte 2) moved CHEAT_TICKS back.
    const claims = netcode.claims!;
    const message = claims.message.bind(claims);
    claims.message = (seq, count) => {
      const m = message(seq, count);
      if (!m) return m;
      for (let b = 2; b + 9 <= m.length; b += 9) {
        const t = Math.max(0, ((m[b + 2] | (m[b + 3] << 8) | (m[b + 4] << 16) | (m[b + 5] << 24)) >>> 0) - CHEAT_TICKS);
        m[b + 2] = t & 0xff;
        m[b + 3] = (t >>> 8) & 0xff;
        m[b + 4] = (t >>> 16) & 0xff;
        m[b + 5] = t >>> 24;
      }
      return m;
    };
  }
  clients.push(sh);
  netcode.connect();
}

/** Where `eid` is drawn by `sh` now (its remote view; a cheater's view of the past), into out; false when not drawn. */
function drawnAt(sh: Shooter, eid: number, out: { x: number; y: number }): boolean {
  const v = sh.cheat ? sh.past : sh.netcode.remote;
  const row = v.indexOf(eid);
  if (row < 0) return false;
  out.x = v.values[row * v.fieldCount];
  out.y = v.values[row * v.fieldCount + 1];
  return true;
}

const self = { x: 0, y: 0 };
const p = { x: 0, y: 0 };
const q = { x: 0, y: 0 };
/** Aims at a drawn target and fires, or sets an idle input. */
function aim(sh: Shooter, shooterEids: Set<number>): void {
  sh.input = { fire: 0, ax: 0, ay: 0 };
  sh.pending = undefined;
  if (nowMs < sh.nextShotMs) return;
  const v = sh.netcode.remote;
  if (!sh.netcode.localPosition(self) || v.count === 0) return;
  sh.nextShotMs += SHOT_EVERY_MS;
  if (sh.cheat) sh.netcode.interpolator.sample(sh.netcode.timeline, v.tick - CHEAT_TICKS, sh.past);
  const ids: number[] = [];
  for (let i = 0; i < v.count; i++) if (!shooterEids.has(v.ids[i])) ids.push(v.ids[i]);
  if (ids.length === 0) return;
  const target = ids[sh.shotsFired % ids.length];
  if (!drawnAt(sh, target, p)) return;
  const ax = Math.round(p.x * 8) / 8;
  const ay = Math.round(p.y * 8) / 8;
  const len = Math.hypot(ax - self.x, ay - self.y);
  if (len === 0) return;
  const dx = ((ax - self.x) / len) * SHOT_RANGE;
  const dy = ((ay - self.y) / len) * SHOT_RANGE;
  let screenHit = -1;
  let best = 2;
  for (const e of ids) {
    if (!drawnAt(sh, e, q)) continue;
    const t = segmentCircle(self.x, self.y, dx, dy, q.x, q.y, TARGET_RADIUS);
    if (t >= 0 && t < best) {
      best = t;
      screenHit = e;
    }
  }
  sh.pending = { target, drawnX: p.x, drawnY: p.y, screenHit };
  sh.input = { fire: 1, ax, ay };
}

const tickMs = 1000 / config.net.tickRateHz;
let nextTickMs = 3.3;
const endMs = seconds * 1000;
const wallStart = performance.now();
const pump = (): void => {
  transport.pump();
  for (const c of clients) c.link.pump();
  transport.pump();
};
while (nowMs < endMs) {
  nowMs += 0.5;
  pump();
  while (nowMs >= nextTickMs) {
    server.tickOnce();
    nextTickMs += tickMs;
  }
  pump();
  const eids = new Set(clients.map((c) => c.netcode.eid));
  if (byEid.size < clients.length) byEid = new Map(clients.filter((c) => c.netcode.eid >= 0).map((c) => [c.netcode.eid, c]));
  for (const c of clients) {
    if (nowMs < c.nextFrameMs) continue;
    c.nextFrameMs += 1000 / 60;
    aim(c, eids);
    c.netcode.frame(nowMs, c.input);
  }
}
const wallSec = (performance.now() - wallStart) / 1000;

const honest = clients.filter((c) => !c.cheat);
const fired = honest.reduce((a, c) => a + c.shotsFired, 0);
const isCheat = (r: (typeof results)[number]): boolean => byEid.get(r.shot.shooter)?.cheat === true;
const judged = results.filter((r) => r.aim !== undefined && !isCheat(r));
const cheatJudged = results.filter((r) => r.aim !== undefined && isCheat(r) && r.aim.screenHit >= 0);
const screenHits = judged.filter((r) => r.aim!.screenHit >= 0);
const rate = (f: (r: (typeof results)[number]) => boolean): number => (screenHits.length > 0 ? round(screenHits.filter(f).length / screenHits.length, 4) : 0);
const claims = server.stats.lagComp.claims;
const claimsClamped = claims.clamped_cap + claims.clamped_future + claims.clamped_inconsistent;
const claimBytes = honest.reduce((a, c) => a + (c.netcode.claims?.messages ?? 0), 0);
const result = {
  scenario: 'gallery lag compensation', at: new Date().toISOString(), machine: machineInfo(),
  command: `npm run bench:lagcomp -- --shooters ${shooters} --cheaters ${cheaters} --seconds ${seconds} --rtt ${rttMs} --jitter ${jitterMs} --loss ${lossPct} --targets ${targets} --seed ${seed}`,
  link: { rttMs, jitterMs, lossPct }, shooters, targets, seconds, targetSpeedUnitsPerSec: 240, targetRadiusUnits: TARGET_RADIUS,
  shotsFired: fired,
  shots: judged.length,
  shotsLost: fired - judged.length,
  screenHits: screenHits.length,
  hitRateWithRewind: rate((r) => r.shot.hitRewind === r.aim!.screenHit),
  hitRateWithoutRewind: rate((r) => r.shot.hitLive === r.aim!.screenHit),
  falseHitsWithRewind: judged.filter((r) => r.aim!.screenHit < 0 && r.shot.hitRewind >= 0).length,
  rewindErrorUnits: { p50: round(percentile(errors, 0.5), 4), p99: round(percentile(errors, 0.99), 4), max: round(Math.max(0, ...errors), 4), samples: errors.length },
  rewindMs: { p50: round(percentile(rewindMs, 0.5), 1), p99: round(percentile(rewindMs, 0.99), 1) },
  claimsClamped,
  claims: { ...claims },
  cheaters: { shooters: cheaters, claimOlderMs: round((CHEAT_TICKS * 1000) / DEFAULT_NET_CONFIG.tickRateHz, 1), screenHits: cheatJudged.length, hitRateWithRewind: cheatJudged.length > 0 ? round(cheatJudged.filter((r) => r.shot.hitRewind === r.aim!.screenHit).length / cheatJudged.length, 4) : 0 },
  viewClaimMessagesPerShot: judged.length > 0 ? round(claimBytes / judged.length, 2) : 0,
  rewindCostUs: { perHitTestP50: round(percentile(costUs, 0.5), 3), perHitTestP99: round(percentile(costUs, 0.99), 3), timedPerShot: TIMED_REPS },
  wallSec: round(wallSec, 1),
  note: 'server and clients in one process on a fake clock; hit-test cost is wall time on this machine (2 shared cores: noisy)',
};
if (values.save) {
  const dir = join(REPO_ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'lagcomp.json'), JSON.stringify(result, null, 2) + '\n');
  log('saved bench/results/lagcomp.json');
}
if (values.json) console.log(JSON.stringify(result));
else {
  console.log(`${result.screenHits} of ${result.shots} shots hit on the shooter's screen; the server agreed on ${(result.hitRateWithRewind * 100).toFixed(2)}% with rewind, ${(result.hitRateWithoutRewind * 100).toFixed(2)}% without`);
  console.log(`rewound target vs drawn: p50 ${result.rewindErrorUnits.p50}, p99 ${result.rewindErrorUnits.p99}, max ${result.rewindErrorUnits.max} units; rewind p50 ${result.rewindMs.p50} ms; claims clamped ${claimsClamped}; ${result.rewindCostUs.perHitTestP50} µs per rewound hit test (p50)`);
}
process.exit(0);
