// The netcode config both sides share: rates, buffers and limits, with units in every name,
// documented defaults, validation that lists every error, and a hash the handshake compares.
import type { AnyGame } from './sim/game.ts';

/** Wire protocol version; bumped on any incompatible change to PROTOCOL.md. */
export const PROTOCOL_VERSION = 2;

/** Netcode settings shared by server and clients. */
export interface NetConfig {
  /** Simulation rate in ticks per second. Default 60; allowed 10..128. */
  readonly tickRateHz: number;
  /** Snapshot rate in snapshots per second; must divide tickRateHz. Default 20. */
  readonly snapshotRateHz: number;
  /** Inputs carried in each input packet (the newest and the previous ones). Default 4; 1..16. */
  readonly inputRedundancy: number;
  /** Most inputs the server buffers per player before it drops the oldest. Default 8; 2..63. */
  readonly inputBufferMax: number;
  /** Largest datagram the server sends on the unreliable channel, in bytes. Default 1200; 256..16384. */
  readonly maxPacketBytes: number;
  /** Ticks of snapshot history kept for delta baselines (acks older than this force a full snapshot). Default 120 (2 s at 60 Hz); 8..1024. */
  readonly snapshotHistoryTicks: number;
}

/** Defaults for NetConfig. */
export const DEFAULT_NET_CONFIG: NetConfig = Object.freeze({
  tickRateHz: 60,
  snapshotRateHz: 20,
  inputRedundancy: 4,
  inputBufferMax: 8,
  maxPacketBytes: 1200,
  snapshotHistoryTicks: 120,
});

/** Range check helper: appends an error message when `value` is not an integer in [min, max]. */
export function checkInt(errors: string[], name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    errors.push(`${name} must be an integer in ${min}..${max} (got ${JSON.stringify(value)})`);
  }
}

/** Validates a NetConfig; returns every problem found (empty when valid). */
export function validateNetConfig(cfg: NetConfig): string[] {
  const errors: string[] = [];
  checkInt(errors, 'tickRateHz', cfg.tickRateHz, 10, 128);
  checkInt(errors, 'snapshotRateHz', cfg.snapshotRateHz, 1, 128);
  if (errors.length === 0 && cfg.tickRateHz % cfg.snapshotRateHz !== 0) {
    errors.push(`snapshotRateHz (${cfg.snapshotRateHz}) must divide tickRateHz (${cfg.tickRateHz})`);
  }
  checkInt(errors, 'inputRedundancy', cfg.inputRedundancy, 1, 16);
  checkInt(errors, 'inputBufferMax', cfg.inputBufferMax, 2, 63);
  checkInt(errors, 'maxPacketBytes', cfg.maxPacketBytes, 256, 16384);
  checkInt(errors, 'snapshotHistoryTicks', cfg.snapshotHistoryTicks, 8, 1024);
  return errors;
}

/** Merges overrides into the defaults, validates, and returns a frozen config or throws listing every error. */
export function makeNetConfig(overrides: Partial<NetConfig> = {}): NetConfig {
  const cfg = { ...DEFAULT_NET_CONFIG, ...overrides };
  const errors = validateNetConfig(cfg);
  if (errors.length) throw new Error(`invalid net config:\n  - ${errors.join('\n  - ')}`);
  return Object.freeze(cfg);
}

/** FNV-1a 32-bit hash of a string. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Hash of everything compiled into both sides that must agree: protocol version, game name and
 * entity capacity, input and networked-field layouts. A client whose hash differs is rejected at
 * the handshake. Rates and limits are not in it: the client takes them from the welcome.
 */
export function configHash(game: AnyGame): number {
  const net = Object.entries(game.networked as Record<string, Record<string, { signature: string }>>)
    .map(([comp, fields]) => `${comp}{${Object.entries(fields).map(([f, q]) => `${f}:${q.signature}`).join(',')}}`)
    .join(';');
  const input = Object.entries(game.input as Record<string, { signature: string }>).map(([f, q]) => `${f}:${q.signature}`).join(',');
  return fnv1a([PROTOCOL_VERSION, game.name, game.maxEntities, net, input].join('|'));
}
