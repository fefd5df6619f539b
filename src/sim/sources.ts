import { randomBytes } from 'node:crypto';
import { Consumer } from '@platformatic/kafka';
import { OutpostError } from '../errors.ts';
import type { PartitionedLog } from '../log/index.ts';
import type { Auditor } from './audit.ts';

/** Kafka ListOffsets / Fetch isolation level READ_COMMITTED (KIP-98): only committed transactions. */
const READ_COMMITTED = 1;

/** The audit's view of a record value: a simulator payload, or null for anything else. */
export function decodeEnvelope(
  value: Buffer | null | undefined,
): { deviceId: string; seq: number; run: string } | null {
  if (!value || value.length === 0 || value[0] !== 0x7b /* '{' */) return null;
  try {
    const p = JSON.parse(value.toString('utf8')) as { deviceId?: unknown; seq?: unknown; run?: unknown };
    if (
      typeof p.deviceId !== 'string' ||
      typeof p.seq !== 'number' ||
      !Number.isInteger(p.seq) ||
      p.seq < 1
    ) {
      return null;
    }
    return { deviceId: p.deviceId, seq: p.seq, run: typeof p.run === 'string' ? p.run : '' };
  } catch {
    return null;
  }
}

export interface SourceStats {
  /** Records read per "topic/partition". */
  partitions: Record<string, { from: number; to: number; records: number }>;
}

/**
 * Feeds the edge log to the auditor: each partition of `topics` from its start offset up to the end
 * offset it had when the audit began, in offset order. Works on a log opened with role "reader".
 */
export function readEdgeLog(log: PartitionedLog, topics: readonly string[], auditor: Auditor): SourceStats {
  const stats: SourceStats = { partitions: {} };
  for (const topic of topics) {
    if (!log.topicNames().includes(topic)) {
      throw new OutpostError('UNKNOWN_TOPIC', `no topic "${topic}" in the edge log`, { topic });
    }
    for (let partition = 0; partition < log.partitionCount(topic); partition++) {
      const { startOffset, endOffset } = log.offsets(topic, partition);
      let next = startOffset;
      let records = 0;
      while (next < endOffset) {
        const batch = log.read(topic, partition, next, { maxRecords: 5000, maxBytes: 8 * 1024 ** 2 });
        if (batch.length === 0) break;
        for (const r of batch) {
          if (r.offset >= endOffset) break;
          records++;
          const e = decodeEnvelope(r.value);
          if (e === null) auditor.foreign();
          else auditor.add({ ...e, topic, partition, offset: r.offset });
          next = r.offset + 1;
        }
      }
      stats.partitions[`${topic}/${partition}`] = { from: startOffset, to: next, records };
    }
  }
  return stats;
}

export interface ClusterSourceOptions {
  bootstrap: string[];
  /** Remote topic names, e.g. "<edgeId>.<topic>". */
  topics: string[];
  /** Stop after this long without a new record once the end offsets were not all reached (ms, default 10 s). */
  idleMs?: number;
  /** Overall bound (ms, default 10 min). */
  timeoutMs?: number;
  clientId?: string;
}

/**
 * Feeds a central cluster's mirrored topics to the auditor with a READ_COMMITTED consumer (only
 * committed transactions are visible, Kafka KIP-98), from the earliest offset to the last stable
 * offset (LSO) each partition had when the audit began. Transaction markers occupy offsets without
 * being delivered, so "read to the end" is judged on the consumer's fetch position, not on the last
 * record; after `idleMs` without news it stops early (the audit then reports whatever is missing as
 * lost: it never passes on an early stop).
 */
export async function readCluster(opts: ClusterSourceOptions, auditor: Auditor): Promise<SourceStats> {
  return readTopics(opts, (m) => {
    const e = decodeEnvelope(m.value);
    if (e === null) auditor.foreign();
    else auditor.add({ ...e, topic: m.topic, partition: m.partition, offset: m.offset });
  });
}

/** One record as readTopics hands it over. */
export interface ReadRecord {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null | undefined;
  value: Buffer | null | undefined;
}

/** readCluster's reading: every committed record of `topics` up to their LSO when the read began. */
export async function readTopics(
  opts: ClusterSourceOptions,
  onRecord: (m: ReadRecord) => void,
): Promise<SourceStats> {
  const consumer = new Consumer({
    clientId: opts.clientId ?? 'outpost-audit',
    groupId: `outpost-audit-${randomBytes(6).toString('hex')}`,
    bootstrapBrokers: opts.bootstrap,
    isolationLevel: READ_COMMITTED,
    autocommit: false,
  });
  const stats: SourceStats = { partitions: {} };
  try {
    const start = await consumer.listOffsets({
      topics: opts.topics,
      timestamp: -2n,
      isolationLevel: READ_COMMITTED,
    });
    const end = await consumer.listOffsets({
      topics: opts.topics,
      timestamp: -1n,
      isolationLevel: READ_COMMITTED,
    });
    const remaining = new Map<string, bigint>();
    for (const topic of opts.topics) {
      const ends = end.get(topic) ?? [];
      const starts = start.get(topic) ?? [];
      ends.forEach((lso, partition) => {
        const from = starts[partition] ?? 0n;
        stats.partitions[`${topic}/${partition}`] = { from: Number(from), to: Number(from), records: 0 };
        if (lso > from) remaining.set(`${topic}/${partition}`, lso);
      });
    }
    if (remaining.size === 0) return stats;
    const stream = await consumer.consume({
      topics: opts.topics,
      mode: 'earliest',
      isolationLevel: READ_COMMITTED,
      autocommit: false,
      maxWaitTime: 500,
    });
    const idleMs = opts.idleMs ?? 10_000;
    const deadline = Date.now() + (opts.timeoutMs ?? 600_000);
    // Done when the stream's fetch position (past data and transaction markers) reached every
    // partition's LSO and nothing is buffered; a fallback gives up after idleMs without news.
    const reachedAll = () =>
      [...remaining].every(
        ([key, lso]) => (stream.offsetsToFetch.get(key.replace(/\/(\d+)$/, ':$1')) ?? -1n) >= lso,
      );
    let lastNews = Date.now();
    const idle = setInterval(() => {
      const quiet = Date.now() - lastNews;
      if ((reachedAll() && stream.readableLength === 0) || quiet > idleMs || Date.now() > deadline) {
        void stream.close();
      }
    }, 100);
    try {
      for await (const m of stream) {
        lastNews = Date.now();
        const key = `${m.topic}/${m.partition}`;
        const lso = remaining.get(key);
        if (lso === undefined || m.offset >= lso) continue; // appended after the audit began
        const offset = Number(m.offset);
        const s = stats.partitions[key];
        if (s) {
          s.records++;
          s.to = offset + 1;
        }
        onRecord({ topic: m.topic, partition: m.partition, offset, key: m.key, value: m.value });
      }
    } finally {
      clearInterval(idle);
      await stream.close().catch(() => {});
    }
    return stats;
  } catch (cause) {
    if (cause instanceof OutpostError) throw cause;
    throw new OutpostError(
      'AUDIT_SOURCE_FAILED',
      `cannot read ${opts.topics.join(', ')} from ${opts.bootstrap.join(',')}: ${(cause as Error).message}`,
      {
        cause,
        reason: (cause as Error).message,
      },
    );
  } finally {
    await consumer.close(true).catch(() => {});
  }
}
