/**
 * record-v2: a Kafka RecordBatch, magic 2 (KIP-98), as the LMDB value of one batch of records. The
 * bytes are exactly what a Kafka broker stores and a Produce request (v3+) carries, so Kafka's own
 * classes read them (test/log/record-v2-java.test.ts) and the mirror can send them as they are.
 * Modelled on the header comment of Kafka's DefaultRecordBatch.java and DefaultRecord.java.
 *
 * RecordBatch (big-endian; offsets in bytes):
 *
 *   0   int64   baseOffset            edge offset of the first record (the LMDB key holds it too)
 *   8   int32   batchLength           bytes after this field (total length - 12)
 *   12  int32   partitionLeaderEpoch  -1: no leader epoch at the edge
 *   16  int8    magic                 = 2
 *   17  uint32  crc                   CRC-32C (Castagnoli) of bytes [21, end)
 *   21  int16   attributes            bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd),
 *                                     bit 3 timestampType (0 = CreateTime), bit 4 isTransactional,
 *                                     bit 5 isControlBatch, bit 6 hasDeleteHorizonMs; we write only bits 0-2
 *   23  int32   lastOffsetDelta       offset of the last record - baseOffset (records - 1: offsets are dense)
 *   27  int64   baseTimestamp         timestamp of the first record (epoch ms)
 *   35  int64   maxTimestamp          greatest record timestamp
 *   43  int64   producerId            -1 (not idempotent at the edge; the mirror's producer sets its own)
 *   51  int16   producerEpoch         -1
 *   53  int32   baseSequence          -1
 *   57  int32   recordsCount
 *   61  bytes   records               recordsCount records; compressed as one block when bits 0-2 ≠ 0
 *
 * Record (varint = zigzag LEB128 as in protobuf, varlong the same on 64 bits):
 *
 *   varint   length                   bytes of the record after this field
 *   int8     attributes               0 (unused)
 *   varlong  timestampDelta           timestamp - baseTimestamp
 *   varint   offsetDelta              offset - baseOffset
 *   varint   keyLength                -1 = null key
 *   bytes    key
 *   varint   valueLength              -1 = null value (we never write one; read as empty)
 *   bytes    value
 *   varint   headersCount
 *   repeated headersCount times:
 *     varint   headerKeyLength
 *     bytes    headerKey             UTF-8: the MQTT header name (mqtt.qos, client.id, …)
 *     varint   headerValueLength     -1 = null (we never write one; read as empty)
 *     bytes    headerValue
 *
 * A short buffer, wrong batchLength, CRC mismatch, bad varint or trailing bytes is RECORD_CORRUPT;
 * another magic or compression value is FORMAT_UNSUPPORTED. Integers beyond ±2^53 are RECORD_CORRUPT
 * (JS numbers; offsets and timestamps never get there).
 */
import { crc32c } from '@node-rs/crc32';
import { OutpostError } from '../../errors.ts';
import type { Headers } from '../types.ts';
import { COMPRESSION_BITS, type Compression, compress, compressAsync } from './compression.ts';

export const RECORD_V2_MAGIC = 2;
/** Bytes of the batch header before the first record. */
export const BATCH_OVERHEAD_V2 = 61;
export const LENGTH_AT = 8;
export const LEADER_EPOCH_AT = 12;
export const MAGIC_AT = 16;
export const CRC_AT = 17;
export const ATTRIBUTES_AT = 21;
export const LAST_DELTA_AT = 23;
export const BASE_TS_AT = 27;
export const MAX_TS_AT = 35;
export const PRODUCER_ID_AT = 43;
export const PRODUCER_EPOCH_AT = 51;
export const BASE_SEQUENCE_AT = 53;
export const COUNT_AT = 57;
export const LOG_OVERHEAD = 12;
/** Attributes bits 0-2: the codec (COMPRESSION_BITS; 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd). */
export const CODEC_MASK = 0x07;
/** Largest decompressed records section we accept (guards against a corrupt length). */
export const MAX_DECOMPRESSED = 256 * 1024 ** 2;

export interface RecordFields {
  timestamp: number;
  key: Buffer | null;
  headers: Headers;
  value: Buffer;
}

export interface BatchRecord extends RecordFields {
  offset: number;
}

/** The header fields of a batch, read without checking the CRC or touching the records. */
export interface BatchHeader {
  baseOffset: number;
  /** Number of offsets the batch covers (lastOffsetDelta + 1). */
  count: number;
  baseTimestamp: number;
  maxTimestamp: number;
  compression: Compression;
}

// ── varints (zigzag LEB128) ────────────────────────────────────────────────────────────────────
const zigzag = (v: number): number => (v >= 0 ? v * 2 : -v * 2 - 1);

export function varintSize(v: number): number {
  let z = zigzag(v);
  let n = 1;
  while (z >= 128) {
    z = Math.floor(z / 128);
    n++;
  }
  return n;
}

/** Writes `v` as a zigzag varint at `at`; returns the position after it. */
export function putVarint(buf: Buffer, v: number, at: number): number {
  let z = zigzag(v);
  while (z >= 128) {
    buf[at++] = (z % 128) | 0x80;
    z = Math.floor(z / 128);
  }
  buf[at++] = z;
  return at;
}

