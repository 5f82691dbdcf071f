// Plays a replay file (docs/replay.md) through the live client's own path: the snapshot packets
// go into a SnapshotReceiver as they arrived for the recording spectator, complete frames into a
// SnapshotTimeline, and the Interpolator samples it at the playback tick, so a replay is drawn
// exactly as live play draws remote entities. Play, pause, speed, and seek (from the nearest
// keyframe, decoding the deltas up to the target). A damaged file is an error, never a crash.
import { configHash } from '../shared/config.ts';
import { DecodeError } from '../shared/protocol/errors.ts';
import { keyframeAtOrBefore, parseReplay, ReplayFormatError, ReplayRecordKind, replaySchemaText, type Replay, type ReplayControl } from '../shared/protocol/replay.ts';
import { compileSchema, type NetSchema } from '../shared/protocol/schema.ts';
import type { SnapshotFrame } from '../shared/protocol/snapshot.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import { DEFAULT_INTERPOLATION, EntityView, Interpolator, SnapshotTimeline, type InterpolationOptions } from './interpolation.ts';
import { SnapshotReceiver } from './receiver.ts';

/** What a player reports besides frames. */
export interface ReplayPlayerEvents {
  /** A control message of the replay (event, joined, left) reached at its tick; `seeking` while a seek replays it. */
  onControl?(msg: ReplayControl, tick: number, seeking: boolean): void;
  /** A complete snapshot was decoded (valid until about 32 snapshots later). */
  onFrame?(frame: SnapshotFrame): void;
  /** Playback went back to the start of the file (a seek backwards): forget what the controls built. */
  onRewind?(): void;
}

/** Slowest and fastest playback speeds. */
export const MIN_REPLAY_SPEED = 0.125;
export const MAX_REPLAY_SPEED = 16;

/** A replay being played back. */
export class ReplayPlayer {
  readonly replay: Replay;
  readonly schema: NetSchema;
  /** The entities as drawn at the playback tick (the live client's `remote`). */
  readonly remote: EntityView;
  /** A replay has no own player: what the renderer reads of one (GameRenderer's DrawSource). */
  readonly eid = -1;
  readonly toggles = { prediction: false, reconciliation: false, interpolation: true };
  readonly predictor = { initialized: false };
  /** Playing, or paused. */
  playing = false;
  /** Playback speed (1 = as recorded). */
  private rate = 1;
  /** The first and last snapshot ticks of the file. */
  readonly startTick: number;
  readonly endTick: number;
  /** Why playback stopped on a damaged record, or undefined. */
  error: ReplayFormatError | undefined;
  private receiver: SnapshotReceiver;
  private readonly timeline: SnapshotTimeline;
  private readonly interpolator: Interpolator;
  private readonly ticksPerSnapshot: number;
  /** Next record to feed. */
  private next = 0;
  /** The playback tick (fractional). */
  private at: number;
  /** Per record, its index in replay.controls (-1 for snapshots); built on first need. */
  private controlIndexes: Int32Array | undefined;

  /**
   * @param game the game the replay was recorded with (its config hash must match the header's)
   * @param bytes the whole file
   * @throws ReplayFormatError when the file does not parse or is of another game or version
   */
  constructor(
    readonly game: AnyGame,
    bytes: Uint8Array,
    private readonly events: ReplayPlayerEvents = {},
    interpolation: Partial<InterpolationOptions> = {},
  ) {
    this.replay = parseReplay(bytes);
    const m = this.replay.meta;
    if (m.game !== game.name) throw new ReplayFormatError('meta.game', 0, `a replay of "${m.game}", not of "${game.name}"`);
    if (m.schema !== replaySchemaText(game) || m.configHash !== configHash(game)) {
      throw new ReplayFormatError('meta.configHash', 0, `recorded with another version of "${game.name}" (config hash ${m.configHash}, this build ${configHash(game)})`);
    }
    if (this.replay.keyTicks.length === 0) throw new ReplayFormatError('keyframes', 0, 'the replay holds no keyframe');
    this.schema = compileSchema(game);
    this.ticksPerSnapshot = m.tickRateHz / m.snapshotRateHz;
    this.receiver = new SnapshotReceiver(this.schema, this.ticksPerSnapshot);
    this.timeline = new SnapshotTimeline(this.schema, interpolation.timelineLength ?? DEFAULT_INTERPOLATION.timelineLength);
    this.interpolator = new Interpolator(this.schema, m.tickRateHz, interpolation);
    this.remote = new EntityView(this.schema);
    this.startTick = this.replay.keyTicks[0];
    this.endTick = this.replay.snapshotTicks[this.replay.snapshotTicks.length - 1];
    this.at = this.startTick;
    this.seek(this.startTick);
  }

