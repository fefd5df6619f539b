/** Reading a range of records from log.records and decoding them (record-v1). */
import { isOutpostError, OutpostError } from '../errors.ts';
import { decodeRecord } from './codec/record-v1.ts';
import type { LogDbs } from './store.ts';
import type { LogRecord, ReadOptions } from './types.ts';

export const DEFAULT_READ_RECORDS = 500;
export const DEFAULT_READ_BYTES = 1024 ** 2;

/**
 * Records of [from, end) in offset order, at most maxRecords, stopping once maxBytes (key + value)
 * is reached; the first record is always returned. Corruption throws RECORD_CORRUPT naming the
 * topic, partition and offset.
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
  if (from >= end) return out;
  const maxRecords = options.maxRecords ?? DEFAULT_READ_RECORDS;
  const maxBytes = options.maxBytes ?? DEFAULT_READ_BYTES;
  let bytes = 0;
  for (const { key, value } of dbs.records.getRange({
    start: [tid, partition, from],
    end: [tid, partition, end],
    limit: maxRecords,
  })) {
    const offset = key[2];
    let r: ReturnType<typeof decodeRecord>;
    try {
      r = decodeRecord(value);
    } catch (err) {
      if (!isOutpostError(err)) throw err;
      throw new OutpostError(err.code, `${err.message} at ${topic}/${partition}@${offset}`, {
        ...err.fields,
        topic,
        partition,
        offset,
        cause: err,
      });
    }
    const size = r.value.length + (r.key?.length ?? 0);
    if (out.length > 0 && bytes + size > maxBytes) break;
    bytes += size;
    out.push({
      topic,
      partition,
      offset,
      timestamp: r.timestamp,
      key: r.key,
      headers: r.headers,
      value: r.value,
    });
  }
  return out;
}
