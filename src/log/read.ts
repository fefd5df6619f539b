/**
 * Reading a range of records from log.records: record-v2 batches and (after an upgrade) record-v1
 * records. A read at any offset starts in the entry with the greatest base offset ≤ that offset
 * and skips the batch's records before it.
 */
import { isOutpostError, OutpostError } from '../errors.ts';
import { decodeRecord } from './codec/record-v1.ts';
import { type BatchRecord, CRC_AT, LAST_DELTA_AT } from './codec/record-v2.ts';
import { decodeBatch, isBatchV2 } from './codec/record-v2-read.ts';
import { type StampEpoch, stampIdAt } from './stamps.ts';
import { entryAt, type LogDbs, type RecordKey } from './store.ts';
import type { EntryReadOptions, LogRecord, ReadOptions, StoredEntry } from './types.ts';

export const DEFAULT_READ_RECORDS = 500;
export const DEFAULT_READ_BYTES = 1024 ** 2;

/**
 * The last batch decoded per database: a tail or a paged read that resumes inside a batch larger
 * than maxRecords decodes it once, not once per page. Entries are immutable while they exist; the
 * cache key also holds the value's length and CRC, so an entry rewritten after an owner crash (seen
 * by a reader process) is never served from the cache. Records handed out share the decoded
 * Buffers (callers never write to them) but get their own headers object.
 */
const lastDecoded = new WeakMap<LogDbs, { id: string; records: BatchRecord[] }>();

function decodeEntry(
  dbs: LogDbs,
  tid: number,
  value: Buffer,
  base: number,
  topic: string,
  partition: number,
): BatchRecord[] {
  try {
    if (isBatchV2(value)) {
      const id = `${tid}/${partition}/${base}/${value.length}/${value.readUInt32BE(CRC_AT)}`;
      const hit = lastDecoded.get(dbs);
      if (hit?.id === id) return hit.records;
      const records = decodeBatch(value, { unstamped: true });
      lastDecoded.set(dbs, { id, records });
      return records;
    }
    return [{ offset: base, ...decodeRecord(value) }];
  } catch (err) {
    if (!isOutpostError(err)) throw err;
    throw new OutpostError(err.code, `${err.message} at ${topic}/${partition}@${base}`, {
      ...err.fields,
      topic,
      partition,
      offset: base,
      cause: err,
    });
  }
}

/**
 * The stored entries holding offsets of [from, end), in offset order: from the entry holding `from`
 * (a batch may start below it) up to `end`. Empty when the range is.
 */
function scan(
  dbs: LogDbs,
  tid: number,
  partition: number,
  from: number,
  end: number,
): Iterable<{ key: RecordKey; value: Buffer }> {
  if (from >= end) return [];
  const first = entryAt(dbs, tid, partition, from);
  if (first === undefined) return [];
  return dbs.records.getRange({ start: [tid, partition, first.base], end: [tid, partition, end] });
}

/**
 * Records of [from, end) in offset order, at most maxRecords, stopping once maxBytes (key + value)
 * is reached; the first record is always returned. Corruption throws RECORD_CORRUPT naming the
 * topic, partition and the base offset of the damaged entry.
 */
export function readRange(
  dbs: LogDbs,
  topic: string,
  tid: number,
  partition: number,
  from: number,
  end: number,
  options: ReadOptions,
): LogRecord[] {
  const out: LogRecord[] = [];
  const maxRecords = options.maxRecords ?? DEFAULT_READ_RECORDS;
  const maxBytes = options.maxBytes ?? DEFAULT_READ_BYTES;
  let bytes = 0;
  for (const { key, value } of scan(dbs, tid, partition, from, end)) {
    if (out.length >= maxRecords) break;
    for (const r of decodeEntry(dbs, tid, value, key[2], topic, partition)) {
      if (r.offset < from) continue;
      if (r.offset >= end || out.length >= maxRecords) return out;
      const size = r.value.length + (r.key?.length ?? 0);
      if (out.length > 0 && bytes + size > maxBytes) return out;
      bytes += size;
      out.push({
        topic,
        partition,
        offset: r.offset,
        timestamp: r.timestamp,
        key: r.key,
        headers: { ...r.headers },
        value: r.value,
      });
    }
  }
  return out;
}

export const DEFAULT_READ_ENTRIES = 64;

/**
 * Stored entries holding offsets of [from, end), as they are on disk (copies of the values), in
 * offset order: at most maxEntries, stopping before maxBytes of values (the first entry always
 * comes). The first entry may start below `from` (a batch is one entry). Nothing is decoded or
 * checked here: the reader forwards or decodes them itself.
 */
export function readEntries(
  dbs: LogDbs,
  tid: number,
  partition: number,
  from: number,
  end: number,
  epochs: readonly StampEpoch[],
  options: EntryReadOptions,
): StoredEntry[] {
  const out: StoredEntry[] = [];
  const maxEntries = options.maxEntries ?? DEFAULT_READ_ENTRIES;
  const maxBytes = options.maxBytes ?? DEFAULT_READ_BYTES;
  let bytes = 0;
  for (const { key, value } of scan(dbs, tid, partition, from, end)) {
    if (out.length >= maxEntries || (out.length > 0 && bytes + value.length > maxBytes)) break;
    const base = key[2];
    const v2 = isBatchV2(value);
    bytes += value.length;
    out.push({
      baseOffset: base,
      count: v2 ? value.readInt32BE(LAST_DELTA_AT) + 1 : 1,
      format: v2 ? 2 : 1,
      value: Buffer.from(value),
      stampId: v2 ? stampIdAt(epochs, tid, partition, base) : null,
    });
  }
  return out;
}
