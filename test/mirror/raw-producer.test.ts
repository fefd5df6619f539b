/**
 * The raw produce path against a real Kafka broker (the suite's shared dc-east): stored record-v2
 * batches (src/log's encodeBatch, uncompressed and zstd, coalesced) sent as bytes by RawProducer and
 * read back with @platformatic/kafka's Consumer and a plain Fetch; then what the broker really
 * answers for a resend (lost ack), a sequence gap, a producer id it never issued, an old epoch and a
 * batch above max.message.bytes. Sends that RawProducer would never make go straight through
 * produce-request.ts's sendBatch on their own Connection.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Admin, Connection, FetchIsolationLevels, fetchV12 } from '@platformatic/kafka';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ClusterConfig } from '../../src/config/index.ts';
import { isOutpostError } from '../../src/errors.ts';
import { type Compression, encodeBatch } from '../../src/log/index.ts';
import { kafkaErrorText } from '../../src/mirror/session/remote.ts';
import { coalesce, forProducer } from '../../src/mirror/wire/batch-rewrite.ts';
import { sendBatch } from '../../src/mirror/wire/produce-request.ts';
import { nextSequence, RawProducer } from '../../src/mirror/wire/raw-producer.ts';
import { consumePartition, createTopic, endOffset } from '../kafka/client.ts';
import { sharedClusters } from '../kafka/shared.ts';
import { mirrorConfig } from './helpers.ts';

type Rec = Parameters<typeof encodeBatch>[1][number];

async function cluster(): Promise<{ bootstrap: string; cfg: ClusterConfig }> {
  const { 'dc-east': east } = await sharedClusters();
  const config = mirrorConfig({
    topics: { t: { partitions: 1 } },
    clusters: { 'dc-east': { bootstrap: east.bootstrap } },
  });
  return { bootstrap: east.bootstrap, cfg: config.mirror.clusters['dc-east'] as ClusterConfig };
}

async function topicOf(
  bootstrap: string,
  partitions = 1,
  configs: Record<string, string> = {},
): Promise<string> {
  const topic = `raw-${randomUUID().slice(0, 8)}`;
  await createTopic(bootstrap, topic, { partitions, configs });
  return topic;
}

async function producer(cfg: ClusterConfig): Promise<RawProducer> {
  const p = new RawProducer({ alias: 'dc-east', cfg, timeoutMs: 10_000 });
  onTestFinished(() => p.close());
  await p.init();
  return p;
}

/** A connection of our own to the partition's leader, for sends RawProducer would never make. */
async function leaderConnection(bootstrap: string, topic: string, partition = 0): Promise<Connection> {
  const admin = new Admin({ clientId: 'outpost-test', bootstrapBrokers: [bootstrap] });
  try {
    const md = await admin.metadata({ topics: [topic], forceUpdate: true });
    const broker = md.brokers.get(md.topics.get(topic)?.partitions[partition]?.leader ?? -1);
    if (!broker) throw new Error(`no leader for ${topic}/${partition}`);
    const conn = new Connection('outpost-test', { requestTimeout: 10_000 });
    onTestFinished(() => conn.close());
    await conn.connect(broker.host, broker.port);
    return conn;
  } finally {
    await admin.close();
  }
}

/** The record batches the broker holds in a partition (Fetch v12), with what it stamped in them. */
async function remoteBatches(bootstrap: string, topic: string, partition = 0) {
  const conn = await leaderConnection(bootstrap, topic, partition);
  const res = await fetchV12.api.async(
    conn,
    0,
    0,
    16 * 1024 ** 2,
    FetchIsolationLevels.READ_UNCOMMITTED,
    0,
    -1,
    [
      {
        topicId: topic,
        partitions: [
          {
            partition,
            currentLeaderEpoch: -1,
            fetchOffset: 0n,
            lastFetchedEpoch: -1,
            partitionMaxBytes: 16 * 1024 ** 2,
          },
        ],
      },
    ],
    [],
    '',
  );
  return (res.responses[0]?.partitions[0]?.records ?? []).map((b) => ({
    baseOffset: Number(b.firstOffset),
    records: b.lastOffsetDelta + 1,
    codec: b.attributes & 7,
    producerId: b.producerId,
    producerEpoch: b.producerEpoch,
    baseSequence: b.firstSequence,
  }));
}

function records(n: number, tag: string, t0 = Date.now()): Rec[] {
  return Array.from({ length: n }, (_, i) => ({
    timestamp: t0 + ((i * 7) % 5) * 10 - 20,
    key: i % 3 === 0 ? null : Buffer.from(`dev-${tag}-${i}`),
    headers: {
      'outpost.edge.id': Buffer.from('edge-raw'),
      'outpost.edge.offset': Buffer.from(`${tag}-${i}`),
      ...(i % 2 === 0 ? { 'mqtt.qos': Buffer.from('1') } : {}),
    },
    value: Buffer.from(JSON.stringify({ tag, i, temp: 20 + i / 10 })),
  }));
}

