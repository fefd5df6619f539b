/**
 * Steps of the append pipeline (orchestrated by log.ts):
 *   prepare → route each record (explicit partition, Kafka murmur2 of the key, or round-robin per
 *             topic for records with neither) and size it (record-v2); throws before any offset is
 *             handed out
 *   assign  → offsets in call order from the in-memory next offset; the records join their
 *             partition's open batch
 *   seal    → once per commit: each partition's open records become ONE record-v2 batch,
 *             compressed once with the topic's codec, and all batches go to LMDB as one lmdb-js
 *             batch (one write transaction: group commit across every caller). A commit closes in a
 *             microtask after the turn's first append (commitWindowMs 0), or commitWindowMs after
 *             it, or as soon as commitMaxBytes of records wait, whichever comes first
 *   publish → once committed and fsynced, advance durableEnd and wake the tails
 */
import { OutpostError } from '../errors.ts';
import type { Compression } from './codec/compression.ts';
import {
  BATCH_OVERHEAD_V2,
  type RecordFields,
  recordSizeV2,
  type Stamp,
  sealBatch,
  sealBatchAsync,
} from './codec/record-v2.ts';
import { partitionFor } from './partitioner.ts';
import { type Core, getPart, type Part, type TopicState } from './state.ts';
import type { LogDbs } from './store.ts';
import type { AppendRecord, AppendResult } from './types.ts';

export interface Pending {
  part: Part;
  offset: number;
  fields: RecordFields;
}

export interface Prepared {
  pending: Pending[];
  /** Uncompressed record-v2 bytes (what the budget admits; compression only makes it smaller). */
  bytes: number;
  /** Round-robin positions to store once the append is admitted. */
  rr: Map<TopicState, number>;
}

/**
 * Encoded size of one record as the log stores it alone: a one-record record-v2 batch before
 * compression (the unit log.maxRecordBytes limits, like Kafka's max.message.bytes).
 */
export function storedRecordBytes(fields: RecordFields, stamp: Stamp | null): number {
  return BATCH_OVERHEAD_V2 + recordSizeV2(fields, 0, 0, stamp);
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
    const fields: RecordFields = {
      timestamp: r.timestamp ?? now,
      key,
      headers: r.headers ?? {},
      value: r.value,
    };
    const size = storedRecordBytes(fields, core.stamp);
    if (size > maxRecordBytes) {
      throw new OutpostError(
        'RECORD_TOO_LARGE',
        `record of ${size} bytes exceeds log.maxRecordBytes (${maxRecordBytes})`,
        { topic: r.topic, partition: p },
      );
    }
    bytes += size - BATCH_OVERHEAD_V2;
    pending[i] = { part, offset: -1, fields };
  }
  return { pending, bytes, rr };
}

/** Fields record-v2 cannot write: a value, key or header value that is not bytes. */
function fieldProblem(r: AppendRecord): string | null {
  if (!Buffer.isBuffer(r.value)) return 'value is not bytes';
  if (r.key !== undefined && r.key !== null && !Buffer.isBuffer(r.key)) return 'key is not bytes';
  const headers = r.headers ?? {};
  for (const name in headers) if (!Buffer.isBuffer(headers[name])) return `header "${name}" is not bytes`;
  return null;
}

/** What prepare() checks on one record, without sealing it (see PartitionedLog.validate). */
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
  const bad = fieldProblem(r);
  if (bad !== null) {
    return new OutpostError('RECORD_INVALID', `record cannot be stored: ${bad}`, {
      topic: r.topic,
      reason: bad,
    });
  }
  const size = storedRecordBytes(
    { timestamp: r.timestamp ?? 0, key: r.key ?? null, headers: r.headers ?? {}, value: r.value },
    core.stamp,
  );
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
 * Collects the records of one event turn per partition and seals them into one batch each. Every
 * append of the turn waits on the same lmdb-js batch promise: the records of a turn are committed
 * all-or-nothing, and every offset handed out in the turn is either on disk after it or nowhere.
 */
export interface CommitPolicy {
  /** 0: commit at the end of the event turn; > 0: wait this long after the first record. */
  windowMs: number;
  /** Commit at once when this many (uncompressed) record bytes wait, window or not. */
  maxBytes: number;
}

