/**
 * Steps of the append pipeline (orchestrated by log.ts):
 *   prepare → route each record (explicit partition, Kafka murmur2 of the key, or round-robin per
 *             topic for records with neither) and encode it (record-v1); throws before any offset
 *             is handed out
 *   assign  → offsets in call order from the in-memory next offset; queue the puts as one batch
 *             (lmdb-js puts all callers of one event turn into one write transaction: group commit)
 *   publish → once committed and fsynced, advance durableEnd and wake the tails
 */
import { OutpostError } from '../errors.ts';
import { encodeRecord, recordSize } from './codec/record-v1.ts';
import { partitionFor } from './partitioner.ts';
import { type Core, getPart, type Part, type TopicState } from './state.ts';
import type { LogDbs } from './store.ts';
import type { AppendRecord, AppendResult } from './types.ts';

export interface Pending {
  part: Part;
  offset: number;
  buf: Buffer;
}

export interface Prepared {
  pending: Pending[];
  bytes: number;
  /** Round-robin positions to store once the append is admitted. */
  rr: Map<TopicState, number>;
}

export function prepare(core: Core, records: readonly AppendRecord[], maxRecordBytes: number): Prepared {
  const now = Date.now();
  const pending: Pending[] = new Array(records.length);
  const rr = new Map<TopicState, number>();
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as AppendRecord;
    const t = core.topics.get(r.topic);
    if (t === undefined) {
      throw new OutpostError('UNKNOWN_TOPIC', `unknown log topic "${r.topic}"`, { topic: r.topic });
    }
    const key = r.key ?? null;
    let p: number;
    if (r.partition !== undefined) p = r.partition;
    else if (key !== null) p = partitionFor(key, t.parts.length);
    else {
      const n = rr.get(t) ?? t.rr;
      p = n % t.parts.length;
      rr.set(t, n + 1);
    }
    const part = t.parts[p] ?? getPart(core, r.topic, p);
    const buf = encodeRecord({
      timestamp: r.timestamp ?? now,
      key,
      headers: r.headers ?? {},
      value: r.value,
    });
    if (buf.length > maxRecordBytes) {
      throw new OutpostError(
        'RECORD_TOO_LARGE',
        `record of ${buf.length} bytes exceeds log.maxRecordBytes (${maxRecordBytes})`,
        { topic: r.topic, partition: p },
      );
    }
    bytes += buf.length;
    pending[i] = { part, offset: -1, buf };
  }
  return { pending, bytes, rr };
}

/** What prepare() checks on one record, without encoding it (see PartitionedLog.validate). */
export function validateRecord(core: Core, r: AppendRecord, maxRecordBytes: number): OutpostError | null {
  const t = core.topics.get(r.topic);
  if (t === undefined) {
    return new OutpostError('UNKNOWN_TOPIC', `unknown log topic "${r.topic}"`, { topic: r.topic });
  }
  if (r.partition !== undefined && (!Number.isInteger(r.partition) || t.parts[r.partition] === undefined)) {
    return new OutpostError(
      'UNKNOWN_PARTITION',
      `topic "${r.topic}" has ${t.parts.length} partitions; ${r.partition} does not exist`,
      { topic: r.topic, partition: r.partition },
    );
  }
  let size: number;
  try {
    size = recordSize({ key: r.key ?? null, headers: r.headers ?? {}, value: r.value });
  } catch (err) {
    if (err instanceof OutpostError) return err;
    throw err;
  }
  if (size > maxRecordBytes) {
    return new OutpostError(
      'RECORD_TOO_LARGE',
      `record of ${size} bytes exceeds log.maxRecordBytes (${maxRecordBytes})`,
      { topic: r.topic },
    );
  }
  return null;
}

/**
 * Assigns offsets and queues the puts as one lmdb-js `batch()`: the records of one append call are
 * committed all-or-nothing, with a single promise instead of one per record (measured equal or
 * faster than plain puts + Promise.all). The batch joins the event turn's shared write transaction.
 */
export function assign(dbs: LogDbs, prepared: Prepared): Promise<boolean> {
  for (const [t, n] of prepared.rr) t.rr = n % t.parts.length;
  const { pending } = prepared;
  const { records } = dbs;
  return records.batch(() => {
    for (let i = 0; i < pending.length; i++) {
      const e = pending[i] as Pending;
      e.offset = e.part.end++;
      e.part.bytes += e.buf.length;
      e.part.dirty = true;
      records.put([e.part.tid, e.part.p, e.offset], e.buf);
    }
  });
}

/**
 * Called after the puts committed and `flushed` resolved. Commits and flushes complete in queue
 * order, so every offset below the ones published here is durable too.
 */
export function publish(pending: Pending[]): AppendResult[] {
  const results: AppendResult[] = new Array(pending.length);
  const woken = new Set<Part>();
  for (let i = 0; i < pending.length; i++) {
    const e = pending[i] as Pending;
    results[i] = { topic: e.part.topic, partition: e.part.p, offset: e.offset };
    if (e.offset >= e.part.durableEnd) {
      e.part.durableEnd = e.offset + 1;
      woken.add(e.part);
    }
  }
  for (const part of woken) {
    for (const wake of part.waiters) wake();
    part.waiters.clear();
  }
  return results;
}
