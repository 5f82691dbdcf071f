// Docs against code: PROTOCOL.md's message types, control messages, codes and quoted constants,
// README's Configuration table and Operations metric list must say what the code does.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_NET_CONFIG, PROTOCOL_VERSION } from '../shared/config.ts';
import {
  CLIENT_CONTROL_TYPES, MAX_CHAT_LENGTH, MAX_EVENT_DATA_DEPTH, MAX_EVENT_NAME_LENGTH, MAX_NAME_LENGTH, MAX_ROOM_NAME_LENGTH, MAX_ROOM_PARAMS, MAX_ROSTER_PLAYERS, MAX_SEAT_LENGTH, MAX_TOKEN_LENGTH,
  ROOM_NAME_PATTERN, SEQUENCED_TYPES, SERVER_CONTROL_TYPES,
} from '../shared/protocol/control.ts';
import { MAX_EG_PREFIX, MAX_RATE_AGE } from '../shared/protocol/delta.ts';
import { CloseCode, MsgType, RejectCode } from '../shared/protocol/ids.ts';
import { INPUT_ACK_BYTES, INPUT_HEADER_BYTES, MAX_INPUTS_PER_PACKET } from '../shared/protocol/input.ts';
import {
  MAX_BASELINE_AGE_TICKS, MAX_SNAPSHOT_PARTS, SNAPSHOT_ACK_BYTES, SNAPSHOT_ACK_NONE, SNAPSHOT_DELTA_HEADER_BYTES, SNAPSHOT_FULL_HEADER_BYTES,
} from '../shared/protocol/snapshot.ts';
import { SEQ_MODULO } from '../shared/sequence.ts';
import { CAMERA_MIN_INTERVAL_MS, CAMERA_REPEAT_MS, DEFAULT_INPUT_PACKET_RATE_HZ, DEFAULT_WEBRTC_TIMEOUT_MS } from '../netcode/connection.ts';
import { CAMERA_BYTES, CAMERA_NO_FOLLOW, MAX_CAMERA_COORD } from '../shared/protocol/camera.ts';
import { MAX_VIEW_CLAIMS, VIEW_CLAIM_BYTES } from '../shared/protocol/view-claim.ts';
import { DEFAULT_SERVER_CONFIG, INT_ENV, loadServerConfig, NET_ENV, OTHER_ENV, type ServerConfig } from '../server/config.ts';
import type { TickwireServer } from '../server/server.ts';
import { backticked, mdSection, mdTable, repoFile } from './helpers/docs.ts';
import { scrapeMetrics, startTestServer, urlOf, type MetricsScrape } from './helpers/server.ts';

const protocol = repoFile('shared/protocol/PROTOCOL.md');
const readme = repoFile('README.md');

/** Every server source file (server/**\/*.ts) with its text. */
function serverSources(): { path: string; text: string }[] {
  const root = fileURLToPath(new URL('../server/', import.meta.url));
  const out: { path: string; text: string }[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) out.push({ path: p, text: readFileSync(p, 'utf8') });
    }
  };
  walk(root);
  return out;
}

/** The `t` values named in the first cell of each row (a cell may name several, e.g. `joined` / `left`). */
function tValues(rows: Record<string, string>[]): string[] {
  return rows.flatMap((r) => backticked(r.t));
}

describe('PROTOCOL.md: message types', () => {
  it('lists every MsgType with its number and name, and nothing else', () => {
    const rows = mdTable(protocol, ['type', 'name', 'direction', 'channel']);
    const documented = rows.map((r) => [Number(r.type), r.name]);
    expect(documented).toEqual(Object.entries(MsgType).map(([name, id]) => [id, name]));
  });
});

