/** Raw MQTT over a net socket, for malformed input and keepalive tests. Packets come from mqtt-packet. */
import { connect as netConnect, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { onTestFinished } from 'vitest';

export interface RawClient {
  socket: Socket;
  packets: Packet[];
  send(bytes: Buffer): void;
  closed: Promise<void>;
  isClosed(): boolean;
  /** Resolves with the first packet of this cmd (already received or future), or null on close. */
  next(cmd: string): Promise<Packet | null>;
}

export function encode(p: Packet): Buffer {
  return mqttPacket.generate(p);
}

export function connectPacket(clientId: string, keepalive = 60): Buffer {
  return encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive });
}

export function publishPacket(
  topic: string,
  payload: Buffer | string,
  qos: 0 | 1 | 2,
  messageId = 1,
): Buffer {
  return encode({
    cmd: 'publish',
    topic,
    payload,
    qos,
    retain: false,
    dup: false,
    ...(qos > 0 ? { messageId } : {}),
  });
}

/** `protocolVersion` 5 parses what the server sends as MQTT 5 (reason codes, properties). */
export async function rawClient(port: number, protocolVersion: 4 | 5 = 4): Promise<RawClient> {
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => {});
  onTestFinished(() => {
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: Packet[] = [];
  const waiters: Array<{ cmd: string; resolve: (p: Packet | null) => void }> = [];
  let isClosed = false;
  parser.on('packet', (p: Packet) => {
    packets.push(p);
    for (const w of [...waiters]) {
      if (w.cmd === p.cmd) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(p);
      }
    }
  });
  parser.on('error', () => {});
  socket.on('data', (d) => parser.parse(d));
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      for (const w of waiters.splice(0)) w.resolve(null);
      resolve();
    }),
  );
  return {
    socket,
    packets,
    closed,
    isClosed: () => isClosed,
    send: (bytes) => {
      if (!socket.destroyed) socket.write(bytes);
    },
    next(cmd) {
      const have = packets.find((p) => p.cmd === cmd);
      if (have) return Promise.resolve(have);
      if (isClosed) return Promise.resolve(null);
      return new Promise((resolve) => waiters.push({ cmd, resolve }));
    },
  };
}

const V5 = { protocolVersion: 5 } as const;

/** MQTT 5 packets (mqtt-packet with protocolVersion 5). */
export function encode5(p: Packet): Buffer {
  return mqttPacket.generate(p, V5);
}

export function connect5Packet(clientId: string, extra: Record<string, unknown> = {}): Buffer {
  return encode5({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 5,
    clean: true,
    clientId,
    keepalive: 60,
    ...extra,
  } as Packet);
}

export function publish5(
  topic: string,
  payload: Buffer | string,
  qos: 0 | 1 | 2,
  messageId = 1,
  properties?: Record<string, unknown>,
): Buffer {
  return encode5({
    cmd: 'publish',
    topic,
    payload,
    qos,
    retain: false,
    dup: false,
    ...(qos > 0 ? { messageId } : {}),
    ...(properties ? { properties } : {}),
  } as Packet);
}

/** A raw MQTT 5 client past CONNACK 0. */
export async function rawConnected5(port: number, clientId: string): Promise<RawClient> {
  const raw = await rawClient(port, 5);
  raw.send(connect5Packet(clientId));
  const ack = (await raw.next('connack')) as { reasonCode?: number } | null;
  if (ack?.reasonCode !== 0) throw new Error(`CONNACK ${ack?.reasonCode}`);
  return raw;
}
