/**
 * The command consumer through Kafka outages: a private cluster (dc-a) that is stopped and
 * restarted, beside the shared dc-west. The Downlink is an in-process recording sink: this covers
 * the Kafka side; the MQTT side is covered by the ingest tests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce } from '../kafka/client.ts';
import { type KafkaCluster, startCluster } from '../kafka/harness.ts';
import { sharedClusters } from '../kafka/shared.ts';
import {
  byDevice,
  command,
  commandsConfig,
  metricValue,
  RecordingDownlink,
  startTestCommands,
  waitFor,
} from './commands-helpers.ts';
import { openTestLog } from './helpers.ts';

const PARTITIONS = 2;
const DEVICES = ['v0', 'v1', 'v2', 'v3'];
const batch = (from: number, n: number) =>
  DEVICES.flatMap((d) => Array.from({ length: n }, (_, i) => command(d, from + i, PARTITIONS)));
const upTo = (n: number) => Array.from({ length: n }, (_, i) => i);

let a: KafkaCluster;

beforeAll(async () => {
  a = await startCluster({ name: `cmd-a-${process.pid}-${Date.now() % 100_000}`, heap: '384m' });
});
afterAll(async () => {
  await a?.destroy();
});

describe('commands through outages (Kafka side; MQTT side covered by ingest tests)', () => {
  it('fails over to the second cluster when the first is stopped, without loss or duplicate', async () => {
    const { 'dc-west': west } = await sharedClusters();
    const config = commandsConfig({
      clusters: { 'dc-a': a.bootstrap, 'dc-west': west.bootstrap },
      commands: { failoverAfterMs: 1_000 },
    });
    const topic = `commands.${config.edgeId}`;
    await createTopic(a.bootstrap, topic, { partitions: PARTITIONS });
    // dc-west holds 3 foreign records per partition first, so its offsets differ from dc-a's.
    await createTopic(west.bootstrap, topic, { partitions: PARTITIONS });
    const foreign = [0, 1].flatMap((partition) =>
      Array.from({ length: 3 }, (_, i) => ({
        partition,
        value: `f${i}`,
        headers: { 'outpost-gateway': 'other' },
      })),
    );
    await produce(west.bootstrap, topic, foreign);
    // The central producer writes every command to both clusters, with one id.
    const first = batch(0, 10);
    await produce(a.bootstrap, topic, first);
    await produce(west.bootstrap, topic, first);

    const log = await openTestLog(config);
    const downlink = new RecordingDownlink();
    const { consumer, registry } = startTestCommands(config, log, downlink);
    await waitFor('first batch from dc-a', () => downlink.deliveries.length === first.length);
    expect(consumer.status().cluster).toBe('dc-a');

    await a.stop();
    const second = batch(10, 10);
    await produce(west.bootstrap, topic, second); // dc-a is down: only dc-west gets these
    await waitFor(
      'second batch from dc-west',
      () => downlink.deliveries.length >= first.length + second.length,
    );
    expect(consumer.status().cluster).toBe('dc-west');
    expect(
      await metricValue(registry, 'outpost_commands_failovers_total', { from: 'dc-a', to: 'dc-west' }),
    ).toBe(1);
    // dc-west was never read before: it was read from its earliest offset, and every command that
    // dc-a had delivered was skipped by id (the foreign records, without key, are rejected as
    // no-device, never delivered).
    expect(await metricValue(registry, 'outpost_commands_duplicates_total', { cluster: 'dc-west' })).toBe(
      first.length,
    );
    const third = batch(20, 5);
    await produce(west.bootstrap, topic, third);
    await waitFor(
      'third batch',
      () => downlink.deliveries.length >= first.length + second.length + third.length,
    );
    await consumer.stop({ timeoutMs: 5_000 });
    expect(downlink.deliveries).toHaveLength(first.length + second.length + third.length);
    for (const d of DEVICES) expect(byDevice(downlink.deliveries).get(d), d).toEqual(upTo(25));
    await a.start();
  });

  it('waits while every cluster is down and resumes where it stopped', async () => {
    if (!a.running()) await a.start();
    // dc-dead never answers (nothing listens on port 1): with dc-a stopped, both are down.
    const config = commandsConfig({
      clusters: { 'dc-a': a.bootstrap, 'dc-dead': '127.0.0.1:1' },
      commands: { failoverAfterMs: 500 },
    });
    const topic = `commands.${config.edgeId}`;
    await createTopic(a.bootstrap, topic, { partitions: PARTITIONS });
    const first = batch(0, 5);
    await produce(a.bootstrap, topic, first);
    const log = await openTestLog(config);
    const downlink = new RecordingDownlink();
    const { consumer, registry } = startTestCommands(config, log, downlink);
    await waitFor('first batch', () => downlink.deliveries.length === first.length);

    await a.stop();
    await waitFor('both clusters tried and failed', async () => {
      const dead = await metricValue(registry, 'outpost_commands_errors_total', { cluster: 'dc-dead' });
      const down = await metricValue(registry, 'outpost_commands_errors_total', { cluster: 'dc-a' });
      return dead > 0 && down > 0;
    });
    expect(consumer.status().cluster).toBeNull();
    await a.start();
    const second = batch(5, 5);
    await produce(a.bootstrap, topic, second);
    await waitFor(
      'second batch after the outage',
      () => downlink.deliveries.length >= first.length + second.length,
    );
    await consumer.stop({ timeoutMs: 5_000 });
    expect(downlink.deliveries).toHaveLength(first.length + second.length);
    for (const d of DEVICES) expect(byDevice(downlink.deliveries).get(d), d).toEqual(upTo(10));
  });
});
