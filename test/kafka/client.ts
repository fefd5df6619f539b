/**
 * Small Kafka helpers for tests, on @platformatic/kafka: create/list topics, produce with an idempotent
 * acks=all producer, read the end offset of a partition, and consume one partition to its end.
 */
import { randomUUID } from 'node:crypto';
import { Admin, Consumer, FetchIsolationLevels, ListOffsetTimestamps, Producer } from '@platformatic/kafka';

export type Isolation = 'read_committed' | 'read_uncommitted';

export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  /** In record order; keys decoded as UTF-8 (Kafka header keys are strings). */
  headers: Array<[string, Buffer]>;
  timestamp: bigint;
}

export interface ProduceRecord {
  partition?: number;
  key?: Buffer | string;
  value: Buffer | string;
  headers?: Record<string, Buffer | string>;
  timestamp?: bigint;
}

const clientId = 'outpost-test';

function isolationLevel(isolation: Isolation): number {
  return isolation === 'read_committed'
    ? FetchIsolationLevels.READ_COMMITTED
    : FetchIsolationLevels.READ_UNCOMMITTED;
}

const toBuffer = (v: Buffer | string): Buffer => (typeof v === 'string' ? Buffer.from(v) : v);

async function withAdmin<T>(bootstrap: string, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId, bootstrapBrokers: [bootstrap] });
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}

/** Creates a topic (replication factor 1) and waits until its metadata lists every partition with a leader. */
export async function createTopic(
  bootstrap: string,
  topic: string,
  options: { partitions?: number; configs?: Record<string, string> } = {},
): Promise<void> {
  const partitions = options.partitions ?? 1;
  await withAdmin(bootstrap, async (admin) => {
    await admin.createTopics({
      topics: [topic],
      partitions,
      replicas: 1,
      configs: Object.entries(options.configs ?? {}).map(([name, value]) => ({ name, value })),
    });
    for (let i = 0; i < 100; i++) {
      const metadata = await admin.metadata({ topics: [topic], forceUpdate: true });
      const t = metadata.topics.get(topic);
      if (t !== undefined && t.partitionsCount === partitions && t.partitions.every((p) => p.leader >= 0))
        return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`topic ${topic} on ${bootstrap}: partitions have no leader after creation`);
  });
}

/** Topic names, sorted; internal topics (__consumer_offsets, …) only when asked. */
export async function listTopics(
  bootstrap: string,
  options: { includeInternals?: boolean } = {},
): Promise<string[]> {
  const topics = await withAdmin(bootstrap, (admin) =>
    admin.listTopics({ includeInternals: options.includeInternals ?? false }),
  );
  return [...topics].sort();
}

/** Partition count of a topic (throws when the topic does not exist). */
export async function topicPartitions(bootstrap: string, topic: string): Promise<number> {
  return withAdmin(bootstrap, async (admin) => {
    const metadata = await admin.metadata({ topics: [topic], forceUpdate: true });
    const t = metadata.topics.get(topic);
    if (t === undefined) throw new Error(`topic ${topic} not found on ${bootstrap}`);
    return t.partitionsCount;
  });
}

/** Produces with an idempotent producer, acks=all (-1). Returns the offset of each record, in order. */
export async function produce(bootstrap: string, topic: string, records: ProduceRecord[]): Promise<bigint[]> {
  const producer = new Producer({ clientId, bootstrapBrokers: [bootstrap], idempotent: true, acks: -1 });
  try {
    const offsets: bigint[] = [];
    // One send per record keeps the returned offsets unambiguous per partition.
    for (const r of records) {
      const result = await producer.send({
        messages: [
          {
            topic,
            value: toBuffer(r.value),
            ...(r.partition !== undefined ? { partition: r.partition } : {}),
            ...(r.key !== undefined ? { key: toBuffer(r.key) } : {}),
            ...(r.timestamp !== undefined ? { timestamp: r.timestamp } : {}),
            ...(r.headers !== undefined
              ? { headers: new Map(Object.entries(r.headers).map(([k, v]) => [Buffer.from(k), toBuffer(v)])) }
              : {}),
          },
        ],
      });
      const offset = result.offsets?.[0]?.offset;
      if (offset === undefined)
        throw new Error(`produce to ${topic} on ${bootstrap}: no offset in the response`);
      offsets.push(offset);
    }
    return offsets;
  } finally {
    await producer.close();
  }
}