describe('PROTOCOL.md: control messages', () => {
  it('lists exactly the control messages a client may send (the server decoder table)', () => {
    const rows = mdTable(mdSection(protocol, '### Client → server'), ['t', 'fields', 'notes']);
    const documented = tValues(rows);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual([...CLIENT_CONTROL_TYPES].sort());
  });

  it('lists exactly the control messages the server may send (the client decoder table)', () => {
    const rows = mdTable(mdSection(protocol, '### Server → client'), ['t', 'fields']);
    const documented = tValues(rows);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual([...SERVER_CONTROL_TYPES].sort());
  });

  it('names the sequenced types the code sequences', () => {
    const line = mdSection(protocol, '### Reliable sequencing').split('\n').find((l) => l.startsWith('Sequenced types:'));
    expect(line, 'a "Sequenced types:" line').toBeDefined();
    expect(backticked(line as string).sort()).toEqual([...SEQUENCED_TYPES].sort());
  });

  it('quotes the room name pattern the decoder enforces', () => {
    expect(protocol).toContain(`\`${ROOM_NAME_PATTERN.source.replace(/^\^/, '').replace(/\$$/, '')}\``);
  });
});

/** Code rows of a PROTOCOL.md code table: number, name (undefined for a reserved number). */
function codeRows(heading: string): { code: number; name: string | undefined }[] {
  return mdTable(mdSection(protocol, heading), ['code', 'name', 'when']).map((r) => {
    const names = backticked(r.name);
    return { code: Number(r.code), name: names.length === 1 ? names[0] : undefined };
  });
}

describe('PROTOCOL.md: reject and close codes', () => {
  const tables = [
    { heading: '### Reject codes', codes: RejectCode as Record<string, number>, prefix: 'RejectCode' },
    { heading: '### Close codes', codes: CloseCode as Record<string, number>, prefix: 'CloseCode' },
  ];
  for (const { heading, codes, prefix } of tables) {
    it(`${heading.slice(4)}: every ${prefix} is documented with its number, and every documented code exists`, () => {
      const rows = codeRows(heading);
      expect(new Set(rows.map((r) => r.code)).size, 'each number once').toBe(rows.length);
      const named = rows.filter((r) => r.name !== undefined).map((r) => [r.name, r.code]);
      expect(named.sort()).toEqual(Object.entries(codes).sort());
      // A number documented as reserved must not be assigned.
      const assigned = new Set(Object.values(codes));
      for (const r of rows.filter((x) => x.name === undefined)) expect(assigned.has(r.code), `${prefix} ${r.code} is documented as reserved`).toBe(false);
    });

    it(`${heading.slice(4)}: every ${prefix} is sent by server code`, () => {
      const used = new Set<string>();
      for (const f of serverSources()) for (const m of f.text.matchAll(new RegExp(`\\b${prefix}\\.([A-Za-z]+)`, 'g'))) used.add(m[1]);
      const unsent = Object.keys(codes).filter((name) => !used.has(name));
      expect(unsent, `${prefix} values no server code sends`).toEqual([]);
    });
  }

  it('names codes in prose with their numbers', () => {
    const all: Record<string, number> = { ...RejectCode, ...CloseCode, ...MsgType };
    let seen = 0;
    for (const m of protocol.matchAll(/`([A-Z][A-Za-z]+)`\s+\((\d+)\)/g)) {
      if (!(m[1] in all)) continue;
      expect(Number(m[2]), `${m[0]}`).toBe(all[m[1]]);
      seen++;
    }
    expect(seen).toBeGreaterThan(5);
  });

  it('gives the WebSocket close-code bases the server uses', () => {
    const inCode = new Set<number>();
    for (const f of serverSources()) for (const m of f.text.matchAll(/\b(4\d00) \+ /g)) inCode.add(Number(m[1]));
    const inDocs = new Set([...protocol.matchAll(/\b(4\d00) \+ /g)].map((m) => Number(m[1])));
    expect([...inCode].sort()).toEqual([4000, 4100]);
    expect([...inDocs].sort()).toEqual([...inCode].sort());
  });
});

