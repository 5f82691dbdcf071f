// How a server process answers signals: SIGTERM drains (no new players; the process exits once
// its rooms empty or drainMs passes, as an orchestrator expects), SIGINT (Ctrl-C) and a second
// SIGTERM stop it now (every client told), within shutdownMs; then the process exits 0.
import type { TickwireServer } from './server.ts';

/** Installs the handlers on this process. */
export function handleSignals(server: TickwireServer): void {
  let stopping = false;
  const stopNow = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    server.log.info({ signal }, 'shutting down');
    const hard = setTimeout(() => {
      server.log.error('shutdown took too long; exiting');
      process.exit(1);
    }, server.config.shutdownMs + 500);
    hard.unref();
    server.stop(`server received ${signal}`).then(
      () => process.exit(0),
      (err: unknown) => {
        server.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  let draining = false;
  process.on('SIGTERM', () => {
    if (draining || server.config.drainMs === 0) return stopNow('SIGTERM');
    draining = true;
    server.fleet.drain('server received SIGTERM');
  });
  // A drain (SIGTERM or POST /admin/drain) ends with the frame stopping the server: then exit.
  setInterval(() => {
    if (server.state === 'stopped' && !stopping) process.exit(0);
  }, 100).unref();
  process.on('SIGINT', () => stopNow('SIGINT'));
}
