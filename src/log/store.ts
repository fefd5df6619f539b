/**
 * The LMDB environment behind the log and the layout of its reserved sub-databases.
 *
 *   log.records  key [topicId, partition, baseOffset] (ordered-binary) → one entry:
 *                  record-v2: a Kafka RecordBatch (codec/record-v2.ts) holding offsets
 *                             [baseOffset, baseOffset + lastOffsetDelta], one per group commit and
 *                             partition; first byte 0x00 (the high byte of baseOffset)
 *                  record-v1: one record at offset baseOffset (codec/record-v1.ts), written by 0.1.0;
 *                             first byte 0x01. Read as it is, never rewritten (in-place upgrade).
 *                Entries never overlap and leave no gaps: the next entry's key is the previous
 *                entry's last offset + 1. Keys only grow within a partition (append-only).
 *   log.topics   key topic name → { id, partitions }            (ids are never reused)
 *   log.meta     key ["floor", topicId, partition] → first offset still stored (survives an empty partition)
 *                key ["cp", topicId, partition] → { end, bytes }: bytes of entries below `end`
 *                    (rewritten with every deletion, periodically and on close; open adds entries ≥ end)
 *                key "dropped" → records deleted by onFull "drop-oldest" (durable counter)
 *                key "format" → 2 (layout version of these databases; 1 = 0.1.0, record-v1 only)
 *                key "recordFormats" → record formats present in log.records, e.g. [1, 2] after an
 *                    upgrade, [2] once retention deleted the last record-v1 entry
 *   log.cursors  key [topic, partition, name] → { offset, protected }
 *
 * What one commit writes (bench/commit-writes.ts: /proc/self/io write_bytes and mdb_stat page
 * counts; 200-byte values, zstd, 4 KiB pages; measured on a loaded 2-core machine, so read the
 * ratios, not the absolute figures):
 *   - log.records: per partition touched, the leaf page at the end of its key range plus the
 *     branch pages above it (depth 2 fresh, 3 after 200k records). Record-v2 batches of a few KB
 *     still fit in leaf pages; a batch above ~2 KB after compression goes to overflow pages of its
 *     own, written once. Each partition touched costs about 2 pages, whatever its record count.
 *   - the main database (it holds each sub-database's root page number): 1 leaf page.
 *   - the free list (FREE_DBI): 1-2 pages; overlappingSync (kept: it lets the next commit start
 *     while the previous one is fsynced) costs about 2 more pages per commit in a raw lmdb-js loop.
 *   - one of the two meta pages.
 *   - log.meta, log.cursors, log.topics: nothing per commit (checkpoints every
 *     CHECKPOINT_INTERVAL_MS; cursors only when a mirror moves one).
 *   So LMDB's floor is about 7-8 pages (28-32 KiB) per commit, ~10 with 4 partitions fresh and ~20
 *   after 200k records. Pages per commit, record-v1 (one put per record) against record-v2:
 *       records per commit (4 partitions)      4          40         200
 *       fresh: v1 / v2                     11.6/11.3  24.6/13.4      -
 *       200k stored: v1 / v2              113.6/19.8  38.8/20.6  97.3/22.6
 *   Bytes per message therefore fall with messages per commit: at 500 one-record appends/s over
 *   4 partitions, log.commitWindowMs 0 wrote ~35-40 KB per record, 20 ms ~5.1 KB, 50 ms ~1.9 KB,
 *   100 ms ~1.0 KB (append latency p50 14 / 29 / 55 ms). The next lever would be a layout whose
 *   commit touches one leaf for all partitions (keys in commit order plus an in-memory index).
 *   Retention writes the leaves left after the removed entries, the floor and the checkpoint in
 *   log.meta and the free list, once per deletion transaction (at most 20k records): deleting 50k
 *   of 100k records wrote ~300 KiB (6 B per deleted record; record-v1: 11-30 B).
 * Other modules get their own sub-databases with openStore(); names starting with "log." are ours.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Database, type Key, open, type RootDatabase } from 'lmdb';
import { OutpostError } from '../errors.ts';
import { peekTimestamp, RECORD_V1 } from './codec/record-v1.ts';
import { batchRawBytes, isBatchV2, peekBatch } from './codec/record-v2-read.ts';

export const LAYOUT_VERSION = 2;
/** Record formats this code reads. */
export const RECORD_FORMATS = [1, 2] as const;
export const RESERVED_PREFIX = 'log.';
const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

export type RecordKey = [number, number, number];
export interface TopicEntry {
  id: number;
  partitions: number;
}
export interface Checkpoint {
  end: number;
  bytes: number;
  /** Uncompressed bytes of the same entries; absent in 0.1.0 checkpoints (record-v1: equal to bytes). */
  raw?: number;
}
export interface CursorEntry {
  offset: number;
  protected: boolean;
}
type MetaKey = string | [string, number, number];

