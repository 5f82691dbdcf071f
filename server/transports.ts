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

/** Starts the WebRTC datagram transport (signaling on config.signalingPort, UDP in the configured range). */
export async function startWebRtc(c: ServerConfig, events: TransportEvents, log: Logger): Promise<DatagramTransport> {
  const geckos = {
    host: c.host, signalingPort: c.signalingPort, udpPortMin: c.udpPortMin, udpPortMax: c.udpPortMax, iceServers: [],
    maxPendingPeers: c.maxPendingPeers, maxMessageBytes: c.wsMaxPayloadBytes, pendingTimeoutMs: c.webrtcPendingTimeoutMs,
  };
  if (c.webrtcProcess) {
    const { startRtcProcess } = await import('./net/rtc-process.ts');
    return startRtcProcess({ geckos }, events, log);
  }
  const { startGeckosTransport } = await import('./net/geckos.ts');
  return startGeckosTransport(geckos, events, log);
}
