// Spectator camera messages (client -> server, unreliable): the world point a spectator's camera
// looks at (or the entity it follows) and the radius it wants to see, so the server can send a
// spectator of a room with interest rules the view around that point. Sent when the camera moves (and repeated now and
// then, so a lost one costs nothing once the next arrives); the newest one counts.
import { DecodeError } from './errors.ts';
import { MsgType } from './ids.ts';

/** Bytes of a camera message: type u8, x f32, y f32, radius f32, follow u16. */
export const CAMERA_BYTES = 15;
/** `follow` when the camera follows no entity. */
export const CAMERA_NO_FOLLOW = 0xffff;
/** Largest |x|, |y| and radius a camera message may carry, world units (the server clamps further to the world and its cap). */
export const MAX_CAMERA_COORD = 1e9;

/** A decoded camera; reused between messages. */
export interface CameraMessage {
  /** World point the camera looks at (the position fields' units). */
  x: number;
  y: number;
  /** Radius it wants to see, world units; 0 = the server's spectator radius. */
  radius: number;
  /** Entity the camera follows (the view is centred on it while it has a position), or -1. */
  follow: number;
}

/** Allocates a reusable CameraMessage. */
export function createCameraMessage(): CameraMessage {
  return { x: 0, y: 0, radius: 0, follow: -1 };
}

const scratch = new DataView(new ArrayBuffer(4));

function f32At(bytes: Uint8Array, at: number): number {
  scratch.setUint8(0, bytes[at]);
  scratch.setUint8(1, bytes[at + 1]);
  scratch.setUint8(2, bytes[at + 2]);
  scratch.setUint8(3, bytes[at + 3]);
  return scratch.getFloat32(0, true);
}

function putF32(out: Uint8Array, at: number, v: number): void {
  scratch.setFloat32(0, v, true);
  out[at] = scratch.getUint8(0);
  out[at + 1] = scratch.getUint8(1);
  out[at + 2] = scratch.getUint8(2);
  out[at + 3] = scratch.getUint8(3);
}

/**
 * Encodes a camera into `out` (at least CAMERA_BYTES long); `follow` is an entity id or -1.
 * Returns the view of the message. Throws a RangeError (our bug) for a non-finite value, |x| or
 * |y| above MAX_CAMERA_COORD, a radius outside 0..MAX_CAMERA_COORD, or a follow outside -1..65534.
 */
export function writeCamera(out: Uint8Array, x: number, y: number, radius: number, follow = -1): Uint8Array {
  if (!(Math.abs(x) <= MAX_CAMERA_COORD) || !(Math.abs(y) <= MAX_CAMERA_COORD)) throw new RangeError(`camera point (${x}, ${y}) outside ±${MAX_CAMERA_COORD}`);
  if (!(radius >= 0 && radius <= MAX_CAMERA_COORD)) throw new RangeError(`camera radius ${radius} outside 0..${MAX_CAMERA_COORD}`);
  if (!Number.isInteger(follow) || follow < -1 || follow >= CAMERA_NO_FOLLOW) throw new RangeError(`camera follow ${follow} outside -1..${CAMERA_NO_FOLLOW - 1}`);
  const f = follow < 0 ? CAMERA_NO_FOLLOW : follow;
  out[0] = MsgType.Camera;
  putF32(out, 1, x);
  putF32(out, 5, y);
  putF32(out, 9, radius);
  out[13] = f & 0xff;
  out[14] = f >>> 8;
  return out.subarray(0, CAMERA_BYTES);
}

/**
 * Decodes a camera message (bytes [start, end)) into `out`; throws a DecodeError naming the field
 * on anything malformed: a length other than CAMERA_BYTES, the wrong type, a non-finite value or
 * one past MAX_CAMERA_COORD, a negative radius. Allocates nothing.
 */
export function readCamera(bytes: Uint8Array, out: CameraMessage, start = 0, end = bytes.length): CameraMessage {
  const len = end - start;
  if (len !== CAMERA_BYTES) throw new DecodeError('length', 0, `a camera message is ${CAMERA_BYTES} bytes, got ${len}`);
  if (bytes[start] !== MsgType.Camera) throw new DecodeError('type', 0, 'not a camera message');
  const x = f32At(bytes, start + 1);
  if (!(Math.abs(x) <= MAX_CAMERA_COORD)) throw new DecodeError('x', 8, `camera x ${x} is not a number within ±${MAX_CAMERA_COORD}`);
  const y = f32At(bytes, start + 5);
  if (!(Math.abs(y) <= MAX_CAMERA_COORD)) throw new DecodeError('y', 40, `camera y ${y} is not a number within ±${MAX_CAMERA_COORD}`);
  const radius = f32At(bytes, start + 9);
  if (!(radius >= 0 && radius <= MAX_CAMERA_COORD)) throw new DecodeError('radius', 72, `camera radius ${radius} outside 0..${MAX_CAMERA_COORD}`);
  const follow = bytes[start + 13] | (bytes[start + 14] << 8);
  out.x = x;
  out.y = y;
  out.radius = radius;
  out.follow = follow === CAMERA_NO_FOLLOW ? -1 : follow;
  return out;
}
