// arena-v1 (docs/scenario-arena-v1.md) on Colyseus 0.16 with @colyseus/schema v3: 60 Hz
// simulation, 20 Hz patches, players move by input, NPCs wander, 2% of entities change hp each
// second, seeded PRNG. float32 positions and angle, uint8 kind and hp.
// `node server.mjs PORT NPCS`
import { Room, Server } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { Encoder, MapSchema, Schema, defineTypes } from '@colyseus/schema';

// The full state of 550 entities is larger than the encoder's default buffer: size it as Colyseus'
// warning says, so the run measures steady state, not a buffer that grows on every join.
Encoder.BUFFER_SIZE = 64 * 1024;

const SIZE = 2048;
const PLAYER_SPEED = 200;
const NPC_SPEED = 100;
const DT = 1 / 60;
const D = Math.SQRT1_2;
const DIR_X = [0, 1, D, 0, -D, -1, -D, 0, D];
const DIR_Y = [0, 0, -D, -1, -D, 0, D, 1, D];

/** sfc32, seeded */
function rng(seed) {
  let a = seed >>> 0, b = 0x9e3779b9, c = 0x243f6a88, d = 0xb7e15162;
  const next = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b | 0) + d | 0;
    d = d + 1 | 0; a = b ^ b >>> 9; b = c + (c << 3) | 0; c = c << 21 | c >>> 11; c = c + t | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

class Entity extends Schema {}
defineTypes(Entity, { kind: 'uint8', x: 'float32', y: 'float32', angle: 'float32', hp: 'uint8' });
class State extends Schema {
  constructor() {
    super();
    this.entities = new MapSchema();
  }
}
defineTypes(State, { entities: { map: Entity } });

class Arena extends Room {
  maxClients = 1000;
  onCreate(opts) {
    this.setState(new State());
    this.setPatchRate(50);
    this.autoDispose = false;
    this.random = rng(1);
    this.npcs = [];
    this.players = new Map();
    this.tick = 0;
    for (let i = 0; i < (opts.npcs ?? 500); i++) {
      const e = new Entity();
      e.kind = 1; e.x = this.random() * SIZE; e.y = this.random() * SIZE; e.angle = 0; e.hp = 100;
      const npc = { e, vx: 0, vy: 0, phase: Math.floor(this.random() * 120) };
      this.turn(npc);
      this.npcs.push(npc);
      this.state.entities.set(`n${i}`, e);
    }
    this.onMessage('i', (client, dir) => {
      const p = this.players.get(client.sessionId);
      if (p && Number.isInteger(dir) && dir >= 0 && dir <= 8) p.dir = dir;
    });
    this.setSimulationInterval(() => this.step(), 1000 / 60);
  }
  turn(npc) {
    if (this.random() < 0.25) { npc.vx = 0; npc.vy = 0; return; }
    const a = this.random() * Math.PI * 2;
    npc.vx = Math.cos(a) * NPC_SPEED; npc.vy = Math.sin(a) * NPC_SPEED; npc.e.angle = a;
  }
  step() {
    this.tick++;
    for (const p of this.players.values()) {
      if (p.dir === 0) continue;
      p.e.x = Math.min(SIZE, Math.max(0, p.e.x + DIR_X[p.dir] * PLAYER_SPEED * DT));
      p.e.y = Math.min(SIZE, Math.max(0, p.e.y + DIR_Y[p.dir] * PLAYER_SPEED * DT));
      p.e.angle = Math.atan2(DIR_Y[p.dir], DIR_X[p.dir]);
    }
    for (const n of this.npcs) {
      if ((this.tick + n.phase) % 120 === 0) this.turn(n);
      if (n.vx === 0 && n.vy === 0) continue;
      let x = n.e.x + n.vx * DT, y = n.e.y + n.vy * DT;
      if (x < 0 || x > SIZE) { n.vx = -n.vx; x = Math.min(SIZE, Math.max(0, x)); n.e.angle = Math.atan2(n.vy, n.vx); }
      if (y < 0 || y > SIZE) { n.vy = -n.vy; y = Math.min(SIZE, Math.max(0, y)); n.e.angle = Math.atan2(n.vy, n.vx); }
      n.e.x = x; n.e.y = y;
    }
    if (this.tick % 60 === 0) {
      const all = [...this.npcs.map((n) => n.e), ...[...this.players.values()].map((p) => p.e)];
      const k = Math.round(all.length * 0.02);
      for (let i = 0; i < k; i++) all[Math.floor(this.random() * all.length)].hp = Math.floor(this.random() * 101);
    }
  }
  onJoin(client) {
    const e = new Entity();
    e.kind = 0; e.x = this.random() * SIZE; e.y = this.random() * SIZE; e.angle = 0; e.hp = 100;
    this.players.set(client.sessionId, { e, dir: 0 });
    this.state.entities.set(client.sessionId, e);
  }
  onLeave(client) {
    this.players.delete(client.sessionId);
    this.state.entities.delete(client.sessionId);
  }
}

const port = Number(process.argv[2] ?? 2567);
const npcs = Number(process.argv[3] ?? 500);
const server = new Server({ transport: new WebSocketTransport(), greet: false });
server.define('arena', Arena, { npcs });
await server.listen(port, '127.0.0.1');
console.log(JSON.stringify({ listening: port, npcs }));