const plain = (r: Rec) => ({
  key: r.key === null ? null : r.key.toString('hex'),
  value: r.value.toString('hex'),
  timestamp: BigInt(r.timestamp),
  headers: Object.entries(r.headers).map(([k, v]) => [k, v.toString('hex')]),
});

const batchOf = (n: number, tag: string, codec: Compression = 'none') =>
  encodeBatch(5_000, records(n, tag), codec);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('raw producer', () => {
  it('sends stored batches (none, zstd, three coalesced) as they are: records, offsets and batches read back as the broker assigned them', async () => {
    const { bootstrap, cfg } = await cluster();
    const topic = await topicOf(bootstrap);
    const p = await producer(cfg);
    const a = records(5, 'a');
    const b = records(40, 'b');
    const c = [records(1, 'c0'), records(6, 'c1'), records(9, 'c2')];
    const merged = coalesce([
      encodeBatch(200, c[0] as Rec[], 'zstd'),
      encodeBatch(201, c[1] as Rec[], 'zstd'),
      encodeBatch(207, c[2] as Rec[], 'zstd'),
    ]);
    const stored = encodeBatch(17, a, 'none');
    const before = Buffer.from(stored);
    expect(await p.produce(topic, 0, stored, 5)).toBe(0);
    expect(await p.produce(topic, 0, encodeBatch(22, b, 'zstd'), 40)).toBe(5);
    expect(await p.produce(topic, 0, merged, 16)).toBe(45);
    expect(stored.equals(before)).toBe(true);

    const all = [...a, ...b, ...c.flat()];
    const got = await consumePartition(bootstrap, topic, 0);
    expect(got.map((r) => Number(r.offset))).toEqual(all.map((_, i) => i));
    expect(
      got.map((r) => ({
        key: r.key === null || r.key.length === 0 ? null : r.key.toString('hex'),
        value: r.value?.toString('hex'),
        timestamp: r.timestamp,
        headers: r.headers.map(([k, v]) => [k, v.toString('hex')]),
      })),
    ).toEqual(all.map(plain));
    const id = p.producer;
    expect(await remoteBatches(bootstrap, topic)).toEqual([
      {
        baseOffset: 0,
        records: 5,
        codec: 0,
        producerId: id?.producerId,
        producerEpoch: id?.producerEpoch,
        baseSequence: 0,
      },
      {
        baseOffset: 5,
        records: 40,
        codec: 4,
        producerId: id?.producerId,
        producerEpoch: id?.producerEpoch,
        baseSequence: 5,
      },
      {
        baseOffset: 45,
        records: 16,
        codec: 4,
        producerId: id?.producerId,
        producerEpoch: id?.producerEpoch,
        baseSequence: 45,
      },
    ]);
  });

  it('a resend of one of the last 5 batches with its sequence (a lost ack) is answered with its original offset and not stored again; an older one is OUT_OF_ORDER_SEQUENCE_NUMBER', async () => {
    const { bootstrap, cfg } = await cluster();
    const topic = await topicOf(bootstrap);
    const p = await producer(cfg);
    const id = p.producer as { producerId: bigint; producerEpoch: number };
    const batches = Array.from({ length: 7 }, (_, i) => batchOf(3, `r${i}`));
    const offsets: number[] = [];
    for (const b of batches.slice(0, 2)) offsets.push(await p.produce(topic, 0, b, 3));
    const conn = await leaderConnection(bootstrap, topic);
    const resend = (i: number) =>
      sendBatch(
        conn,
        p.produceVersion,
        topic,
        0,
        forProducer(batches[i] as Buffer, { ...id, baseSequence: i * 3 }),
        10_000,
      );
    expect(Number((await resend(1)).baseOffset)).toBe(offsets[1]);
    expect(Number((await resend(0)).baseOffset)).toBe(offsets[0]);
    expect(await endOffset(bootstrap, topic, 0)).toBe(6n);
    // The producer's own sequence is untouched by those resends: it goes on.
    for (const b of batches.slice(2)) offsets.push(await p.produce(topic, 0, b, 3));
    expect(offsets).toEqual([0, 3, 6, 9, 12, 15, 18]);
    expect(Number((await resend(2)).baseOffset)).toBe(6);
    const old = await rejection(resend(1));
    expect(kafkaErrorText(old)).toMatch(/OUT_OF_ORDER_SEQUENCE_NUMBER/);
    expect(await endOffset(bootstrap, topic, 0)).toBe(21n);
    expect((await remoteBatches(bootstrap, topic)).map((b) => b.baseOffset)).toEqual([
      0, 3, 6, 9, 12, 15, 18,
    ]);
  });

  it('refuses a sequence gap with OUT_OF_ORDER_SEQUENCE_NUMBER and stores nothing', async () => {
    const { bootstrap, cfg } = await cluster();
    const topic = await topicOf(bootstrap);
    const p = await producer(cfg);
    const id = p.producer as { producerId: bigint; producerEpoch: number };
    expect(await p.produce(topic, 0, batchOf(4, 'g'), 4)).toBe(0);
    const conn = await leaderConnection(bootstrap, topic);
    const gap = forProducer(batchOf(2, 'h'), { ...id, baseSequence: 4 + 3 });
    const err = await rejection(sendBatch(conn, p.produceVersion, topic, 0, gap, 10_000));
    expect(kafkaErrorText(err)).toMatch(/OUT_OF_ORDER_SEQUENCE_NUMBER/);
    expect(await endOffset(bootstrap, topic, 0)).toBe(4n);
    // The right sequence still lands.
    expect(await p.produce(topic, 0, batchOf(2, 'h'), 2)).toBe(4);
  });

  it('a producer id the broker never issued is accepted at any first sequence (no UNKNOWN_PRODUCER_ID since KIP-360), then held to its sequence', async () => {
    const { bootstrap, cfg } = await cluster();
    const topic = await topicOf(bootstrap);
    const p = await producer(cfg);
    const stranger = { producerId: (p.producer?.producerId ?? 0n) + 1_000_000n, producerEpoch: 0 };
    const conn = await leaderConnection(bootstrap, topic);
    const send = (seq: number, tag: string) =>
      sendBatch(
        conn,
        p.produceVersion,
        topic,
        0,
        forProducer(batchOf(3, tag), { ...stranger, baseSequence: seq }),
        10_000,
      );
    expect(Number((await send(17, 'x')).baseOffset)).toBe(0);
    expect(await endOffset(bootstrap, topic, 0)).toBe(3n);
    expect(kafkaErrorText(await rejection(send(30, 'y')))).toMatch(/OUT_OF_ORDER_SEQUENCE_NUMBER/);
    expect(Number((await send(20, 'z')).baseOffset)).toBe(3);
    expect(await endOffset(bootstrap, topic, 0)).toBe(6n);
  });

  it("an epoch below the partition's last one is INVALID_PRODUCER_EPOCH, stores nothing and fails the whole producer", async () => {
    const { bootstrap, cfg } = await cluster();
    const topic = await topicOf(bootstrap, 2);
    const p = await producer(cfg);
    const id = p.producer as { producerId: bigint; producerEpoch: number };
    expect(await p.produce(topic, 0, batchOf(2, 'e0'), 2)).toBe(0);
    // Another writer with the same producer id and the next epoch (what a fencing InitProducerId
    // gives): a new epoch starts at sequence 0.
    const conn = await leaderConnection(bootstrap, topic);
    const newer = forProducer(batchOf(1, 'e1'), {
      producerId: id.producerId,
      producerEpoch: id.producerEpoch + 1,
      baseSequence: 0,
    });
    expect(Number((await sendBatch(conn, p.produceVersion, topic, 0, newer, 10_000)).baseOffset)).toBe(2);
    const err = await rejection(p.produce(topic, 0, batchOf(2, 'e2'), 2));
    expect(kafkaErrorText(err)).toMatch(/INVALID_PRODUCER_EPOCH/);
    expect(await endOffset(bootstrap, topic, 0)).toBe(3n);
    const next = await rejection(p.produce(topic, 1, batchOf(2, 'e3'), 2));
    expect(isOutpostError(next, 'MIRROR_PRODUCE_FAILED')).toBe(true);
    expect(await endOffset(bootstrap, topic, 1)).toBe(0n);
  });

  it("a batch above the topic's max.message.bytes is MESSAGE_TOO_LARGE, stores nothing, and only that partition refuses further sends", async () => {
    const { bootstrap, cfg } = await cluster();
    const topic = await topicOf(bootstrap, 2, { 'max.message.bytes': '4096' });
    const p = await producer(cfg);
    const big = encodeBatch(
      0,
      [{ timestamp: Date.now(), key: null, headers: {}, value: randomBytes(8_000) }],
      'zstd',
    );
    const err = await rejection(p.produce(topic, 0, big, 1));
    expect(kafkaErrorText(err)).toMatch(/MESSAGE_TOO_LARGE/);
    expect(await endOffset(bootstrap, topic, 0)).toBe(0n);
    const again = await rejection(p.produce(topic, 0, batchOf(1, 's'), 1));
    expect(isOutpostError(again, 'MIRROR_PRODUCE_FAILED')).toBe(true);
    expect(await p.produce(topic, 1, batchOf(2, 's'), 2)).toBe(0);
    expect(await endOffset(bootstrap, topic, 0)).toBe(0n);
    expect(p.holds()).toEqual([
      expect.stringMatching(
        /^raw producer with dc-east: admin client, 1 broker connection\(s\), producer id \d+ epoch 0$/,
      ),
    ]);
  });

  it("refuses a record count that is not the batch's, and a second produce in flight to one partition, without sending", async () => {
    const { bootstrap, cfg } = await cluster();
    const topic = await topicOf(bootstrap);
    const p = await producer(cfg);
    expect(isOutpostError(await rejection(p.produce(topic, 0, batchOf(3, 'c'), 2)), 'RECORD_INVALID')).toBe(
      true,
    );
    const first = p.produce(topic, 0, batchOf(3, 'c'), 3);
    const second = await rejection(p.produce(topic, 0, batchOf(3, 'd'), 3));
    expect(isOutpostError(second, 'MIRROR_STATE')).toBe(true);
    expect(await first).toBe(0);
    expect(await p.produce(topic, 0, batchOf(3, 'd'), 3)).toBe(3);
  });

  it("sequences wrap from 2^31-1 to 0 as Kafka's incrementSequence does, and the broker takes 0 after a batch ending at 2^31-1", async () => {
    expect(nextSequence(0, 5)).toBe(5);
    expect(nextSequence(0x7fffffff - 5, 5)).toBe(0x7fffffff);
    expect(nextSequence(0x7fffffff - 2, 3)).toBe(0);
    expect(nextSequence(0x7fffffff, 1)).toBe(0);
    expect(nextSequence(0x7fffffff - 1, 10)).toBe(8);
    const { bootstrap, cfg } = await cluster();
    const topic = await topicOf(bootstrap);
    const p = await producer(cfg);
    // A producer id of our own choosing: its first batch may start at any sequence (see above).
    const pid = { producerId: (p.producer?.producerId ?? 0n) + 2_000_000n, producerEpoch: 0 };
    const conn = await leaderConnection(bootstrap, topic);
    const send = (seq: number, n: number, tag: string) =>
      sendBatch(
        conn,
        p.produceVersion,
        topic,
        0,
        forProducer(batchOf(n, tag), { ...pid, baseSequence: seq }),
        10_000,
      );
    const start = 0x7fffffff - 6;
    expect(Number((await send(start, 4, 'w0')).baseOffset)).toBe(0);
    // 3 records from 2^31-3: the batch's lastSequence is 2^31-1, so the next batch starts at 0.
    expect(Number((await send(nextSequence(start, 4), 3, 'w1')).baseOffset)).toBe(4);
    expect(nextSequence(nextSequence(start, 4), 3)).toBe(0);
    expect(Number((await send(0, 2, 'w2')).baseOffset)).toBe(7);
    expect(await endOffset(bootstrap, topic, 0)).toBe(9n);
  });

  it('damaged bytes come back by their Kafka names: CORRUPT_MESSAGE for a bad CRC, INVALID_RECORD for two batches in one partition', async () => {
    const { bootstrap, cfg } = await cluster();
    const topic = await topicOf(bootstrap);
    const p = await producer(cfg);
    const id = p.producer as { producerId: bigint; producerEpoch: number };
    const conn = await leaderConnection(bootstrap, topic);
    const bad = forProducer(batchOf(2, 'x'), { ...id, baseSequence: 0 });
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff;
    const corrupt = await rejection(sendBatch(conn, p.produceVersion, topic, 0, bad, 10_000));
    expect(kafkaErrorText(corrupt)).toMatch(/CORRUPT_MESSAGE/);
    const two = Buffer.concat([
      forProducer(batchOf(2, 'y'), { ...id, baseSequence: 0 }),
      forProducer(batchOf(2, 'z'), { ...id, baseSequence: 2 }),
    ]);
    const invalid = await rejection(sendBatch(conn, p.produceVersion, topic, 0, two, 10_000));
    expect(kafkaErrorText(invalid)).toMatch(/INVALID_RECORD/);
    expect(await endOffset(bootstrap, topic, 0)).toBe(0n);
    // Neither went through RawProducer: its sequence 0 is still the partition's next.
    expect(await p.produce(topic, 0, batchOf(2, 'ok'), 2)).toBe(0);
  });
});
