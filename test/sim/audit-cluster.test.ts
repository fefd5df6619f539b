import { randomUUID } from 'node:crypto';
import { Producer } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { Auditor, RangeSet, readCluster } from '../../src/sim/index.ts';
import { createTopic } from '../kafka/client.ts';
import { sharedClusters } from '../kafka/shared.ts';

function payload(deviceId: string, seq: number, run = 'r1'): Buffer {
  return Buffer.from(JSON.stringify({ deviceId, seq, run, ts: 0, type: 'heartbeat' }));
}

function msgs(topic: string, partition: number, deviceId: string, from: number, to: number) {
  return Array.from({ length: to - from + 1 }, (_, i) => ({
    topic,
    partition,
    value: payload(deviceId, from + i),
  }));
}

function ackedOf(devices: Record<string, string>) {
  return {
    run: 'r1',
    seed: 1,
    startedAt: '',
    finishedAt: '',
    devices: new Map(
      Object.entries(devices).map(([id, acked]) => [
        id,
        {
          sent: 0,
          acked: RangeSet.parse(acked),
          qos0: new RangeSet(),
          retried: new RangeSet(),
          unacked: new RangeSet(),
        },
      ]),
    ),
  };
}

describe('audit of a central cluster', () => {
  it('reads read_committed: records of an aborted transaction are not counted, committed ones pass', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const topic = `audit-${randomUUID().slice(0, 8)}.stb-events`;
    await createTopic(east.bootstrap, topic, { partitions: 2 });
    const producer = new Producer({
      clientId: 'audit-test',
      bootstrapBrokers: [east.bootstrap],
      idempotent: true,
      acks: -1,
      transactionalId: `audit-test-${randomUUID()}`,
    });
    try {
      const t1 = await producer.beginTransaction();
      await t1.send({ messages: [...msgs(topic, 0, 'dev-a', 1, 20), ...msgs(topic, 1, 'dev-b', 1, 20)] });
      await t1.commit();
      const t2 = await producer.beginTransaction();
      await t2.send({ messages: msgs(topic, 0, 'dev-a', 21, 25) });
      await t2.abort();
      const t3 = await producer.beginTransaction();
      await t3.send({ messages: msgs(topic, 0, 'dev-a', 21, 30) });
      await t3.commit();
    } finally {
      await producer.close();
    }
    const auditor = new Auditor({ acked: ackedOf({ 'dev-a': '1-30', 'dev-b': '1-20' }) });
    const stats = await readCluster(
      { bootstrap: [east.bootstrap], topics: [topic], idleMs: 20_000 },
      auditor,
    );
    const report = auditor.finish();
    expect(report.verdict).toBe('pass');
    expect(report.records).toBe(50);
    expect(report.duplicates).toEqual({ expected: 0, unexpected: 0 });
    expect(stats.partitions[`${topic}/0`]?.records).toBe(30);
  }, 300_000);

  it('finds a planted gap and a duplicate in a cluster topic, with their offsets', async () => {
    const { 'dc-west': west } = await sharedClusters();
    const topic = `audit-${randomUUID().slice(0, 8)}.vehicle-telemetry`;
    await createTopic(west.bootstrap, topic, { partitions: 1 });
    const producer = new Producer({
      clientId: 'audit-test',
      bootstrapBrokers: [west.bootstrap],
      idempotent: true,
      acks: -1,
    });
    try {
      const m = [
        ...msgs(topic, 0, 'veh-1', 1, 4),
        ...msgs(topic, 0, 'veh-1', 6, 10),
        ...msgs(topic, 0, 'veh-1', 8, 8),
      ];
      await producer.send({ messages: m });
    } finally {
      await producer.close();
    }
    const auditor = new Auditor();
    await readCluster({ bootstrap: [west.bootstrap], topics: [topic], idleMs: 20_000 }, auditor);
    const report = auditor.finish();
    expect(report.verdict).toBe('fail');
    expect(report.examples.gaps).toEqual([{ deviceId: 'veh-1', seqs: '5' }]);
    expect(report.examples.unexpectedDuplicates[0]).toMatchObject({
      deviceId: 'veh-1',
      seq: 8,
      topic,
      partition: 0,
      offset: 9,
    });
  }, 300_000);
});