describe('PROTOCOL.md: numbers that come from code', () => {
  /** Constants PROTOCOL.md quotes as `NAME` = value; every one must be quoted, with its value. */
  const constants: Record<string, number> = {
    PROTOCOL_VERSION, MAX_NAME_LENGTH, MAX_CHAT_LENGTH, MAX_TOKEN_LENGTH, MAX_ROOM_NAME_LENGTH, MAX_ROOM_PARAMS, MAX_ROSTER_PLAYERS, MAX_SEAT_LENGTH, MAX_EVENT_NAME_LENGTH, MAX_EVENT_DATA_DEPTH,
    INPUT_HEADER_BYTES, MAX_INPUTS_PER_PACKET, SEQ_MODULO, SNAPSHOT_ACK_BYTES, SNAPSHOT_ACK_NONE, SNAPSHOT_FULL_HEADER_BYTES,
    SNAPSHOT_DELTA_HEADER_BYTES, MAX_SNAPSHOT_PARTS, MAX_BASELINE_AGE_TICKS, MAX_EG_PREFIX, MAX_RATE_AGE, DEFAULT_WEBRTC_TIMEOUT_MS,
    MAX_VIEW_CLAIMS, VIEW_CLAIM_BYTES, INPUT_ACK_BYTES, DEFAULT_INPUT_PACKET_RATE_HZ,
    CAMERA_BYTES, CAMERA_NO_FOLLOW, MAX_CAMERA_COORD, CAMERA_MIN_INTERVAL_MS, CAMERA_REPEAT_MS,
  };

  it('quotes every protocol constant with its value, and no constant that does not exist', () => {
    const quoted = new Map<string, number[]>();
    for (const m of protocol.matchAll(/`([A-Z][A-Z0-9_]+)`\s*=\s*(0x[0-9A-Fa-f]+|\d+)/g)) {
      const list = quoted.get(m[1]) ?? [];
      list.push(Number(m[2]));
      quoted.set(m[1], list);
    }
    for (const name of quoted.keys()) expect(Object.keys(constants), `PROTOCOL.md quotes unknown constant ${name}`).toContain(name);
    for (const [name, value] of Object.entries(constants)) {
      expect(quoted.get(name), `PROTOCOL.md quotes ${name}`).toBeDefined();
      for (const v of quoted.get(name) ?? []) expect(v, name).toBe(value);
    }
  });

  it('quotes option defaults as `option` (default N) with the defaults of the code', () => {
    const defaults: Record<string, unknown> = { ...DEFAULT_SERVER_CONFIG, ...DEFAULT_NET_CONFIG };
    const quoted = [...protocol.matchAll(/`(?:net\.)?([a-z][A-Za-z]+)`\s+\(default\s+(\d+)\)/g)];
    const names = new Set(quoted.map((m) => m[1]));
    for (const m of quoted) {
      expect(Object.keys(defaults), `PROTOCOL.md quotes unknown option ${m[1]}`).toContain(m[1]);
      expect(Number(m[2]), m[0]).toBe(defaults[m[1]]);
    }
    for (const required of ['snapshotHistoryTicks', 'snapshotFullRetrySnapshots', 'inputRedundancy', 'inputBufferMax', 'maxPacketBytes', 'maxInputTickSkewMs', 'clientTimeoutMs', 'resumeGraceMs', 'handshakeTimeoutMs']) {
      expect(names, `PROTOCOL.md quotes the default of ${required}`).toContain(required);
    }
  });

  it('gives the input tick skew in ticks at the default rate', () => {
    const rate = DEFAULT_NET_CONFIG.tickRateHz;
    const ticks = Math.round((DEFAULT_SERVER_CONFIG.maxInputTickSkewMs / 1000) * rate);
    expect(mdSection(protocol, '## Input (type 2)')).toMatch(new RegExp(`\\b${ticks}\\s+ticks\\s+at\\s+${rate}\\s+Hz`));
  });
});

/** The environment variable of every option the loader reads one for (`net.` prefix for netcode options). */
function envOfOptions(): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, env] of INT_ENV) m.set(k, env);
  for (const [k, env] of NET_ENV) m.set(`net.${k}`, env);
  for (const [k, env] of Object.entries(OTHER_ENV)) m.set(k, env);
  return m;
}

