/**
 * The command consumer against real Kafka (shared dc-east). The Downlink is an in-process recording
 * sink: this covers the Kafka side; the MQTT side (sessions, subscriptions, PUBACK) is covered by
 * the ingest tests.
 */
import { randomUUID } from 'node:crypto';
import { Producer } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { openLog } from '../../src/log/index.ts';
import { logOptionsFromConfig } from '../../src/service/index.ts';
import { consumePartition, createTopic, endOffset, produce } from '../kafka/client.ts';
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

const PARTITIONS = 3;
const DEVICES = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5'];

describe('commands (Kafka side; MQTT side covered by ingest tests)', () => {
  it('delivers in per-device order, counts TTL expiry, rejects bad commands and publishes outcome records', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const config = commandsConfig({
      clusters: { 'dc-east': east.bootstrap },
      commands: {
        outcomesTopic: 'commands.outcomes.{edgeId}',
        mqttTopic: 'dev/{deviceId}/cmd/{header.name}',
      },
    });
    const topic = `commands.${config.edgeId}`;
    const outcomes = `commands.outcomes.${config.edgeId}`;
    await createTopic(east.bootstrap, topic, { partitions: PARTITIONS });
    await createTopic(east.bootstrap, outcomes, { partitions: 2 });
    const records = [];
    for (let seq = 0; seq < 10; seq++)
      for (const d of DEVICES) records.push(command(d, seq, PARTITIONS, { name: 'reboot' }));
    const old = BigInt(Date.now() - 60_000);
    records.push(
      command('d0', 100, PARTITIONS, { name: 'late', 'outpost-ttl-ms': '1000' }, { timestamp: old }),
    );
    records.push(command('d1', 100, PARTITIONS, { name: 'bad', 'outpost-qos': '7' }));
    records.push(
      command('d2', 100, PARTITIONS, { name: 'fresh', 'outpost-ttl-ms': '3600000', 'outpost-qos': '2' }),
    );
    await produce(east.bootstrap, topic, records);

    const log = await openTestLog(config);
    const downlink = new RecordingDownlink();
    // d5 has no subscriber: matched 0 → rejected (no-subscriber); d4 is offline with a session: queued.
    downlink.answer = (m) =>
      m.topic.startsWith('dev/d5/')
        ? { matched: 0, delivered: 0, queued: 0 }
        : m.topic.startsWith('dev/d4/')
          ? { matched: 1, delivered: 0, queued: 1 }
          : { matched: 1, delivered: 1, queued: 0 };
    const { consumer, registry } = startTestCommands(config, log, downlink);
    await waitFor(
      'every command handled',
      async () => (await metricValue(registry, 'outpost_commands_total')) === records.length,
    );

    const seqs = byDevice(downlink.deliveries);
    for (const d of DEVICES) {
      const want = Array.from({ length: 10 }, (_, i) => i);
      if (d === 'd2') want.push(100);
      expect(seqs.get(d), d).toEqual(want);
    }
    expect(downlink.deliveries.find((x) => x.payload === 'd2:100')).toEqual({
      topic: 'dev/d2/cmd/fresh',
      payload: 'd2:100',
      qos: 2,
    });
    expect(downlink.deliveries.some((x) => x.payload === 'd0:100' || x.payload === 'd1:100')).toBe(false);
    expect(await metricValue(registry, 'outpost_commands_total', { outcome: 'expired' })).toBe(1);
    expect(
      await metricValue(registry, 'outpost_commands_total', { outcome: 'rejected', reason: 'bad-qos' }),
    ).toBe(1);
    expect(
      await metricValue(registry, 'outpost_commands_total', { outcome: 'rejected', reason: 'no-subscriber' }),
    ).toBe(10);
    expect(await metricValue(registry, 'outpost_commands_total', { outcome: 'queued' })).toBe(10);
    expect(await metricValue(registry, 'outpost_commands_total', { outcome: 'delivered' })).toBe(41);

    await waitFor(
      'outcome records produced',
      async () => (await metricValue(registry, 'outpost_commands_outcome_records_total')) === records.length,
    );
    const got = [
      ...(await consumePartition(east.bootstrap, outcomes, 0)),
      ...(await consumePartition(east.bootstrap, outcomes, 1)),
    ];
    expect(got).toHaveLength(records.length);
    const byId = new Map(got.map((r) => [r.key?.toString(), r]));
    const expired = byId.get('d0-100');
    expect(expired && Object.fromEntries(expired.headers.map(([k, v]) => [k, v.toString()]))).toEqual({
      'outpost-command-id': 'd0-100',
      'outpost-edge-id': config.edgeId,
      'outpost-outcome': 'expired',
      'outpost-device': 'd0',
    });
    const rejected = JSON.parse(byId.get('d5-3')?.value?.toString() ?? '{}');
    expect(rejected).toMatchObject({
      id: 'd5-3',
      outcome: 'rejected',
      reason: 'no-subscriber',
      deviceId: 'd5',
      mqttTopic: 'dev/d5/cmd/reboot',
      cluster: 'dc-east',
    });
    const queued = JSON.parse(byId.get('d4-0')?.value?.toString() ?? '{}');
    expect(queued).toMatchObject({ outcome: 'queued', matched: 1, queued: 1 });
    expect(consumer.status()).toMatchObject({ cluster: 'dc-east', state: 'consuming', outboxPending: 0 });
  });

  it('resumes after a restart of the consumer without loss or duplicate, and commits the position to its group', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const config = commandsConfig({
      clusters: { 'dc-east': east.bootstrap },
      commands: { groupCommitIntervalMs: 100 },
    });
    const topic = `commands.${config.edgeId}`;
    await createTopic(east.bootstrap, topic, { partitions: PARTITIONS });
    const first = DEVICES.flatMap((d) => Array.from({ length: 20 }, (_, i) => command(d, i, PARTITIONS)));
    await produce(east.bootstrap, topic, first);

    const downlink = new RecordingDownlink();
    // Hold device d3 after its 5th command: the stop comes while d3's partition is mid-way.
    let hold = true;
    downlink.refuse = (m) => hold && m.payload === 'd3:5';
    let log = await openLog(logOptionsFromConfig(config));
    let run = startTestCommands(config, log, downlink);
    await waitFor(
      'd3 held at 5',
      async () =>
        (await metricValue(run.registry, 'outpost_commands_errors_total', {
          code: 'COMMANDS_DELIVER_FAILED',
        })) > 0,
    );
    await run.consumer.stop({ timeoutMs: 5_000 });
    await log.close();
    hold = false;
    const before = downlink.deliveries.length;
    expect(before).toBeLessThan(first.length);

    const second = DEVICES.flatMap((d) =>
      Array.from({ length: 10 }, (_, i) => command(d, 20 + i, PARTITIONS)),
    );
    await produce(east.bootstrap, topic, second);
    log = await openLog(logOptionsFromConfig(config));
    run = startTestCommands(config, log, downlink);
    await waitFor('all delivered', () => downlink.deliveries.length >= first.length + second.length);
    await waitFor('group committed', async () => {
      const { Admin } = await import('@platformatic/kafka');
      const admin = new Admin({ clientId: 't', bootstrapBrokers: [east.bootstrap] });
      try {
        const g = await admin.listConsumerGroupOffsets({ groups: [`outpost-commands.${config.edgeId}`] });
        const total = (g[0]?.topics ?? [])
          .flatMap((t) => t.partitions)
          .reduce((a, p) => a + Number(p.committedOffset), 0);
        return total === first.length + second.length;
      } finally {
        await admin.close();
      }
    });
    await run.consumer.stop({ timeoutMs: 5_000 });
    await log.close();
    for (const d of DEVICES)
      expect(byDevice(downlink.deliveries).get(d), d).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(downlink.deliveries).toHaveLength(first.length + second.length);
  });

  it('never delivers a record of an aborted transaction; committed transactions are delivered in order', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const config = commandsConfig({ clusters: { 'dc-east': east.bootstrap } });
    const topic = `commands.${config.edgeId}`;
    await createTopic(east.bootstrap, topic, { partitions: 1 });
    const producer = new Producer({
      clientId: 'outpost-test-tx',
      bootstrapBrokers: [east.bootstrap],
      idempotent: true,
      acks: -1,
      transactionalId: `tx-${randomUUID()}`,
    });
    const send = async (seqs: number[], end: 'commit' | 'abort') => {
      const tx = await producer.beginTransaction();
      for (const seq of seqs) {
        const c = command('t0', seq, 1);
        await tx.send({
          messages: [
            {
              topic,
              partition: 0,
              key: Buffer.from('t0'),
              value: Buffer.from(String(c.value)),
              headers: new Map([[Buffer.from('outpost-command-id'), Buffer.from(`t0-${seq}`)]]),
            },
          ],
        });
      }
      await (end === 'commit' ? tx.commit() : tx.abort());
    };
    try {
      await send([0, 1], 'commit');
      await send([90, 91, 92], 'abort');
      await send([2, 3], 'commit');
      await send([93], 'abort');
      await send([4], 'commit');
    } finally {
      await producer.close();
    }
    const log = await openTestLog(config);
    const downlink = new RecordingDownlink();
    const end = Number(await endOffset(east.bootstrap, topic, 0));
    const { consumer, registry } = startTestCommands(config, log, downlink);
    // Past the last commit marker: the consumer has read everything there is.
    await waitFor('position at the end', () => (consumer.status().positions[0] ?? 0) >= end);
    expect(await metricValue(registry, 'outpost_commands_total')).toBe(5);
    expect(byDevice(downlink.deliveries).get('t0')).toEqual([0, 1, 2, 3, 4]);
  }, 120_000);
});