const nameCache = new Map<string, Buffer>();
const NAME_CACHE_MAX = 1024;

function nameBytes(name: string): Buffer {
  let b = nameCache.get(name);
  if (b === undefined) {
    b = Buffer.from(name, 'utf8');
    if (nameCache.size >= NAME_CACHE_MAX) nameCache.clear();
    nameCache.set(name, b);
  }
  return b;
}

/**
 * Provenance headers a stamped log writes after each record's own headers (Stamp): the log's id and
 * the record's own offset, decimal ASCII. They are what a mirrored record carries on a central
 * cluster, so a stored batch can go there as it is. Reads of the log leave them out.
 */
export const STAMP_ID_HEADER = 'outpost.edge.id';
export const STAMP_OFFSET_HEADER = 'outpost.edge.offset';
const STAMP_ID_NAME = Buffer.from(STAMP_ID_HEADER);
const STAMP_OFFSET_NAME = Buffer.from(STAMP_OFFSET_HEADER);
/** Decimal digits of the largest offset (2^53 - 1): the stamp's worst case before offsets exist. */
const MAX_OFFSET_DIGITS = 16;

export interface Stamp {
  /** The log's id (the gateway's edgeId), ASCII. */
  id: Buffer;
}

function digits(offset: number): number {
  let d = 1;
  for (let p = 10; offset >= p && d < MAX_OFFSET_DIGITS; p *= 10) d++;
  return d;
}

/** Bytes the stamp adds to a record at `offset` (undefined: the worst case, any offset). */
export function stampBytes(stamp: Stamp | null, offset?: number): number {
  if (stamp === null) return 0;
  const d = offset === undefined ? MAX_OFFSET_DIGITS : digits(offset);
  // Each header: key length (1-byte varint: 15 and 19), key, value length, value (≤ 16 digits).
  const id = 1 + STAMP_ID_NAME.length + varintSize(stamp.id.length) + stamp.id.length;
  return id + 1 + STAMP_OFFSET_NAME.length + 1 + d;
}

/** Bytes of a record after its length field (stamped at `offset` when `stamp` is set). */
function bodySize(
  r: RecordFields,
  offsetDelta: number,
  timestampDelta: number,
  stamp: Stamp | null = null,
  offset?: number,
): number {
  const keyLen = r.key === null ? -1 : r.key.length;
  let n = 1 + varintSize(timestampDelta) + varintSize(offsetDelta) + varintSize(keyLen) + Math.max(0, keyLen);
  n += varintSize(r.value.length) + r.value.length;
  let count = stamp === null ? 0 : 2;
  const headers = r.headers;
  for (const name in headers) {
    count++;
    const k = nameBytes(name).length;
    const v = (headers[name] as Buffer).length;
    n += varintSize(k) + k + varintSize(v) + v;
  }
  return n + varintSize(count) + (stamp === null ? 0 : stampBytes(stamp, offset));
}

/**
 * Exact encoded size of one record inside an uncompressed batch (length field included), for a
 * record at `offsetDelta` whose timestamp is `timestampDelta` ms after the batch's first. A batch of
 * only this record is BATCH_OVERHEAD_V2 + recordSizeV2(r) bytes before compression. With a stamp,
 * the size at the largest offset (an upper bound for any offset).
 */
export function recordSizeV2(
  r: RecordFields,
  offsetDelta = 0,
  timestampDelta = 0,
  stamp: Stamp | null = null,
): number {
  const body = bodySize(r, offsetDelta, timestampDelta, stamp);
  return varintSize(body) + body;
}

function putRecord(
  buf: Buffer,
  at: number,
  r: RecordFields,
  body: number,
  od: number,
  td: number,
  stamp: Stamp | null,
  offset: number,
): number {
  at = putVarint(buf, body, at);
  buf[at++] = 0;
  at = putVarint(buf, td, at);
  at = putVarint(buf, od, at);
  if (r.key === null) at = putVarint(buf, -1, at);
  else {
    at = putVarint(buf, r.key.length, at);
    buf.set(r.key, at);
    at += r.key.length;
  }
  at = putVarint(buf, r.value.length, at);
  buf.set(r.value, at);
  at += r.value.length;
  const headers = r.headers;
  let count = stamp === null ? 0 : 2;
  for (const _ in headers) count++;
  at = putVarint(buf, count, at);
  for (const name in headers) at = putHeader(buf, at, nameBytes(name), headers[name] as Buffer);
  if (stamp !== null) {
    at = putHeader(buf, at, STAMP_ID_NAME, stamp.id);
    at = putVarint(buf, STAMP_OFFSET_NAME.length, at);
    buf.set(STAMP_OFFSET_NAME, at);
    at += STAMP_OFFSET_NAME.length;
    const d = digits(offset);
    at = putVarint(buf, d, at);
    at += buf.write(String(offset), at, d, 'latin1');
  }
  return at;
}

