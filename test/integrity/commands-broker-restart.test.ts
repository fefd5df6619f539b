/**
 * Invariant: a Kafka broker restart while commands flow loses none and duplicates none. A private
 * single-node cluster is SIGKILLed mid-stream and started again on its data; the command consumer
 * (in this process) delivers through the real MQTT ingest's downlink to real mqtt.js devices with
 * persistent sessions (CleanSession 0, QoS 1), which resumes reading where it stood.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { ConfigInput } from '../../src/config/index.ts';
import { startCommands } from '../../src/mirror/index.ts';
import { baseConfig, startHarness } from '../ingest/helpers.ts';
import { createTopic, produce } from '../kafka/client.ts';
import { type KafkaCluster, startCluster } from '../kafka/harness.ts';
import { command, metricValue, waitFor } from '../mirror/commands-helpers.ts';
import { quietLogger } from '../mirror/helpers.ts';

const PARTITIONS = 2;
const DEVICES = ['b0', 'b1', 'b2'];
const PER_BATCH = 20;

let cluster: KafkaCluster;
beforeAll(async () => {
  cluster = await startCluster({ name: `cmd-restart-${process.pid}-${Date.now() % 100_000}`, heap: '384m' });
});
afterAll(async () => {
  await cluster?.destroy();
});

describe('integrity › commands through a broker restart', () => {
  it('a SIGKILLed and restarted broker: every command reaches its device once (no DUP 0 copy twice), in order; the consumer resumes', async () => {
    const base = baseConfig();
    const input = {
      ...base,
      edgeId: `restart-${Date.now() % 100_000}`,
      mqtt: { ...base.mqtt, sessions: { enabled: true } },
      mirror: { clusters: { 'dc-r': { bootstrap: cluster.bootstrap } } },
      commands: { enabled: true, fetchMaxWaitMs: 200, requestTimeoutMs: 3_000 },
    } as ConfigInput;
    const h = await startHarness(input);
    const topic = `commands.${h.config.edgeId}`;
    await createTopic(cluster.bootstrap, topic, { partitions: PARTITIONS });

    const got = new Map<string, Array<{ payload: string; dup: boolean }>>();
    const clients: MqttClient[] = [];
    for (const d of DEVICES) {
      await h.devices.add(d, { password: 'pw' });
      const c = await mqtt.connectAsync(h.url(), {
        clientId: d,
        clean: false,
        username: d,
        password: 'pw',
        reconnectPeriod: 200,
      });
      onTestFinished(() => {
        c.end(true);
      });
      got.set(d, []);
      c.on('message', (_t, p, packet) => got.get(d)?.push({ payload: p.toString(), dup: packet.dup }));
      await c.subscribeAsync(`devices/${d}/commands/#`, { qos: 1 });
      clients.push(c);
    }
    const downlink = h.ingest.downlink();
    if (downlink === null) throw new Error('no downlink');
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const consumer = startCommands({
      config: h.config,
      log: h.log,
      downlink,
      logger: quietLogger,
      metrics: registry,
    });
    onTestFinished(() => consumer.stop({ timeoutMs: 5_000 }));

    const batch = (b: number) =>
      DEVICES.flatMap((d) =>
        Array.from({ length: PER_BATCH }, (_, i) => command(d, b * PER_BATCH + i, PARTITIONS)),
      );
    const distinct = () => new Set([...got.values()].flat().map((g) => g.payload)).size;
    await produce(cluster.bootstrap, topic, batch(0));
    await waitFor('some delivered', () => distinct() > 0, 60_000);
    await cluster.kill();
    await waitFor('the consumer notices', () => consumer.status().state !== 'consuming', 30_000);
    await cluster.start();
    await produce(cluster.bootstrap, topic, batch(1));
    await waitFor('every command delivered', () => distinct() === 2 * DEVICES.length * PER_BATCH, 90_000);
    expect(consumer.status()).toMatchObject({ state: 'consuming', cluster: 'dc-r' });
    expect(await metricValue(registry, 'outpost_commands_errors_total')).toBeGreaterThan(0); // it did fail
    expect(await metricValue(registry, 'outpost_commands_uncertain_total')).toBe(0);
    // A device can see its copy before the consumer records the final outcome (that is a second
    // fsync after the delivering transaction), so the count is awaited, not read once.
    const queued = () => metricValue(registry, 'outpost_commands_total', { outcome: 'queued' });
    await waitFor('every outcome recorded', async () => (await queued()) >= 2 * DEVICES.length * PER_BATCH);
    expect(await queued()).toBe(2 * DEVICES.length * PER_BATCH);

    for (const d of DEVICES) {
      const list = got.get(d) ?? [];
      const first = list.filter((g) => !g.dup).map((g) => g.payload);
      expect(new Set(first).size, `${d}: a command twice without DUP`).toBe(first.length);
      const order: string[] = [];
      for (const g of list) if (!order.includes(g.payload)) order.push(g.payload);
      expect(order, d).toEqual(Array.from({ length: 2 * PER_BATCH }, (_, s) => `${d}:${s}`));
    }
  }, 300_000);
});