/** Raw environment values to try for an option, each different from its default. */
function sampleValues(option: string, def: unknown): string[] {
  if (typeof def === 'boolean') return [def ? 'false' : 'true'];
  if (typeof def === 'number') return [def * 2, def + 1, Math.floor(def / 2), def - 1].filter((v) => v !== def && v >= 0).map(String);
  if (Array.isArray(def)) return ['https://a.example,https://b.example'];
  if (option === 'gameParams' || option === 'clientRoomParams') return ['{"npcs":3}'];
  if (option === 'logLevel') return ['debug'];
  if (option === 'host') return ['127.0.0.2'];
  if (option === 'game') return ['orbit'];
  if (option === 'adminToken') return ['0123456789abcdef0123456789abcdef'];
  if (option === 'redisUrl') return ['redis://127.0.0.1:6379'];
  if (option === 'publicUrl') return ['https://play.example'];
  if (option === 'memberId') return ['m1'];
  if (option === 'fleetPrefix') return ['game2:'];
  if (option === 'replayDir') return ['/var/lib/tickwire/replays'];
  return [];
}

function optionValue(cfg: ServerConfig, option: string): unknown {
  return option.startsWith('net.') ? (cfg.net as unknown as Record<string, unknown>)[option.slice(4)] : (cfg as unknown as Record<string, unknown>)[option];
}

