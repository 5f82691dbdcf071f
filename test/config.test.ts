// Configuration: defaults, environment and file overrides, and validation listing every error.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadServerConfig } from '../server/config.ts';
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

  it('reads boolean variables as 1/0, true/false, yes/no, on/off in any case; anything else is an error', () => {
    for (const [raw, v] of [['1', true], ['0', false], ['TRUE', true], ['False', false], ['yes', true], ['NO', false], ['On', true], ['off', false]] as const) {
      expect(loadServerConfig({ TICKWIRE_WEBRTC: raw }).webrtc, raw).toBe(v);
      expect(loadServerConfig({ TICKWIRE_WEBRTC_PROCESS: raw }).webrtcProcess, raw).toBe(v);
    }
    expect(() => loadServerConfig({ TICKWIRE_WEBRTC: 'maybe' })).toThrow(/TICKWIRE_WEBRTC must be 1\/0, true\/false, yes\/no or on\/off \(got "maybe"\)/);
    expect(() => loadServerConfig({ TICKWIRE_WEBRTC_PROCESS: 'enabled' })).toThrow(/TICKWIRE_WEBRTC_PROCESS must be/);
  });

  it('a bad integer is exactly one error, naming the variable', () => {
    for (const raw of ['abc', '80.5', '1e3', '0x50', '8080abc']) {
      let err: ConfigError | undefined;
      try {
        loadServerConfig({ PORT: raw });
      } catch (e) {
        err = e as ConfigError;
      }
      expect(err, raw).toBeInstanceOf(ConfigError);
      expect(err!.errors, raw).toEqual([`PORT must be an integer (got ${JSON.stringify(raw)})`]);
      expect(err!.message.split('\n').filter((l) => l.startsWith('  - ')), raw).toHaveLength(1);
    }
    expect(loadServerConfig({ PORT: ' 9000 ' }).port).toBe(9000);
  });

  it('refuses unknown keys in the config file, at the top and under "net", and values of the wrong type', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-'));
    const write = (name: string, body: unknown): string => {
      const file = join(dir, name);
      writeFileSync(file, typeof body === 'string' ? body : JSON.stringify(body));
      return file;
    };
    const errorsOf = (file: string): readonly string[] => {
      try {
        loadServerConfig({ TICKWIRE_CONFIG: file });
      } catch (e) {
        return (e as ConfigError).errors;
      }
      return [];
    };
    const f = write('unknown.json', { prot: 9000, roomCapacity: 8, net: { tickRateHz: 30, snapshotRateHz: 10, tickrate: 20 } });
    expect(errorsOf(f)).toEqual([`TICKWIRE_CONFIG ${f}: unknown option prot`, `TICKWIRE_CONFIG ${f}: unknown option net.tickrate`]);
    const arr = write('array.json', [1, 2]);
    expect(errorsOf(arr)).toEqual([`TICKWIRE_CONFIG ${arr}: not a JSON object`]);
    const badNet = write('net.json', { net: 30 });
    expect(errorsOf(badNet)).toEqual([`TICKWIRE_CONFIG ${badNet}: net must be an object of netcode options`]);
    const types = write('types.json', { webrtc: 'no', game: 5, allowedOrigins: [1] });
    expect(errorsOf(types)).toEqual(expect.arrayContaining([expect.stringMatching(/^webrtc must be true or false/), expect.stringMatching(/^game must be a non-empty string/), 'allowedOrigins must be a list of origins']));
    const broken = write('broken.json', '{"port": 1');
    expect(errorsOf(broken)).toHaveLength(1);
    expect(errorsOf(broken)[0]).toMatch(new RegExp(`^TICKWIRE_CONFIG ${broken}: `));
    expect(loadServerConfig({ TICKWIRE_CONFIG: write('ok.json', { webrtc: false, net: { tickRateHz: 30, snapshotRateHz: 10 } }) }).net.tickRateHz).toBe(30);
  });

  it('JSON parameter variables must be objects of numbers', () => {
    for (const raw of ['{"npcs":', '[1]', '{"npcs":"many"}', '5']) {
      expect(() => loadServerConfig({ TICKWIRE_GAME_PARAMS: raw }), raw).toThrow(/TICKWIRE_GAME_PARAMS must be a JSON object of numbers/);
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
