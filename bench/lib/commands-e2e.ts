/**
 * bench:commands, end to end: central produce → the device's MQTT client receives the PUBLISH.
 *
 * - ours: `outpost run` (own process) with sessions and commands on, reading the topic; the devices
 *   are registered, log in, keep persistent sessions (CleanSession 0) and subscribe at QoS 1. Each
 *   command is queued in the session durably (LMDB, fsynced) before the consumer records it.
 * - peer: Mosquitto 2 (`persistence false`) plus a plain @platformatic/kafka consumer publishing each
 *   record to it at QoS 1 (bench/peers/kafka-mosquitto/bridge.ts, own process); the same devices
 *   with persistent sessions, anonymous.
 *
 * Per side: a burst of `commands` produced in batches of 500 (rate = commands / (last receipt − first
 * produce)), then `rate` commands/s for `seconds` (latency: payload sentAt → receipt, p50/p99).
 * Every loop is bounded; everything listens on 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Producer } from '@platformatic/kafka';
import mqtt, { type MqttClient } from 'mqtt';
import { loadConfig } from '../../src/config/index.ts';
import { fleetConfig, mqttTcp, registerFleetInDataDir, startOutpost } from '../../src/sim/index.ts';
import { createTopic } from '../../test/kafka/client.ts';
import { startMosquitto } from './brokers.ts';
import { killAndWait } from './proc.ts';

export interface E2eOptions {
  commands: number;
  devices: number;
  partitions: number;
  rate: number;
  seconds: number;
}

export interface E2eFigures {
  perSecond: number;
  p50: number;
  p99: number;
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)] ?? NaN;
const ids = (n: number) => Array.from({ length: n }, (_, i) => `stb-${String(i + 1).padStart(4, '0')}`);

async function until(cond: () => boolean, what: string, timeoutMs = 180_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The devices: persistent sessions subscribed to their command topics; counts and latencies. */
async function devices(port: number, n: number, password?: string) {
  const got = { count: 0, lat: [] as number[] };
  const clients: MqttClient[] = [];
  for (const id of ids(n)) {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      clientId: id,
      clean: false,
      reconnectPeriod: 0,
      ...(password ? { username: id, password: password.replace('{deviceId}', id) } : {}),
    });
    c.on('message', (_t, payload) => {
      got.count++;
      got.lat.push(Date.now() - (JSON.parse(payload.toString()) as { sentAt: number }).sentAt);
    });
    await c.subscribeAsync(`devices/${id}/commands/#`, { qos: 1 });
    clients.push(c);
  }
  return { got, close: () => Promise.all(clients.map((c) => c.endAsync())) };
}

function batch(topic: string, devs: string[], from: number, n: number) {
  const sentAt = Date.now();
  return Array.from({ length: n }, (_, i) => {
    const k = from + i;
    const key = Buffer.from(devs[k % devs.length] as string);
    const headers = new Map([[Buffer.from('outpost-command-id'), Buffer.from(`${topic}-${k}`)]]);
    return { topic, key, value: Buffer.from(JSON.stringify({ k, sentAt })), headers };
  });
}

/** Burst, then live: the two figures of one side. */
async function measure(
  producer: Producer,
  topic: string,
  got: { count: number; lat: number[] },
  o: E2eOptions,
): Promise<E2eFigures> {
  const devs = ids(o.devices);
  const t0 = performance.now();
  for (let i = 0; i < o.commands; i += 500)
    await producer.send({ messages: batch(topic, devs, i, Math.min(500, o.commands - i)) });
  await until(() => got.count >= o.commands, `${topic}: burst`);
  const perSecond = o.commands / ((performance.now() - t0) / 1000);
  got.lat.length = 0;
  const total = o.rate * o.seconds;
  const start = Date.now();
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / o.rate - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await producer.send({ messages: batch(topic, devs, o.commands + i, 1) });
  }
  await until(() => got.count >= o.commands + total, `${topic}: live`);
  return { perSecond, p50: pct(got.lat, 0.5), p99: pct(got.lat, 0.99) };
}

async function ours(bootstrap: string, producer: Producer, o: E2eOptions): Promise<E2eFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-cmd-e2e-'));
  const topic = `bench-cmd-e2e-ours-${Date.now()}`;
  await createTopic(bootstrap, topic, { partitions: o.partitions });
  const cfg = fleetConfig({
    edgeId: 'bench',
    dataDir: join(dir, 'data'),
    clusters: { bench: bootstrap },
    overrides: {
      mqtt: { listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }], sessions: { enabled: true } },
      commands: { enabled: true, topic, groupId: null, fetchMaxWaitMs: 100 },
    },
  });
  const path = join(dir, 'outpost.json');
  writeFileSync(path, JSON.stringify(cfg));
  const outpost = await startOutpost({ configPath: path, logFile: join(dir, 'outpost.log') });
  try {
    await registerFleetInDataDir(await loadConfig(path), {
      stb: o.devices,
      vehicles: 0,
      password: 'b-{deviceId}',
    });
    const d = await devices(mqttTcp(outpost).port, o.devices, 'b-{deviceId}');
    try {
      return await measure(producer, topic, d.got, o);
    } finally {
      await d.close();
    }
  } finally {
    await outpost.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function peer(bootstrap: string, producer: Producer, o: E2eOptions): Promise<E2eFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-cmd-e2e-peer-'));
  const topic = `bench-cmd-e2e-peer-${Date.now()}`;
  await createTopic(bootstrap, topic, { partitions: o.partitions });
  const mosquitto = await startMosquitto(dir);
  const bridgeTs = join(import.meta.dirname, '../peers/kafka-mosquitto/bridge.ts');
  const bridge = spawn(process.execPath, [bridgeTs, bootstrap, topic, String(mosquitto.port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: bridge.stdout! }).on('line', (l) => l === 'ready' && resolve());
      bridge.once('exit', (c) => reject(new Error(`bridge exited (${c}) before it was ready`)));
    });
    await new Promise((r) => setTimeout(r, 2_000)); // its group has joined, as ours has started
    const d = await devices(mosquitto.port, o.devices);
    try {
      return await measure(producer, topic, d.got, o);
    } finally {
      await d.close();
    }
  } finally {
    await killAndWait(bridge, 'SIGTERM', 10_000);
    await mosquitto.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function e2eCommands(
  bootstrap: string,
  o: E2eOptions,
): Promise<{ ours: E2eFigures; peer: E2eFigures }> {
  const producer = new Producer({
    clientId: 'bench-e2e',
    bootstrapBrokers: [bootstrap],
    idempotent: true,
    acks: -1,
  });
  try {
    return { ours: await ours(bootstrap, producer, o), peer: await peer(bootstrap, producer, o) };
  } finally {
    await producer.close();
  }
}