export interface LogDbs {
  env: RootDatabase;
  records: Database<Buffer, RecordKey>;
  topics: Database<TopicEntry, string>;
  meta: Database<unknown, MetaKey>;
  cursors: Database<CursorEntry, [string, number, string]>;
  path: string;
}

/** Directory of the LMDB environment (data.mdb, lock.mdb) inside the data dir. */
export function envPath(dataDir: string): string {
  return join(dataDir, 'lmdb');
}

export function openDbs(dataDir: string): LogDbs {
  const path = envPath(dataDir);
  mkdirSync(path, { recursive: true });
  // Durability: overlappingSync stays at its default and noSync is never set; appends await `flushed`.
  const env = open({ path, maxDbs: 64 });
  const dbs: LogDbs = {
    env,
    records: env.openDB<Buffer, RecordKey>('log.records', { encoding: 'binary' }),
    topics: env.openDB<TopicEntry, string>('log.topics', { encoding: 'msgpack' }),
    meta: env.openDB<unknown, MetaKey>('log.meta', { encoding: 'msgpack' }),
    cursors: env.openDB<CursorEntry, [string, number, string]>('log.cursors', { encoding: 'msgpack' }),
    path,
  };
  const format = dbs.meta.get('format');
  if (format !== undefined && format !== 1 && format !== LAYOUT_VERSION) {
    env.close();
    throw new OutpostError('FORMAT_UNSUPPORTED', `log layout version ${String(format)} is not supported`, {
      path,
      reason: `layout ${String(format)}`,
    });
  }
  return dbs;
}

export interface StoreOptions {
  encoding?: 'msgpack' | 'json' | 'binary' | 'ordered-binary';
  keyEncoding?: 'ordered-binary' | 'uint32' | 'binary';
}

/** Another module's sub-database (PartitionedLog.openStore); names starting with RESERVED_PREFIX are ours. */
export function openNamedStore<K extends Key, V>(
  dbs: LogDbs,
  name: string,
  options: StoreOptions,
): Database<V, K> {
  if (name.startsWith(RESERVED_PREFIX)) {
    throw new OutpostError(
      'STORE_NAME_RESERVED',
      `store names starting with "${RESERVED_PREFIX}" belong to the log`,
      {
        reason: name,
      },
    );
  }
  return dbs.env.openDB<V, K>(name, {
    encoding: options.encoding ?? 'msgpack',
    ...(options.keyEncoding ? { keyEncoding: options.keyEncoding } : {}),
  });
}

export const floorKey = (tid: number, p: number): [string, number, number] => ['floor', tid, p];
export const checkpointKey = (tid: number, p: number): [string, number, number] => ['cp', tid, p];
export const DROPPED_KEY = 'dropped';

/** Offsets an entry of log.records covers and what it weighs, read from its header only. */
export interface Entry {
  base: number;
  /** Offsets covered: 1 for record-v1, lastOffsetDelta + 1 for a batch. */
  count: number;
  /** Timestamp of the first record. */
  firstTimestamp: number;
  /** Greatest timestamp in the entry (retention by time deletes an entry only when this is too old). */
  maxTimestamp: number;
  bytes: number;
  format: 1 | 2;
}

export function entryOf(base: number, value: Buffer): Entry {
  if (isBatchV2(value)) {
    const h = peekBatch(value);
    return {
      base,
      count: h.count,
      firstTimestamp: h.baseTimestamp,
      maxTimestamp: h.maxTimestamp,
      bytes: value.length,
      format: 2,
    };
  }
  if (value[0] !== RECORD_V1) {
    throw new OutpostError('FORMAT_UNSUPPORTED', `unknown record format version ${value[0]}`, {
      offset: base,
      reason: `version ${value[0]}`,
    });
  }
  const ts = peekTimestamp(value);
  return { base, count: 1, firstTimestamp: ts, maxTimestamp: ts, bytes: value.length, format: 1 };
}

/** Uncompressed bytes of an entry (a record-v1 value is never compressed). */
export function entryRawBytes(value: Buffer): number {
  return isBatchV2(value) ? batchRawBytes(value) : value.length;
}

/**
 * Stored and uncompressed bytes of a partition: its checkpoint (when it still fits the stored
 * range) plus every entry from the checkpoint's end to `end`.
 */
export function partitionBytes(
  dbs: LogDbs,
  tid: number,
  p: number,
  start: number,
  end: number,
): { bytes: number; rawBytes: number; fromCheckpointTo: number } {
  const cp = dbs.meta.get(checkpointKey(tid, p)) as Checkpoint | undefined;
  const base = cp !== undefined && cp.end >= start && cp.end <= end ? cp : { end: start, bytes: 0 };
  let bytes = base.bytes;
  let rawBytes = base.raw ?? base.bytes;
  if (base.end < end) {
    for (const { value } of dbs.records.getRange({ start: [tid, p, base.end], end: [tid, p, end] })) {
      bytes += value.length;
      rawBytes += entryRawBytes(value);
    }
  }
  return { bytes, rawBytes, fromCheckpointTo: base.end };
}