  /** The playback tick (fractional). */
  get tick(): number {
    return this.at;
  }

  /** Playback speed. */
  get speed(): number {
    return this.rate;
  }

  /** Sets the playback speed, clamped to MIN_REPLAY_SPEED..MAX_REPLAY_SPEED. */
  setSpeed(x: number): void {
    this.rate = Number.isFinite(x) ? Math.min(MAX_REPLAY_SPEED, Math.max(MIN_REPLAY_SPEED, x)) : 1;
  }

  play(): void {
    if (this.at >= this.endTick) this.seek(this.startTick);
    this.playing = !this.error;
  }

  pause(): void {
    this.playing = false;
  }

  /** Seconds from the first keyframe to the last snapshot. */
  get durationSec(): number {
    return (this.endTick - this.startTick) / this.replay.meta.tickRateHz;
  }

  /**
   * Jumps to `tick` (clamped to the file): from the newest keyframe at or before it, the receiver
   * and timeline start over and the records up to the tick are decoded.
   */
  seek(tick: number): void {
    const r = this.replay;
    const target = Math.min(this.endTick, Math.max(this.startTick, Number.isFinite(tick) ? tick : this.startTick));
    const k = Math.max(0, keyframeAtOrBefore(r, target));
    if (!this.error && target >= this.at && this.next > 0 && k === Math.max(0, keyframeAtOrBefore(r, this.at))) {
      // forwards within the same keyframe's run: decode on from where playback is
      this.at = target;
      this.feedTo(target, true);
      this.sample();
      return;
    }
    this.receiver = new SnapshotReceiver(this.schema, this.ticksPerSnapshot);
    this.timeline.clear();
    // controls before the keyframe rebuild what they describe (the players present)
    this.events.onRewind?.();
    const first = r.keyRecords[k];
    for (let i = 0; i < first; i++) if (r.kinds[i] === ReplayRecordKind.Control) this.emitControl(i, true);
    this.next = first;
    this.error = undefined;
    this.at = target;
    this.feedTo(target, true);
    this.sample();
  }

  /** Advances playback by `dtMs` of wall time (times the speed) when playing, and samples. */
  advance(dtMs: number): void {
    if (this.playing && dtMs > 0) {
      this.at += (dtMs * this.rate * this.replay.meta.tickRateHz) / 1000;
      if (this.at >= this.endTick) {
        this.at = this.endTick;
        this.playing = false;
      }
      this.feedTo(this.at, false);
    }
    this.sample();
  }

  /** The complete decoded frame of snapshot `tick`, if held (the recent ones only). */
  frame(tick: number): SnapshotFrame | undefined {
    return this.receiver.get(tick);
  }

  /** What the renderer asks of the own player: a replay has none. */
  localPosition(_out: { x: number; y: number }): boolean {
    return false;
  }

  serverPosition(_out: { x: number; y: number }): boolean {
    return false;
  }

  localValue(_field: number): number {
    return NaN;
  }

  private sample(): void {
    this.interpolator.sample(this.timeline, this.at, this.remote);
  }

  /** Feeds every record up to one snapshot past `tick` (interpolation needs the snapshot after it). */
  private feedTo(tick: number, seeking: boolean): void {
    const r = this.replay;
    const limit = tick + this.ticksPerSnapshot;
    while (this.next < r.recordCount && !this.error) {
      const i = this.next;
      const t = r.ticks[i];
      if (r.kinds[i] === ReplayRecordKind.Snapshot) {
        if (t > limit) break;
        this.next++;
        let f: SnapshotFrame | undefined;
        try {
          f = this.receiver.receive(r.bytes.subarray(r.starts[i], r.ends[i]));
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          this.error = new ReplayFormatError('snapshot', r.starts[i], err.message);
          this.playing = false;
          return;
        }
        if (f) {
          this.timeline.insert(f);
          this.events.onFrame?.(f);
        }
      } else {
        if (t > tick) break;
        this.next++;
        this.emitControl(i, seeking);
      }
    }
  }

  private emitControl(i: number, seeking: boolean): void {
    const r = this.replay;
    const c = r.controls[this.controlIndex(i)];
    if (c) this.events.onControl?.(c.msg, c.tick, seeking);
  }

  /** Index in replay.controls of record `i` (a control record): the controls before it, counted once. */
  private controlIndex(i: number): number {
    if (!this.controlIndexes) {
      const idx = new Int32Array(this.replay.recordCount).fill(-1);
      let c = 0;
      for (let k = 0; k < this.replay.recordCount; k++) if (this.replay.kinds[k] === ReplayRecordKind.Control) idx[k] = c++;
      this.controlIndexes = idx;
    }
    return this.controlIndexes[i];
  }
}
