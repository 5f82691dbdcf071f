// `tickwire replay info FILE [--json]` (also `npm run replay -- FILE`): the summary of a replay
// file (game, format and protocol versions, duration, ticks, keyframes, players, events, bytes per
// minute), after checking the whole file; a damaged file is one line naming the field, exit 1.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseReplay, ReplayFormatError, summarizeReplay, type ReplaySummary } from '../shared/protocol/replay.ts';

/** Usage of the replay command. */
export const REPLAY_USAGE = 'usage: tickwire replay info FILE [--json]   summary of a replay file (docs/replay.md)';

/** The summary as the command prints it, one field a line. */
export function formatReplayInfo(file: string, s: ReplaySummary): string {
  const rows: [string, string][] = [
    ['file', file],
    ['game', `${s.game} (config hash ${s.configHash})`],
    ['version', `replay format ${s.formatVersion}, protocol ${s.protocolVersion}`],
    ['room', s.room],
    ['started', s.startedAt],
    ['state', s.finished ? 'finished (keyframe index present)' : 'in progress or cut short (no index: scanned)'],
    ['duration', `${s.durationSec.toFixed(1)} s`],
    ['ticks', `${s.firstTick}..${s.lastTick} (${s.snapshots} snapshots in ${s.snapshotPackets} packets)`],
    ['keyframes', String(s.keyframes)],
    ['players', `${s.players.length}${s.players.length > 0 ? `: ${s.players.join(', ')}` : ''}`],
    ['events', String(s.events)],
    ['bytes', String(s.bytes)],
    ['bytes/min', String(s.bytesPerMinute)],
  ];
  return rows.map(([k, v]) => `${k.padEnd(10)} ${v}`).join('\n');
}

/** Runs `replay <subcommand> ...`; returns the exit code. */
export function replayCommand(args: string[], out: (line: string) => void = console.log, err: (line: string) => void = console.error): number {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (e) {
    err(`tickwire replay: ${(e as Error).message}\n${REPLAY_USAGE}`);
    return 2;
  }
  const [sub, file, ...rest] = parsed.positionals;
  if (sub !== 'info' || file === undefined || rest.length > 0) {
    err(REPLAY_USAGE);
    return 2;
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (e) {
    err(`tickwire replay: cannot read ${file}: ${(e as Error).message}`);
    return 1;
  }
  try {
    const s = summarizeReplay(parseReplay(bytes));
    out(parsed.values.json ? JSON.stringify(s) : formatReplayInfo(file, s));
    return 0;
  } catch (e) {
    if (!(e instanceof ReplayFormatError)) throw e;
    err(`tickwire replay: ${file} is not a valid replay: ${e.message}`);
    return 1;
  }
}
