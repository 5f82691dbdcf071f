// SCTP settings of every WebRTC peer in a Node process (the server's WebRTC side and the Node clients;
// a browser has its own SCTP stack): node-datachannel applies them, process-wide, to associations made
// after the call. Each side applies them itself (shared/ stays free of node-datachannel).
//
// libdatachannel delays a SACK 20 ms (RFC 4960 recommends 200). On Tickwire's datagrams, a client's
// inputs 33 ms apart and the server's snapshots 50 ms apart, a 20 ms delay sends a SACK for nearly every
// packet: as many datagrams again, each one encrypted, sent, received and decrypted. At 200 ms the
// receiver still acknowledges every second packet at once, and a pending SACK rides on the next
// outgoing packet instead of a datagram of its own. The channels are unordered with no retransmits,
// so no delivery waits on a SACK; only the sender's congestion window does, far from full at a few
// KB/s. Measured (arena-v1 default point over WebRTC, A B A B): a quarter fewer UDP datagrams on the
// machine and the WebRTC process 14% less CPU.

/** Delay before a lone packet's SACK goes out, ms (RFC 4960's default; libdatachannel's is 20). */
export const SCTP_DELAYED_SACK_MS = 200;

/** The settings each side passes to node-datachannel's setSctpSettings() before its first peer. */
export const SCTP_SETTINGS: { readonly delayedSackTime: number } = { delayedSackTime: SCTP_DELAYED_SACK_MS };
