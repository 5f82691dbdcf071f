// The server's logger: pino JSON lines, or pino-pretty's readable lines when stdout is a terminal.
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

/** Fields every line of the server's log carries. */
const BASE = { service: 'tickwire' };

/** Options of pino-pretty for a terminal (tools/dev/runner.ts formats the server's JSON lines the same way). */
export const PRETTY_OPTIONS = { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service', sync: true } as const;

/**
 * Creates the server's logger at `level`. Human-readable (pino-pretty) when `tty` (default: stdout
 * is a terminal), one JSON object per line otherwise, for log collectors and tests.
 */
export function createLogger(level: string, tty: boolean = process.stdout.isTTY === true): Logger {
  return tty ? pino({ level, base: BASE }, pretty(PRETTY_OPTIONS)) : pino({ level, base: BASE });
}
