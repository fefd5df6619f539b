/**
 * Hand-built MQTT 3.1.1 packets for hostile cases that a well-behaved encoder (mqtt-packet) refuses
 * to write: will QoS 3, raw topic bytes (ill-formed UTF-8), unknown protocol levels, a password
 * without a user name. Layouts: MQTT 3.1.1 §3.1 (CONNECT) and §3.3 (PUBLISH).
 */
import { connect as netConnect } from 'node:net';
import { expect, onTestFinished } from 'vitest';
import { connectPacket, type RawClient, rawClient } from '../ingest/raw.ts';

function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

function field(b: Buffer | string): Buffer {
  const bytes = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

export interface RawConnect {
  clientId?: string;
  level?: number;
  protocolName?: string;
  clean?: boolean;
  keepalive?: number;
  will?: { topic: Buffer | string; payload: Buffer | string; qos: number; retain?: boolean };
  username?: string;
  password?: Buffer | string;
}

export function rawConnect(c: RawConnect): Buffer {
  let flags = 0;
  if (c.clean ?? true) flags |= 0x02;
  if (c.will) flags |= 0x04 | ((c.will.qos & 3) << 3) | (c.will.retain ? 0x20 : 0);
  if (c.username !== undefined) flags |= 0x80;
  if (c.password !== undefined) flags |= 0x40;
  const keepalive = Buffer.alloc(2);
  keepalive.writeUInt16BE(c.keepalive ?? 30);
  const parts = [
    field(c.protocolName ?? 'MQTT'),
    Buffer.from([c.level ?? 4, flags]),
    keepalive,
    field(c.clientId ?? 'bad'),
  ];
  if (c.will) parts.push(field(c.will.topic), field(c.will.payload));
  if (c.username !== undefined) parts.push(field(c.username));
  if (c.password !== undefined) parts.push(field(c.password));
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x10]), varint(body.length), body]);
}

export function rawPublish(topic: Buffer | string, payload: Buffer | string, qos: 0 | 1 | 2, id = 1): Buffer {
  const parts = [field(topic)];
  if (qos > 0) {
    const pid = Buffer.alloc(2);
    pid.writeUInt16BE(id);
    parts.push(pid);
  }
  parts.push(typeof payload === 'string' ? Buffer.from(payload) : payload);
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x30 | (qos << 1)]), varint(body.length), body]);
}

/** A raw client that sent a plain CONNECT and got CONNACK 0. */
export async function rawConnected(port: number, clientId: string, keepalive = 30): Promise<RawClient> {
  const raw = await rawClient(port);
  raw.send(connectPacket(clientId, keepalive));
  expect(await raw.next('connack')).toMatchObject({ returnCode: 0 });
  return raw;
}

/** Waits for the server to close the raw client; returns the packets it got, by cmd. */
export async function closedBy(raw: RawClient): Promise<string[]> {
  await raw.closed;
  return raw.packets.map((p) => p.cmd);
}

/** A plain TCP socket that sends `bytes` and then nothing (slowloris). Resolves when the server closes it. */
export async function silentSocket(port: number, bytes: Buffer): Promise<void> {
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => {});
  onTestFinished(() => {
    socket.destroy();
  });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write(bytes);
  socket.resume();
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
}