export class Sealer {
  #dbs: LogDbs;
  #core: Core;
  #policy: CommitPolicy;
  #open = new Set<Part>();
  #openBytes = 0;
  #round: PromiseWithResolvers<boolean> | null = null;
  /** The last round still compressing (gzip, on the thread pool); later rounds are put after it. */
  #behind: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** Called when sealing itself fails (a bug or out of memory): the log stops appending. */
  #onError: (err: unknown) => void;
  /** Since open: commits put (write transactions with batches) and records sealed into them. */
  #commits = 0;
  #records = 0;

  constructor(core: Core, policy: CommitPolicy, onError: (err: unknown) => void) {
    this.#dbs = core.dbs;
    this.#core = core;
    this.#policy = { ...policy };
    this.#onError = onError;
  }

  /** What the log has committed since it was opened: the flash-wear figures' denominators. */
  counts(): { commits: number; records: number } {
    return { commits: this.#commits, records: this.#records };
  }

  setPolicy(policy: CommitPolicy): void {
    this.#policy = { ...policy };
  }

  /** Assigns offsets in call order and adds the records to their partitions' open batches. */
  assign(prepared: Prepared): Promise<boolean> {
    for (const [t, n] of prepared.rr) t.rr = n % t.parts.length;
    const { pending } = prepared;
    for (let i = 0; i < pending.length; i++) {
      const e = pending[i] as Pending;
      e.offset = e.part.end++;
      e.part.open.push(e.fields);
      this.#open.add(e.part);
    }
    this.#openBytes += prepared.bytes;
    let round = this.#round;
    if (round === null) {
      round = Promise.withResolvers<boolean>();
      this.#round = round;
      if (this.#policy.windowMs > 0) this.#timer = setTimeout(() => this.seal(), this.#policy.windowMs);
      else queueMicrotask(() => this.seal());
    }
    if (this.#openBytes >= this.#policy.maxBytes) this.seal();
    return round.promise;
  }

  /** Seals every open batch now (also called before retention and close so nothing waits). */
  seal(): void {
    const round = this.#round;
    if (round === null) return;
    this.#round = null;
    this.#openBytes = 0;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    // Offsets and batch boundaries are fixed now, in round order; only the bytes may come later.
    const jobs: Job[] = [];
    let offPool = false;
    for (const part of this.#open) {
      const codec = this.#core.topics.get(part.topic)?.spec.compression ?? 'none';
      jobs.push({ part, base: part.sealedEnd, records: part.open, codec });
      offPool ||= codec === 'gzip'; // only gzip may leave the loop (compressesOffLoop)
      part.sealedEnd += part.open.length;
      part.open = [];
    }
    this.#open.clear();
    try {
      if (!offPool && this.#behind === null) {
        const stamp = this.#core.stamp;
        round.resolve(
          this.#put(jobs.map((j) => ({ ...j, ...sealBatch(j.base, j.records, j.codec, stamp) }))),
        );
        return;
      }
      // gzip may run on the thread pool; rounds still reach LMDB in the order they were sealed
      // (publish relies on commits completing in offset order).
      const sealed = Promise.all(
        jobs.map(async (j) => ({
          ...j,
          ...(await sealBatchAsync(j.base, j.records, j.codec, this.#core.stamp)),
        })),
      );
      const behind = Promise.all([this.#behind, sealed]).then(([, batches]) => this.#put(batches));
      const tail = behind.then(
        () => {
          if (this.#behind === tail) this.#behind = null;
        },
        (err: unknown) => {
          this.#onError(err);
          throw err;
        },
      );
      tail.catch(() => {}); // the failure reaches the appends through `behind`; never unhandled
      this.#behind = tail;
      round.resolve(behind);
    } catch (err) {
      this.#onError(err);
      round.reject(err);
    }
  }

  #put(batches: Array<Job & { batch: Buffer; rawBytes: number }>): Promise<boolean> {
    const { records } = this.#dbs;
    this.#commits++;
    for (const b of batches) this.#records += b.records.length;
    return records.batch(() => {
      for (const { part, base, records: recs, batch, rawBytes } of batches) {
        records.put([part.tid, part.p, base], batch);
        part.storedEnd = base + recs.length;
        part.bytes += batch.length;
        part.rawBytes += rawBytes;
        part.dirty = true;
      }
    });
  }
}

interface Job {
  part: Part;
  base: number;
  records: RecordFields[];
  codec: Compression;
}

/**
 * Called after the puts committed, `flushed` resolved and every earlier append completed (log.ts
 * chains them). lmdb-js commits in queue order, so every offset below the ones published here is
 * durable too.
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
