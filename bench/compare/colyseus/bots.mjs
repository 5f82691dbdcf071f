// arena-v1 bots for the Colyseus server: each joins the one arena room, sends its input at 60 Hz
// (one of 8 directions or idle, a new seeded random choice every 250..750 ms) and counts the bytes
// it receives. Prints one JSON line of totals when told to on stdin ("report").
// `node bots.mjs PORT COUNT`
import { Client } from 'colyseus.js';

const port = Number(process.argv[2] ?? 2567);
const count = Number(process.argv[3] ?? 50);
let bytes = 0;
let messages = 0;
let joined = 0;
let failed = 0;
const rooms = [];

function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
}

async function bot(i) {
  const client = new Client(`ws://127.0.0.1:${port}`);
  const room = await client.joinOrCreate('arena');
  const ws = room.connection.transport.ws;
  ws.on('message', (data) => {
    bytes += data.length ?? data.byteLength;
    messages++;
  });
  joined++;
  const random = rng(i + 1);
  let dir = 0;
  let nextChange = 0;
  const start = Date.now();
  let sent = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    if (now >= nextChange) {
      dir = Math.floor(random() * 9);
      nextChange = now + 250 + random() * 500;
    }
    // catch up to 60 inputs per second of wall time (setInterval runs at about 1 ms resolution)
    const due = Math.floor(((now - start) * 60) / 1000);
    while (sent < due) {
      room.send('i', dir);
      sent++;
    }
  }, 1000 / 60);
  rooms.push({ room, timer });
}

for (let i = 0; i < count; i++) {
  bot(i).catch(() => failed++);
  await new Promise((r) => setTimeout(r, 20));
}
process.stdin.on('data', (d) => {
  if (d.toString().includes('report')) console.log(JSON.stringify({ joined, failed, bytes, messages }));
  if (d.toString().includes('quit')) process.exit(0);
});
console.log(JSON.stringify({ started: count }));
