/**
 * npm run bench:commands — the command consumer (central Kafka → Downlink.deliver) beside a plain
 * @platformatic/kafka consumer reading the same topic in the same run, on a local single-node Kafka.
 *
 * 1. Backlog: BENCH_COMMANDS commands (default 5000, 100 B, BENCH_PARTITIONS = 4 partitions, 50
 *    devices) are produced first; then each side reads them all from the earliest offset. Ours hands
 *    every one to an in-process Downlink that resolves at once (what is measured is the Kafka side:
 *    fetch, parse, dedup, two fsynced LMDB commits per command); the peer only reads (no commit).
 *    commands/s for each and the ratio.
 * 2. Latency: BENCH_RATE commands/s (default 100) for BENCH_SECONDS (default 10), both sides reading
 *    live: from the produce call to Downlink.deliver being called (ours) or the message arriving
 *    (peer); p50 and p99.
 *
 * 3. End to end (bench/lib/commands-e2e.ts): central produce → PUBLISH received by a real MQTT client,
 *    through `outpost run` (sessions + commands), beside Mosquitto 2 fed by a plain @platformatic/kafka
 *    consumer (bench/peers/kafka-mosquitto/bridge.ts): a burst of BENCH_E2E_COMMANDS (default 2000)
 *    to BENCH_E2E_DEVICES (default 20) persistent-session devices, then BENCH_RATE/s for BENCH_SECONDS.
 *
 *   KAFKA_BOOTSTRAP_BENCH_COMMANDS=host:port   # use an existing broker instead of starting one
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Consumer, Producer } from '@platformatic/kafka';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseConfig } from '../src/config/index.ts';
import { openLog, partitionFor } from '../src/log/index.ts';
import { type Downlink, startCommands } from '../src/mirror/index.ts';
import { logOptionsFromConfig } from '../src/service/index.ts';
import { createTopic } from '../test/kafka/client.ts';
import { startCluster } from '../test/kafka/harness.ts';
import { e2eCommands } from './lib/commands-e2e.ts';

const COMMANDS = Number(process.env['BENCH_COMMANDS'] ?? 5000);
const PARTITIONS = Number(process.env['BENCH_PARTITIONS'] ?? 4);
const RATE = Number(process.env['BENCH_RATE'] ?? 100);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const DEVICES = 50;
const E2E_COMMANDS = Number(process.env['BENCH_E2E_COMMANDS'] ?? 2000);
const E2E_DEVICES = Number(process.env['BENCH_E2E_DEVICES'] ?? 20);
const logger = pino({ level: process.env['BENCH_LOG'] ?? 'warn' });
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)] ?? NaN;

function messages(topic: string, from: number, n: number, sentAt?: number) {
  return Array.from({ length: n }, (_, i) => {
    const key = Buffer.from(`dev-${(from + i) % DEVICES}`);
    const headers = new Map([[Buffer.from('outpost-command-id'), Buffer.from(`c-${from + i}`)]]);
    if (sentAt !== undefined) headers.set(Buffer.from('sent'), Buffer.from(String(sentAt)));
    return { topic, key, partition: partitionFor(key, PARTITIONS), value: Buffer.alloc(100, 120), headers };
  });
}

const sentOf = (headers: Map<Buffer, Buffer> | Array<[string, Buffer]>) => {
  for (const [k, v] of headers) if (k.toString() === 'sent') return Number(v.toString());
  return NaN;
};

/** Ours: a command consumer on a fresh LMDB dir; onDeliver sees each command as deliver is called. */
async function ours(bootstrap: string, topic: string, onDeliver: (payload: Buffer, topic: string) => void) {
  const dataDir = mkdtempSync(join(tmpdir(), 'outpost-bench-commands-'));
  const config = parseConfig({
    edgeId: 'bench',
    dataDir,
    log: { topics: { events: { partitions: 1 } }, minFreeBytes: 0 },
    mqtt: { listeners: [{ type: 'tcp', port: 0 }], sessions: { enabled: true } },
    mirror: { clusters: { bench: { bootstrap } } },
    commands: {
      enabled: true,
      topic,
      groupId: null,
      fetchMaxWaitMs: 100,
      mqttTopic: 'd/{deviceId}/c/{header.sent}',
    },
  });
  const log = await openLog(logOptionsFromConfig(config));
  const downlink: Downlink = {
    async deliver(msg) {
      onDeliver(msg.payload, msg.topic);
      return { matched: 1, delivered: 1, queued: 0 };
    },
  };
  const consumer = startCommands({ config, log, downlink, logger, metrics: new Registry() });
  return async () => {
    await consumer.stop({ timeoutMs: 5_000 });
    await log.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
}

/** The peer: a plain consumer from the earliest offset; onMessage per message. */
async function peer(bootstrap: string, topic: string, onMessage: (headers: Map<Buffer, Buffer>) => void) {
  const consumer = new Consumer({
    clientId: 'bench-peer',
    groupId: `bench-peer-${randomUUID()}`,
    bootstrapBrokers: [bootstrap],
    autocommit: false,
    maxWaitTime: 100,
  });
  const stream = await consumer.consume({
    topics: [topic],
    mode: 'earliest',
    autocommit: false,
    maxWaitTime: 100,
  });
  stream.on('data', (m) => onMessage(m.headers as Map<Buffer, Buffer>));
  return async () => {
    await stream.close();
    await consumer.close(true);
  };
}

async function until(cond: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function backlog(bootstrap: string, producer: Producer) {
  const topic = `bench-cmd-${randomUUID().slice(0, 8)}`;
  await createTopic(bootstrap, topic, { partitions: PARTITIONS });
  for (let i = 0; i < COMMANDS; i += 500)
    await producer.send({ messages: messages(topic, i, Math.min(500, COMMANDS - i), 0) });
  let n = 0;
  let t0 = performance.now();
  const stopOurs = await ours(bootstrap, topic, () => n++);
  await until(() => n >= COMMANDS, 'ours: backlog');
  const oursRate = COMMANDS / ((performance.now() - t0) / 1000);
  await stopOurs();
  let m = 0;
  t0 = performance.now();
  const stopPeer = await peer(bootstrap, topic, () => m++);
  await until(() => m >= COMMANDS, 'peer: backlog');
  const peerRate = COMMANDS / ((performance.now() - t0) / 1000);
  await stopPeer();
  return { oursRate, peerRate };
}

async function latency(bootstrap: string, producer: Producer) {
  const topic = `bench-cmd-live-${randomUUID().slice(0, 8)}`;
  await createTopic(bootstrap, topic, { partitions: PARTITIONS });
  const oursLat: number[] = [];
  const peerLat: number[] = [];
  // The MQTT topic template carries the `sent` header: d/<device>/c/<sent>.
  const stopOurs = await ours(bootstrap, topic, (_p, t) =>
    oursLat.push(Date.now() - Number(t.split('/')[3])),
  );
  const stopPeer = await peer(bootstrap, topic, (h) => peerLat.push(Date.now() - sentOf(h)));
  await new Promise((r) => setTimeout(r, 2_000)); // both reading before the first command
  const total = RATE * SECONDS;
  const start = Date.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await producer.send({ messages: messages(topic, i, 1, Date.now()) });
  }
  await until(() => oursLat.length >= total && peerLat.length >= total, 'live commands');
  await stopOurs();
  await stopPeer();
  return {
    ours: { p50: pct(oursLat, 0.5), p99: pct(oursLat, 0.99) },
    peer: { p50: pct(peerLat, 0.5), p99: pct(peerLat, 0.99) },
  };
}

async function main(): Promise<void> {
  const cluster = await startCluster({ name: 'bench-commands' });
  const producer = new Producer({
    clientId: 'bench',
    bootstrapBrokers: [cluster.bootstrap],
    idempotent: true,
    acks: -1,
  });
  try {
    const b = await backlog(cluster.bootstrap, producer);
    console.log(
      `backlog of ${COMMANDS.toLocaleString()} commands, ${PARTITIONS} partitions: outpost ${b.oursRate.toFixed(0)} cmd/s (to Downlink.deliver resolved, position and dedup fsynced), plain @platformatic/kafka consumer ${b.peerRate.toFixed(0)} msg/s (read only); ratio ${(b.oursRate / b.peerRate).toFixed(2)}`,
    );
    const l = await latency(cluster.bootstrap, producer);
    console.log(
      `live at ${RATE} cmd/s for ${SECONDS} s, produce -> deliver: outpost p50 ${l.ours.p50} ms p99 ${l.ours.p99} ms; plain consumer p50 ${l.peer.p50} ms p99 ${l.peer.p99} ms`,
    );
    const e = await e2eCommands(cluster.bootstrap, {
      commands: E2E_COMMANDS,
      devices: E2E_DEVICES,
      partitions: PARTITIONS,
      rate: RATE,
      seconds: SECONDS,
    });
    const peerName = 'mosquitto 2 + plain @platformatic/kafka consumer';
    console.log(
      `end to end, produce -> device PUBLISH (${E2E_DEVICES} persistent-session devices, QoS 1): burst of ${E2E_COMMANDS.toLocaleString()}: outpost ${e.ours.perSecond.toFixed(0)} cmd/s, ${peerName} ${e.peer.perSecond.toFixed(0)} cmd/s; ratio outpost/mosquitto+consumer ${(e.ours.perSecond / e.peer.perSecond).toFixed(2)}`,
    );
    console.log(
      `end to end live at ${RATE} cmd/s for ${SECONDS} s: outpost p50 ${e.ours.p50} ms p99 ${e.ours.p99} ms; ${peerName} p50 ${e.peer.p50} ms p99 ${e.peer.p99} ms; ratio of p50 outpost/mosquitto+consumer ${(e.ours.p50 / e.peer.p50).toFixed(2)}, of p99 ${(e.ours.p99 / e.peer.p99).toFixed(2)}`,
    );
  } finally {
    await producer.close();
    await cluster.destroy();
  }
}

await main();