/**
 * The partition's end: the last stable offset for read_committed (no record at or after it is visible
 * yet), the high watermark for read_uncommitted.
 */
export async function endOffset(
  bootstrap: string,
  topic: string,
  partition: number,
  isolation: Isolation = 'read_committed',
): Promise<bigint> {
  const consumer = new Consumer({
    clientId,
    groupId: `outpost-test-${randomUUID()}`,
    bootstrapBrokers: [bootstrap],
  });
  try {
    const offsets = await consumer.listOffsets({
      topics: [topic],
      partitions: { [topic]: [partition] },
      timestamp: ListOffsetTimestamps.LATEST,
      isolationLevel: isolationLevel(isolation),
    });
    const end = offsets.get(topic)?.[partition];
    if (end === undefined) throw new Error(`no end offset for ${topic}-${partition} on ${bootstrap}`);
    return end;
  } finally {
    await consumer.close(true);
  }
}

/**
 * Every record of one partition from `fromOffset` to the end offset taken when the call starts
 * (read_committed by default: aborted and open transactions are not returned). Finishes when the
 * consumer's fetch position reaches that end, which also covers a trailing transaction marker.
 */
export async function consumePartition(
  bootstrap: string,
  topic: string,
  partition: number,
  options: { isolation?: Isolation; fromOffset?: bigint; timeoutMs?: number } = {},
): Promise<ConsumedRecord[]> {
  const isolation = options.isolation ?? 'read_committed';
  const fromOffset = options.fromOffset ?? 0n;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const end = await endOffset(bootstrap, topic, partition, isolation);
  if (end <= fromOffset) return [];

  const consumer = new Consumer({
    clientId,
    groupId: `outpost-test-${randomUUID()}`,
    bootstrapBrokers: [bootstrap],
    autocommit: false,
    isolationLevel: isolationLevel(isolation),
    maxWaitTime: 200,
  });
  const records: ConsumedRecord[] = [];
  try {
    const stream = await consumer.consume({
      topics: [topic],
      mode: 'manual',
      offsets: [{ topic, partition, offset: fromOffset }],
      autocommit: false,
      isolationLevel: isolationLevel(isolation),
      maxWaitTime: 200,
    });
    const key = `${topic}:${partition}`;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        finish(
          new Error(
            `consume ${topic}-${partition} on ${bootstrap}: reached ${stream.offsetsToFetch.get(key)} of ${end} within ${timeoutMs} ms (${records.length} records)`,
          ),
        );
      }, timeoutMs);
      const finish = (err?: Error) => {
        clearTimeout(timer);
        stream.off('data', onData);
        stream.off('fetch', onFetch);
        stream.off('error', finish);
        if (err) reject(err);
        else resolve();
      };
      // 'fetch' fires when the next fetch answers, after the previous one's records were pushed; the
      // position is the offset after the last batch read (data or transaction marker).
      let reached = false;
      const onFetch = () => {
        if ((stream.offsetsToFetch.get(key) ?? -1n) < end) return;
        reached = true;
        if (stream.readableLength === 0) finish();
      };
      const onData = (m: {
        topic: string;
        partition: number;
        offset: bigint;
        key: Buffer | null | undefined;
        value: Buffer | null | undefined;
        headerEntries: Array<[Buffer, Buffer]>;
        timestamp: bigint;
      }) => {
        if (m.partition !== partition || m.offset < fromOffset || m.offset >= end) {
          if (reached && stream.readableLength === 0) finish();
          return;
        }
        records.push({
          topic: m.topic,
          partition: m.partition,
          offset: m.offset,
          key: m.key ?? null,
          value: m.value ?? null,
          headers: m.headerEntries.map(([k, v]) => [k.toString('utf8'), v]),
          timestamp: m.timestamp,
        });
        if (m.offset === end - 1n || (reached && stream.readableLength === 0)) finish();
      };
      stream.on('data', onData);
      stream.on('fetch', onFetch);
      stream.on('error', finish);
    });
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return records;
}