describe('README: Configuration', () => {
  const rows = mdTable(mdSection(readme, '## Configuration'), ['option', 'environment', 'unit', 'default', 'meaning']);
  const expected = [...Object.keys(DEFAULT_SERVER_CONFIG).filter((k) => k !== 'net'), ...Object.keys(DEFAULT_NET_CONFIG).map((k) => `net.${k}`)];
  const defaultOf = (option: string): unknown =>
    option.startsWith('net.') ? (DEFAULT_NET_CONFIG as unknown as Record<string, unknown>)[option.slice(4)] : (DEFAULT_SERVER_CONFIG as unknown as Record<string, unknown>)[option];

  it('has one row per option, and every row names a real option', () => {
    const documented = rows.map((r) => r.option);
    expect(new Set(documented).size, 'each option once').toBe(documented.length);
    expect([...documented].sort()).toEqual([...expected].sort());
    for (const r of rows) {
      expect(r.unit, `${r.option}: unit`).not.toBe('');
      expect(r.meaning, `${r.option}: meaning`).not.toBe('');
    }
  });

  it('names the environment variable the loader reads for each option, and that variable sets it', () => {
    const env = envOfOptions();
    for (const r of rows) {
      const names = backticked(r.environment);
      if (r.environment === '—') {
        expect(env.get(r.option), `${r.option} has an environment variable`).toBeUndefined();
        continue;
      }
      expect(names, `${r.option}: environment cell`).toHaveLength(1);
      expect(names[0], r.option).toBe(env.get(r.option));
      // The variable really sets the option.
      const def = defaultOf(r.option);
      let set = false;
      for (const raw of sampleValues(r.option, def)) {
        let cfg: ServerConfig;
        try {
          cfg = loadServerConfig({ [names[0]]: raw });
        } catch {
          continue; // out of range for this option: try the next value
        }
        expect(optionValue(cfg, r.option), `${names[0]}=${raw}`).not.toEqual(def);
        set = true;
        break;
      }
      expect(set, `${names[0]} sets ${r.option}`).toBe(true);
    }
    for (const option of env.keys()) expect(rows.map((r) => r.option), `an environment variable sets ${option}`).toContain(option);
  });

  it('gives the default of each option', () => {
    for (const r of rows) {
      const def = defaultOf(r.option);
      const cell = r.default;
      if (r.option === 'signalingPort') {
        // Follows the HTTP port unless set.
        expect(cell).toBe('port + 1');
        expect(loadServerConfig({}).signalingPort).toBe(DEFAULT_SERVER_CONFIG.port + 1);
        expect(loadServerConfig({ PORT: '9000' }).signalingPort).toBe(9001);
        continue;
      }
      const literal = /^`([^`]*)`/.exec(cell)?.[1];
      const number = /^(\d+)/.exec(cell)?.[1];
      if (typeof def === 'number') expect(Number(number ?? literal), `${r.option} default`).toBe(def);
      else if (def === '') expect(cell, `${r.option} default`).toMatch(/^empty\b/);
      else if (typeof def === 'string') expect(literal, `${r.option} default`).toBe(def);
      else expect(literal, `${r.option} default`).toBe(JSON.stringify(def));
    }
  });
});

describe('README: Operations', () => {
  let srv: TickwireServer | undefined;
  let scrape: MetricsScrape;
  const ops = mdSection(readme, '## Operations');
  const metricLines = ops.split('\n').filter((l) => /^\s+- `tickwire_[a-z0-9_]+/.test(l));
  const documented = new Map(metricLines.map((l) => {
    const m = /^\s+- `(tickwire_[a-z0-9_]+)(?:\{([a-z_,]*)\})?`/.exec(l) as RegExpExecArray;
    return [m[1], m[2] ? m[2].split(',') : []];
  }));
  const groups = ['tickwire_process_', 'tickwire_nodejs_'];
  const inGroup = (name: string): boolean => groups.some((g) => name.startsWith(g));

  beforeAll(async () => {
    srv = await startTestServer();
    srv.rooms.match('docs', srv.clock.nowMs());
    scrape = await scrapeMetrics(srv);
  });
  afterAll(async () => {
    await srv?.stop();
  });

  it('exports metric names with the project prefix once', () => {
    expect(scrape.families.size).toBeGreaterThan(20);
    for (const name of scrape.families.keys()) {
      expect(name, name).toMatch(/^tickwire_/);
      expect(name, `${name} repeats a prefix`).not.toMatch(/(^|_)(tickwire|process|nodejs)_\2_/);
      expect(name.slice('tickwire_'.length), `${name} repeats the project prefix`).not.toMatch(/^tickwire_/);
    }
  });

  it('lists every metric family the server exports, and only those', () => {
    for (const g of groups) {
      expect(ops, `README names the group ${g}*`).toContain(`\`${g}*\``);
      expect([...scrape.families.keys()].some((n) => n.startsWith(g)), `the server exports ${g}*`).toBe(true);
    }
    const exported = [...scrape.families.keys()].filter((n) => !inGroup(n)).sort();
    expect([...documented.keys()].sort()).toEqual(exported);
  });

  it('gives each family its labels', () => {
    for (const [family, labels] of documented) {
      const type = scrape.families.get(family);
      const names = type === 'histogram' ? [`${family}_bucket`, `${family}_sum`, `${family}_count`] : [family];
      const seen = new Set<string>();
      for (const s of scrape.samples) if (names.includes(s.name)) for (const k of Object.keys(s.labels)) if (k !== 'le') seen.add(k);
      if (seen.size === 0) {
        // No samples in this scrape (e.g. the WebRTC process memory without WebRTC): ask the registry.
        const metric = srv!.registry.getSingleMetric(family) as unknown as { labelNames?: readonly string[] } | undefined;
        for (const k of metric?.labelNames ?? []) seen.add(k);
      }
      expect([...labels].sort(), `${family} labels`).toEqual([...seen].sort());
    }
  });

  it('gives the fields GET /rooms returns', async () => {
    const body = (await (await fetch(`${urlOf(srv!)}/rooms`)).json()) as { rooms: Record<string, unknown>[] };
    expect(body.rooms.length).toBeGreaterThan(0);
    const line = ops.split('\n').find((l) => l.startsWith('- `GET /rooms`:')) as string;
    const shape = /`(\{.*\})`/.exec(line)?.[1] ?? '';
    // The documented shape names each field in quotes; nested objects in braces.
    const fieldsOf = (o: Record<string, unknown>, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v) ? [prefix + k, ...fieldsOf(v as Record<string, unknown>, `${prefix}${k}.`)] : [prefix + k]));
    const documentedFields: string[] = [];
    const stack: string[] = [];
    let last = '';
    for (const tok of shape.matchAll(/"([a-zA-Z]+)"|(\{)|(\})/g)) {
      if (tok[1]) {
        last = tok[1];
        if (stack.length > 1) documentedFields.push([...stack.slice(2), last].join('.'));
      } else if (tok[2]) stack.push(last);
      else stack.pop();
    }
    expect(documentedFields.sort()).toEqual(fieldsOf(body.rooms[0]).sort());
  });

  it('says what bye code a shutdown sends', () => {
    for (const m of readme.matchAll(/`bye` \(code (\d+)\)/g)) expect(Object.values(CloseCode)).toContain(Number(m[1]));
    expect(ops).toContain(`\`bye\` (code ${CloseCode.Shutdown})`);
  });
});