function putHeader(buf: Buffer, at: number, k: Buffer, v: Buffer): number {
  at = putVarint(buf, k.length, at);
  buf.set(k, at);
  at += k.length;
  at = putVarint(buf, v.length, at);
  buf.set(v, at);
  return at + v.length;
}

/**
 * Seals records (offsets baseOffset, baseOffset + 1, …) into one batch, compressed once with `codec`.
 * Throws RECORD_TOO_LARGE unless it gets 1 to 2^31-1 records (lastOffsetDelta is an int32).
 */
export function encodeBatch(
  baseOffset: number,
  records: readonly RecordFields[],
  codec: Compression,
  stamp: Stamp | null = null,
): Buffer {
  return sealBatch(baseOffset, records, codec, stamp).batch;
}

/** encodeBatch, also returning the batch's uncompressed size (what batchRawBytes reads back). */
export function sealBatch(
  baseOffset: number,
  records: readonly RecordFields[],
  codec: Compression,
  stamp: Stamp | null = null,
): { batch: Buffer; rawBytes: number } {
  const open = openBatch(baseOffset, records, codec === 'none', stamp);
  const batch = frameBatch(open, codec, codec === 'none' ? open.records : compress(codec, open.records));
  return { batch, rawBytes: open.rawBytes };
}

/**
 * sealBatch with the records compressed by compressAsync: on libuv's thread pool where that costs
 * the event loop less than compressing in place (gzip from 12 KiB), else in place.
 */
export async function sealBatchAsync(
  baseOffset: number,
  records: readonly RecordFields[],
  codec: Compression,
  stamp: Stamp | null = null,
): Promise<{ batch: Buffer; rawBytes: number }> {
  const open = openBatch(baseOffset, records, codec === 'none', stamp);
  const packed = codec === 'none' ? open.records : await compressAsync(codec, open.records);
  return { batch: frameBatch(open, codec, packed), rawBytes: open.rawBytes };
}

interface OpenBatch {
  baseOffset: number;
  n: number;
  baseTs: number;
  maxTs: number;
  /** The records section; with `inPlace`, a view into `frame` at BATCH_OVERHEAD_V2. */
  records: Buffer;
  frame: Buffer | null;
  rawBytes: number;
}

/** Encodes the records section; with `inPlace` straight into a batch buffer (no compression). */
function openBatch(
  baseOffset: number,
  records: readonly RecordFields[],
  inPlace: boolean,
  stamp: Stamp | null,
): OpenBatch {
  const n = records.length;
  if (n === 0 || n > 0x7fffffff) {
    throw new OutpostError('RECORD_TOO_LARGE', `a record-v2 batch holds 1 to 2^31-1 records, not ${n}`);
  }
  const baseTs = (records[0] as RecordFields).timestamp;
  let maxTs = baseTs;
  const bodies = new Array<number>(n);
  let size = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i] as RecordFields;
    if (r.timestamp > maxTs) maxTs = r.timestamp;
    const body = bodySize(r, i, r.timestamp - baseTs, stamp, baseOffset + i);
    bodies[i] = body;
    size += varintSize(body) + body;
  }
  const frame = inPlace ? Buffer.allocUnsafe(BATCH_OVERHEAD_V2 + size) : null;
  const out = frame === null ? Buffer.allocUnsafe(size) : frame.subarray(BATCH_OVERHEAD_V2);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i] as RecordFields;
    at = putRecord(out, at, r, bodies[i] as number, i, r.timestamp - baseTs, stamp, baseOffset + i);
  }
  return { baseOffset, n, baseTs, maxTs, records: out, frame, rawBytes: BATCH_OVERHEAD_V2 + size };
}

/** Writes the batch header around the (compressed) records section and computes the CRC. */
function frameBatch(open: OpenBatch, codec: Compression, packed: Buffer): Buffer {
  let batch = open.frame;
  if (batch === null || packed !== open.records) {
    batch = Buffer.allocUnsafe(BATCH_OVERHEAD_V2 + packed.length);
    batch.set(packed, BATCH_OVERHEAD_V2);
  }
  batch.writeBigInt64BE(BigInt(open.baseOffset), 0);
  batch.writeInt32BE(batch.length - LOG_OVERHEAD, LENGTH_AT);
  batch.writeInt32BE(-1, LEADER_EPOCH_AT);
  batch[MAGIC_AT] = RECORD_V2_MAGIC;
  batch.writeInt16BE(COMPRESSION_BITS[codec], ATTRIBUTES_AT);
  batch.writeInt32BE(open.n - 1, LAST_DELTA_AT);
  batch.writeBigInt64BE(BigInt(open.baseTs), BASE_TS_AT);
  batch.writeBigInt64BE(BigInt(open.maxTs), MAX_TS_AT);
  batch.writeBigInt64BE(-1n, PRODUCER_ID_AT);
  batch.writeInt16BE(-1, PRODUCER_EPOCH_AT);
  batch.writeInt32BE(-1, BASE_SEQUENCE_AT);
  batch.writeInt32BE(open.n, COUNT_AT);
  batch.writeUInt32BE(crc32c(batch.subarray(ATTRIBUTES_AT)), CRC_AT);
  return batch;
}
