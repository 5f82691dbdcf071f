// Spectator cameras (PROTOCOL.md, "Spectator cameras (type 6)"): a spectator of a room with views
// says where its camera looks. Each message is decoded (a bad one is the caller's bad message),
// held to cameraPerSec per spectator, its radius capped, and handed to the room's interest
// manager, which centres the spectator's view there from the next snapshot tick on.
import { createCameraMessage, readCamera } from '../shared/protocol/camera.ts';
import type { ServerConfig } from './config.ts';
import type { InterestManager } from './interest.ts';
import { TokenBucket } from './limits.ts';
import type { Player } from './player.ts';
import type { Room } from './rooms.ts';

/** Camera messages by what became of them (tickwire_spectator_cameras_total{outcome}). */
export interface CameraStats {
  /** Aimed a spectator's view. */
  applied: number;
  /** Dropped: the spectator was over cameraPerSec. */
  rate_limited: number;
  /** Decoded and dropped: not from a spectator of a room with views (a player, a room without views, a session not playing). */
  ignored: number;
}

/** Fresh zeroed camera counters. */
export function newCameraStats(): CameraStats {
  return { applied: 0, rate_limited: 0, ignored: 0 };
}

/** The camera rules of one server: the radii from the config and each spectator's rate. */
export class SpectatorCameras {
  private readonly msg = createCameraMessage();
  private readonly buckets = new WeakMap<Player, TokenBucket>();

  constructor(
    private readonly config: Pick<ServerConfig, 'cameraPerSec' | 'spectatorViewRadius' | 'spectatorMaxViewRadius'>,
    readonly stats: CameraStats = newCameraStats(),
  ) {}

  /** Enter radius of a spectator's view before its camera asks for one (spectatorViewRadius, or the game's viewRadius), world units. */
  defaultRadius(interest: InterestManager): number {
    return this.config.spectatorViewRadius > 0 ? this.config.spectatorViewRadius : interest.viewRadius;
  }

  /** Largest enter radius a camera may ask for (spectatorMaxViewRadius, or twice the default), world units. */
  maxRadius(interest: InterestManager): number {
    return this.config.spectatorMaxViewRadius > 0 ? this.config.spectatorMaxViewRadius : 2 * this.defaultRadius(interest);
  }

  /**
   * One camera message (bytes [start, end)) from `player` watching `room` (both undefined when the
   * sender is not a playing spectator): throws a DecodeError when it does not decode; otherwise
   * aims the spectator's view, or counts why not. Allocates nothing after a spectator's first message.
   */
  receive(player: Player | undefined, room: Room | undefined, bytes: Uint8Array, start: number, end: number, nowMs: number): void {
    const m = readCamera(bytes, this.msg, start, end);
    const interest = room?.interest;
    if (!player || !interest) {
      this.stats.ignored++;
      return;
    }
    let bucket = this.buckets.get(player);
    if (!bucket) this.buckets.set(player, (bucket = new TokenBucket(this.config.cameraPerSec, this.config.cameraPerSec)));
    if (!bucket.take(nowMs)) {
      this.stats.rate_limited++;
      return;
    }
    const radius = m.radius > 0 ? Math.min(m.radius, this.maxRadius(interest)) : this.defaultRadius(interest);
    if (interest.aim(player, m.x, m.y, radius, m.follow)) this.stats.applied++;
    else this.stats.ignored++;
  }
}