/** The entry holding `offset` or, when none does, the first one after it (undefined: none). */
export function entryAt(dbs: LogDbs, tid: number, p: number, offset: number): Entry | undefined {
  for (const { key, value } of dbs.records.getRange({
    start: [tid, p, offset],
    end: [tid, p, -1],
    reverse: true,
    limit: 1,
  })) {
    const e = entryOf(key[2], value);
    if (e.base + e.count > offset) return e;
  }
  for (const { key, value } of dbs.records.getRange({
    start: [tid, p, offset],
    end: [tid, p + 1, 0],
    limit: 1,
  })) {
    return entryOf(key[2], value);
  }
  return undefined;
}

/** The first stored offset of a partition (one forward seek); undefined when none is stored. */
function firstStored(dbs: LogDbs, tid: number, p: number): number | undefined {
  for (const k of dbs.records.getKeys({ start: [tid, p, 0], end: [tid, p + 1, 0], limit: 1 })) {
    return k[2] as number;
  }
  return undefined;
}

const floorOf = (dbs: LogDbs, tid: number, p: number): number =>
  (dbs.meta.get(floorKey(tid, p)) as number | undefined) ?? 0;

/** First stored offset and the offset after the last stored record (undefined when empty). */
export function storedRange(dbs: LogDbs, tid: number, p: number): { first?: number; end?: number } {
  const range: { first?: number; end?: number } = {};
  const first = firstStored(dbs, tid, p);
  if (first !== undefined) range.first = first;
  for (const { key, value } of dbs.records.getRange({
    start: [tid, p, MAX_OFFSET],
    end: [tid, p, -1],
    reverse: true,
    limit: 1,
  })) {
    const e = entryOf(key[2], value);
    range.end = e.base + e.count;
  }
  return range;
}

/**
 * diskOffsets' start alone: the first offset still stored, or the floor when nothing is. One forward
 * seek, without the reverse one for the end (a follower knows its end: the owner's durable end).
 */
export function diskStart(dbs: LogDbs, tid: number, p: number): number {
  const floor = floorOf(dbs, tid, p);
  const first = firstStored(dbs, tid, p);
  return first === undefined ? floor : Math.max(first, floor);
}

/** [startOffset, endOffset) of a partition as stored on disk right now (after a crash: the truth). */
export function diskOffsets(dbs: LogDbs, tid: number, p: number): { start: number; end: number } {
  const floor = floorOf(dbs, tid, p);
  const { first, end: stored } = storedRange(dbs, tid, p);
  const end = stored === undefined ? floor : Math.max(stored, floor);
  const start = first === undefined ? end : Math.max(first, floor);
  return { start, end };
}

/** Pages in use inside the data file (all sub-databases, the free list and the two meta pages). */
export function usedPages(
  dbs: LogDbs,
  stores: Iterable<Database<unknown, never>>,
): { pages: number; pageSize: number } {
  const envStats = dbs.env.getStats() as unknown as Stat & { root: Stat; free: Stat };
  const count = (s: Stat) => s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
  let pages = 2 + count(envStats.root) + count(envStats.free);
  const dbsToCount: Array<{ getStats(): unknown }> = [
    dbs.records,
    dbs.topics,
    dbs.meta,
    dbs.cursors,
    ...stores,
  ];
  for (const db of dbsToCount) pages += count(db.getStats() as Stat);
  return { pages, pageSize: envStats.pageSize };
}
interface Stat {
  pageSize: number;
  treeBranchPageCount: number;
  treeLeafPageCount: number;
  overflowPages: number;
}

/**
 * Owner open: records the layout version and which record formats log.records holds. A 0.1.0 log
 * (format 1) keeps its record-v1 entries as they are; record-v1 stays listed until no partition
 * starts with one (retention deletes the oldest entries first, and record-v1 entries are the oldest).
 */
export async function recordFormats(dbs: LogDbs): Promise<number[]> {
  let v1 = false;
  for (const { value: t } of dbs.topics.getRange()) {
    for (let p = 0; p < t.partitions && !v1; p++) {
      for (const { value } of dbs.records.getRange({
        start: [t.id, p, 0],
        end: [t.id, p + 1, 0],
        limit: 1,
      })) {
        v1 = !isBatchV2(value);
      }
    }
  }
  const formats = v1 ? [1, 2] : [2];
  const stored = dbs.meta.get('recordFormats') as number[] | undefined;
  if (dbs.meta.get('format') !== LAYOUT_VERSION || stored?.join() !== formats.join()) {
    await dbs.meta.transaction(() => {
      dbs.meta.put('format', LAYOUT_VERSION);
      dbs.meta.put('recordFormats', formats);
    });
  }
  return formats;
}
