// View claims (client -> server, unreliable): for recent inputs, the tick and interpolation
// fraction the client was drawing the other entities at when it made each one, so the server's
// lag compensation can rewind hit tests to that view. A separate message rather than input fields,
// so the input packet keeps its layout; repeated like inputs, so a lost one costs nothing while the
// next arrives. The server checks every claim against what it knows of the client (server/lagcomp.ts).
import { DecodeError } from './errors.ts';
import { MsgType } from './ids.ts';

/** Most claims one message may carry. */
export const MAX_VIEW_CLAIMS = 16;
/** Bytes of one claim: seq u16, tick u32, span u8, frac u16. */
export const VIEW_CLAIM_BYTES = 9;
/** Header bytes: type u8, count u8. */
export const VIEW_CLAIM_HEADER_BYTES = 2;
/** Units of `frac` per tick. */
export const VIEW_FRAC_PER_TICK = 256;

/** Decoded claims, newest first; reused between messages. */
export interface ViewClaims {
  count: number;
  /** Input sequence each claim is for. */
  readonly seq: Uint16Array;
  /** Snapshot tick the client was drawing from (the older of the two it interpolated between). */
  readonly tick: Uint32Array;
  /** Ticks to the snapshot it interpolated towards; 0 = none (it held or extrapolated past `tick`). */
  readonly span: Uint8Array;
  /** Render tick minus `tick`, in 1/256 ticks (less than span * 256 when span > 0). */
  readonly frac: Uint16Array;
}

/** Allocates a reusable ViewClaims. */
export function createViewClaims(): ViewClaims {
  return { count: 0, seq: new Uint16Array(MAX_VIEW_CLAIMS), tick: new Uint32Array(MAX_VIEW_CLAIMS), span: new Uint8Array(MAX_VIEW_CLAIMS), frac: new Uint16Array(MAX_VIEW_CLAIMS) };
}

/** Bytes of a message of `count` claims. */
export function viewClaimBytes(count: number): number {
  return VIEW_CLAIM_HEADER_BYTES + count * VIEW_CLAIM_BYTES;
}

/** Encodes the first `c.count` claims of `c` into `out` (at least viewClaimBytes(count) long); returns the view of the message. */
export function writeViewClaims(out: Uint8Array, c: ViewClaims): Uint8Array {
  const n = c.count;
  if (n < 1 || n > MAX_VIEW_CLAIMS) throw new RangeError(`view claim count ${n} outside 1..${MAX_VIEW_CLAIMS}`);
  out[0] = MsgType.ViewClaim;
  out[1] = n;
  let b = VIEW_CLAIM_HEADER_BYTES;
  for (let i = 0; i < n; i++) {
    const seq = c.seq[i];
    const tick = c.tick[i];
    const span = c.span[i];
    const frac = span > 0 ? Math.min(c.frac[i], span * VIEW_FRAC_PER_TICK - 1) : c.frac[i];
    out[b] = seq & 0xff;
    out[b + 1] = seq >>> 8;
    out[b + 2] = tick & 0xff;
    out[b + 3] = (tick >>> 8) & 0xff;
    out[b + 4] = (tick >>> 16) & 0xff;
    out[b + 5] = tick >>> 24;
    out[b + 6] = span;
    out[b + 7] = frac & 0xff;
    out[b + 8] = frac >>> 8;
    b += VIEW_CLAIM_BYTES;
  }
  return out.subarray(0, b);
}

/**
 * Decodes a view-claim message (bytes [start, end)) into `out`; throws a DecodeError naming the
 * field on anything malformed: wrong type, a count outside 1..16, a length that is not exactly the
 * count's, or a fraction at or past the snapshot it interpolated towards.
 */
export function readViewClaims(bytes: Uint8Array, out: ViewClaims, start = 0, end = bytes.length): ViewClaims {
  const len = end - start;
  if (len < VIEW_CLAIM_HEADER_BYTES) throw new DecodeError('length', 0, `view claims need at least ${VIEW_CLAIM_HEADER_BYTES} bytes, got ${len}`);
  if (bytes[start] !== MsgType.ViewClaim) throw new DecodeError('type', 0, 'not a view claim message');
  const n = bytes[start + 1];
  if (n < 1 || n > MAX_VIEW_CLAIMS) throw new DecodeError('count', 8, `count ${n} outside 1..${MAX_VIEW_CLAIMS}`);
  if (len !== viewClaimBytes(n)) throw new DecodeError('length', 16, `${n} claims need ${viewClaimBytes(n)} bytes, got ${len}`);
  let b = start + VIEW_CLAIM_HEADER_BYTES;
  for (let i = 0; i < n; i++) {
    const span = bytes[b + 6];
    const frac = bytes[b + 7] | (bytes[b + 8] << 8);
    if (span > 0 && frac >= span * VIEW_FRAC_PER_TICK) throw new DecodeError('frac', (b - start + 7) * 8, `fraction ${frac}/256 reaches past the snapshot ${span} ticks on`);
    out.seq[i] = bytes[b] | (bytes[b + 1] << 8);
    out.tick[i] = (bytes[b + 2] | (bytes[b + 3] << 8) | (bytes[b + 4] << 16) | (bytes[b + 5] << 24)) >>> 0;
    out.span[i] = span;
    out.frac[i] = frac;
    b += VIEW_CLAIM_BYTES;
  }
  out.count = n;
  return out;
}
