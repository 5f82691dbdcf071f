// The default transports of a server process, started from its config: uWebSockets.js (WebSocket
// and HTTP) as the reliable one, geckos.io WebRTC as the datagram one, in a supervised child
// process unless config.webrtcProcess is off.
import type { Logger } from 'pino';
import type { ServerConfig } from './config.ts';
import type { DatagramTransport, TransportEvents } from './net/transport.ts';
import type { HttpRoutes, UwsServer } from './net/uws.ts';

/** Starts the HTTP + WebSocket server on config.host:config.port. */
export async function startUws(c: ServerConfig, events: TransportEvents, routes: HttpRoutes): Promise<UwsServer> {
  const { startHttpServer } = await import('./net/uws.ts');
  return startHttpServer(
    { host: c.host, port: c.port, maxPayloadBytes: c.wsMaxPayloadBytes, maxBackpressureBytes: c.wsMaxBackpressureBytes, idleTimeoutSec: c.wsIdleTimeoutSec, allowedOrigins: c.allowedOrigins, clientDir: c.clientDir },
    events,
    routes,
  );
}

/**
 * Starts the WebRTC datagram transport (signaling on config.signalingPort, UDP in the configured
 * range): in webrtcProcesses supervised processes (process i signals on signalingPort + i and uses
 * slice i of the UDP range), or in this process.
 */
export async function startWebRtc(c: ServerConfig, events: TransportEvents, log: Logger): Promise<DatagramTransport> {
  const geckos = {
    host: c.host, signalingPort: c.signalingPort, udpPortMin: c.udpPortMin, udpPortMax: c.udpPortMax, iceServers: [],
    maxPendingPeers: c.maxPendingPeers, maxMessageBytes: c.wsMaxPayloadBytes, pendingTimeoutMs: c.webrtcPendingTimeoutMs,
  };
  if (c.webrtcProcess) {
    const { startRtcProcess } = await import('./net/rtc-process.ts');
    const { startRtcPool, udpSlice, webrtcProcessCount } = await import('./net/rtc-pool.ts');
    const n = webrtcProcessCount(c.webrtcProcesses);
    if (n === 1) return startRtcProcess({ geckos }, events, log);
    const pool = await startRtcPool(n, events, (i, ev) => startRtcProcess({
      geckos: { ...geckos, ...udpSlice(c.udpPortMin, c.udpPortMax, i, n), signalingPort: c.signalingPort === 0 ? 0 : c.signalingPort + i },
    }, ev, log.child({ webrtcProcess: i })));
    log.info({ processes: n, signalingPorts: pool.processes.map((p) => p.signalingPort) }, 'webrtc processes up');
    return pool;
  }
  const { startGeckosTransport } = await import('./net/geckos.ts');
  return startGeckosTransport(geckos, events, log);
}
