// Configuration: defaults, environment and file overrides, and validation listing every error.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadServerConfig } from '../server/config.ts';
import { configHash, makeNetConfig } from '../shared/config.ts';
import { arena } from '../games/arena.ts';
import { orbit } from '../games/orbit.ts';

describe('server config', () => {
  it('has sensible defaults: localhost, 8080, signaling on the next port', () => {
    const c = loadServerConfig({});
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(8080);
    expect(c.signalingPort).toBe(8081);
    expect(c.net.tickRateHz).toBe(60);
    expect(c.net.snapshotRateHz).toBe(20);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads PORT and TICKWIRE_* variables', () => {
    const c = loadServerConfig({ PORT: '9000', TICKWIRE_TICK_RATE_HZ: '30', TICKWIRE_SNAPSHOT_RATE_HZ: '10', TICKWIRE_WEBRTC: 'off', TICKWIRE_GAME_PARAMS: '{"npcs":5}', TICKWIRE_ALLOWED_ORIGINS: 'http://a, http://b' });
    expect(c.port).toBe(9000);
    expect(c.signalingPort).toBe(9001);
    expect(c.net.tickRateHz).toBe(30);
    expect(c.webrtc).toBe(false);
    expect(c.gameParams).toEqual({ npcs: 5 });
    expect(c.allowedOrigins).toEqual(['http://a', 'http://b']);
  });

  it('reads a JSON config file, with environment variables taking precedence', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ port: 7000, roomCapacity: 8, net: { tickRateHz: 20, snapshotRateHz: 20 } }));
    const c = loadServerConfig({ TICKWIRE_CONFIG: file, PORT: '7100' });
    expect(c.port).toBe(7100);
    expect(c.roomCapacity).toBe(8);
    expect(c.net.tickRateHz).toBe(20);
  });

  it('lists every error at once', () => {
    try {
      loadServerConfig({ PORT: 'abc', TICKWIRE_TICK_RATE_HZ: '500', TICKWIRE_ROOM_CAPACITY: '0', TICKWIRE_SNAPSHOT_RATE_HZ: '7' });
      expect.unreachable();
    } catch (err) {
      const msg = (err as Error).message;
      expect(msg).toMatch(/PORT must be an integer/);
      expect(msg).toMatch(/tickRateHz must be an integer in 10..128/);
      expect(msg).toMatch(/roomCapacity/);
    }
  });

  it('tick rate must be 10..128 Hz and divisible by the snapshot rate', () => {
    expect(() => makeNetConfig({ tickRateHz: 9 })).toThrow(/tickRateHz/);
    expect(() => makeNetConfig({ tickRateHz: 129 })).toThrow(/tickRateHz/);
    expect(() => makeNetConfig({ tickRateHz: 60, snapshotRateHz: 25 })).toThrow(/divide/);
    expect(makeNetConfig({ tickRateHz: 128, snapshotRateHz: 32 }).tickRateHz).toBe(128);
  });
});

describe('config hash', () => {
  it('differs between games and is stable', () => {
    expect(configHash(arena)).toBe(configHash(arena));
    expect(configHash(arena)).not.toBe(configHash(orbit));
    const changed = { ...arena, networked: { ...arena.networked, Health: { hp: arena.networked.Position!.x } } };
    expect(configHash(changed)).not.toBe(configHash(arena));
  });
});
