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
import {
  COMPRESSION_BITS,
  type Compression,
  compress,
  compressAsync,
  compressionOf,
  decompress,
} from './compression.ts';

export const RECORD_V2_MAGIC = 2;
/** Bytes of the batch header before the first record. */
export const BATCH_OVERHEAD_V2 = 61;
const LENGTH_AT = 8;
const MAGIC_AT = 16;
const CRC_AT = 17;
const ATTRIBUTES_AT = 21;
const LAST_DELTA_AT = 23;
const BASE_TS_AT = 27;
const MAX_TS_AT = 35;
const COUNT_AT = 57;
const LOG_OVERHEAD = 12;
/** Largest decompressed records section we accept (guards against a corrupt length). */
const MAX_DECOMPRESSED = 256 * 1024 ** 2;

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

// ── varints ────────────────────────────────────────────────────────────────────────────────────
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

function putVarint(buf: Buffer, v: number, at: number): number {
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

/** Bytes of a record after its length field. */
function bodySize(r: RecordFields, offsetDelta: number, timestampDelta: number): number {
  const keyLen = r.key === null ? -1 : r.key.length;
  let n = 1 + varintSize(timestampDelta) + varintSize(offsetDelta) + varintSize(keyLen) + Math.max(0, keyLen);
  n += varintSize(r.value.length) + r.value.length;
  let count = 0;
  const headers = r.headers;
  for (const name in headers) {
    count++;
    const k = nameBytes(name).length;
    const v = (headers[name] as Buffer).length;
    n += varintSize(k) + k + varintSize(v) + v;
  }
  return n + varintSize(count);
}

/**
 * Exact encoded size of one record inside an uncompressed batch (length field included), for a
 * record at `offsetDelta` whose timestamp is `timestampDelta` ms after the batch's first. A batch of
 * only this record is BATCH_OVERHEAD_V2 + recordSizeV2(r) bytes before compression.
 */
export function recordSizeV2(r: RecordFields, offsetDelta = 0, timestampDelta = 0): number {
  const body = bodySize(r, offsetDelta, timestampDelta);
  return varintSize(body) + body;
}

function putRecord(buf: Buffer, at: number, r: RecordFields, body: number, od: number, td: number): number {
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
  let count = 0;
  for (const _ in headers) count++;
  at = putVarint(buf, count, at);
  for (const name in headers) {
    const k = nameBytes(name);
    const v = headers[name] as Buffer;
    at = putVarint(buf, k.length, at);
    buf.set(k, at);
    at += k.length;
    at = putVarint(buf, v.length, at);
    buf.set(v, at);
    at += v.length;
  }
  return at;
}

/**
 * Seals records (offsets baseOffset, baseOffset + 1, …) into one batch, compressed once with `codec`.
 * Throws RECORD_TOO_LARGE unless it gets 1 to 2^31-1 records (lastOffsetDelta is an int32).
 */
export function encodeBatch(
  baseOffset: number,
  records: readonly RecordFields[],
  codec: Compression,
): Buffer {
  return sealBatch(baseOffset, records, codec).batch;
}

/** encodeBatch, also returning the batch's uncompressed size (what batchRawBytes reads back). */
export function sealBatch(
  baseOffset: number,
  records: readonly RecordFields[],
  codec: Compression,
): { batch: Buffer; rawBytes: number } {
  const open = openBatch(baseOffset, records, codec === 'none');
  const batch = frameBatch(open, codec, codec === 'none' ? open.records : compress(codec, open.records));
  return { batch, rawBytes: open.rawBytes };
}

/**
 * sealBatch with gzip and zstd compressed on libuv's thread pool (node:zlib async), so a commit's
 * compression never runs on the event loop; the other codecs are fast and run inline.
 */
export async function sealBatchAsync(
  baseOffset: number,
  records: readonly RecordFields[],
  codec: Compression,
): Promise<{ batch: Buffer; rawBytes: number }> {
  const open = openBatch(baseOffset, records, codec === 'none');
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
function openBatch(baseOffset: number, records: readonly RecordFields[], inPlace: boolean): OpenBatch {
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
    const body = bodySize(r, i, r.timestamp - baseTs);
    bodies[i] = body;
    size += varintSize(body) + body;
  }
  const frame = inPlace ? Buffer.allocUnsafe(BATCH_OVERHEAD_V2 + size) : null;
  const out = frame === null ? Buffer.allocUnsafe(size) : frame.subarray(BATCH_OVERHEAD_V2);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i] as RecordFields;
    at = putRecord(out, at, r, bodies[i] as number, i, r.timestamp - baseTs);
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
  batch.writeInt32BE(-1, 12);
  batch[MAGIC_AT] = RECORD_V2_MAGIC;
  batch.writeInt16BE(COMPRESSION_BITS[codec], ATTRIBUTES_AT);
  batch.writeInt32BE(open.n - 1, LAST_DELTA_AT);
  batch.writeBigInt64BE(BigInt(open.baseTs), BASE_TS_AT);
  batch.writeBigInt64BE(BigInt(open.maxTs), MAX_TS_AT);
  batch.writeBigInt64BE(-1n, 43);
  batch.writeInt16BE(-1, 51);
  batch.writeInt32BE(-1, 53);
  batch.writeInt32BE(open.n, COUNT_AT);
  batch.writeUInt32BE(crc32c(batch.subarray(ATTRIBUTES_AT)), CRC_AT);
  return batch;
}

function corrupt(reason: string): OutpostError {
  return new OutpostError('RECORD_CORRUPT', `record-v2 corrupt: ${reason}`, { reason });
}

function int64(buf: Buffer, at: number): number {
  const v = buf.readBigInt64BE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw corrupt(`64-bit field at ${at} beyond 2^53`);
  }
  return Number(v);
}

/** True when `buf` looks like a record-v2 batch (a record-v1 value starts with 0x01, a batch with 0x00). */
export function isBatchV2(buf: Buffer): boolean {
  return buf.length >= BATCH_OVERHEAD_V2 && buf[0] === 0 && buf[MAGIC_AT] === RECORD_V2_MAGIC;
}

export function peekBatch(buf: Buffer): BatchHeader {
  if (buf.length < BATCH_OVERHEAD_V2) throw corrupt(`short batch (${buf.length} bytes)`);
  const bits = buf.readInt16BE(ATTRIBUTES_AT) & 0x07;
  const compression = compressionOf(bits);
  if (compression === undefined) {
    throw new OutpostError('FORMAT_UNSUPPORTED', `record-v2 compression ${bits} is unknown`, {
      reason: `compression ${bits}`,
    });
  }
  return {
    baseOffset: int64(buf, 0),
    count: buf.readInt32BE(LAST_DELTA_AT) + 1,
    baseTimestamp: int64(buf, BASE_TS_AT),
    maxTimestamp: int64(buf, MAX_TS_AT),
    compression,
  };
}

/** Uncompressed size of a zstd frame from its header (RFC 8878 §3.1.1.1), or undefined when absent. */
function zstdContentSize(f: Buffer): number | undefined {
  if (f.length < 6 || f.readUInt32LE(0) !== 0xfd2fb528) return undefined;
  const d = f[4] as number;
  const single = (d & 0x20) !== 0;
  const fcsFlag = d >> 6;
  const at = 5 + (single ? 0 : 1) + ([0, 1, 2, 4][d & 0x03] as number);
  const size = fcsFlag === 0 ? (single ? 1 : 0) : 1 << fcsFlag;
  if (size === 0 || at + size > f.length) return undefined;
  if (size === 1) return f[at] as number;
  if (size === 2) return f.readUInt16LE(at) + 256;
  if (size === 4) return f.readUInt32LE(at);
  return Number(f.readBigUInt64LE(at));
}

/**
 * Size the batch would have uncompressed (header + records), for stored-versus-raw figures. Read
 * from the codec's own size fields where it has them (zstd frame content size, gzip ISIZE);
 * snappy and lz4 are decompressed (fast, and only done on open, deletion and reports).
 */
export function batchRawBytes(buf: Buffer): number {
  const h = peekBatch(buf);
  const packed = buf.subarray(BATCH_OVERHEAD_V2);
  let raw: number | undefined;
  if (h.compression === 'none') raw = packed.length;
  else if (h.compression === 'zstd') raw = zstdContentSize(packed);
  else if (h.compression === 'gzip' && packed.length >= 18) raw = packed.readUInt32LE(packed.length - 4);
  raw ??= decompress(h.compression, packed, MAX_DECOMPRESSED).length;
  return BATCH_OVERHEAD_V2 + raw;
}

/**
 * Checks and decodes one batch. Key, header values and value never alias `buf` (safe to keep after
 * LMDB reuses its read buffer). Throws RECORD_CORRUPT or FORMAT_UNSUPPORTED; callers add where.
 */
export function decodeBatch(buf: Buffer): BatchRecord[] {
  if (buf.length < BATCH_OVERHEAD_V2) throw corrupt(`short batch (${buf.length} bytes)`);
  if (buf[MAGIC_AT] !== RECORD_V2_MAGIC) {
    throw new OutpostError('FORMAT_UNSUPPORTED', `record batch magic ${buf[MAGIC_AT]} is not 2`, {
      reason: `magic ${buf[MAGIC_AT]}`,
    });
  }
  if (buf.readInt32BE(LENGTH_AT) !== buf.length - LOG_OVERHEAD) throw corrupt('batchLength does not match');
  if (crc32c(buf.subarray(ATTRIBUTES_AT)) !== buf.readUInt32BE(CRC_AT)) throw corrupt('checksum mismatch');
  const h = peekBatch(buf);
  const n = buf.readInt32BE(COUNT_AT);
  if (n < 0 || n > buf.length) throw corrupt(`records count ${n}`);
  const packed = buf.subarray(BATCH_OVERHEAD_V2);
  const data = h.compression === 'none' ? packed : decompress(h.compression, packed, MAX_DECOMPRESSED);
  const copy = h.compression === 'none';
  const out: BatchRecord[] = new Array(n);
  let at = 0;
  const end = data.length;
  const varint = (): number => {
    let z = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (at >= end) throw corrupt('varint runs past the end');
      const b = data[at++] as number;
      z += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (z > Number.MAX_SAFE_INTEGER) throw corrupt('varint beyond 2^53');
        return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      }
      mul *= 128;
    }
    throw corrupt('varint longer than 10 bytes');
  };
  const bytes = (len: number): Buffer => {
    if (len < 0 || at + len > end) throw corrupt('length field points past the end');
    const b = data.subarray(at, at + len);
    at += len;
    return copy ? Buffer.from(b) : b;
  };
  for (let i = 0; i < n; i++) {
    const length = varint();
    const recordEnd = at + length;
    if (length < 1 || recordEnd > end) throw corrupt('record length points past the end');
    at++; // attributes
    const timestamp = h.baseTimestamp + varint();
    const offset = h.baseOffset + varint();
    const keyLen = varint();
    const key = keyLen === -1 ? null : bytes(keyLen);
    const valueLen = varint();
    const value = valueLen === -1 ? Buffer.alloc(0) : bytes(valueLen);
    const hc = varint();
    if (hc < 0) throw corrupt(`headers count ${hc}`);
    const headers: Headers = {};
    for (let j = 0; j < hc; j++) {
      const kLen = varint();
      if (kLen < 0 || at + kLen > end) throw corrupt('header key length points past the end');
      const name = data.toString('utf8', at, at + kLen);
      at += kLen;
      const vLen = varint();
      headers[name] = vLen === -1 ? Buffer.alloc(0) : bytes(vLen);
    }
    if (at !== recordEnd) throw corrupt('record length does not match its fields');
    out[i] = { offset, timestamp, key, headers, value };
  }
  if (at !== end) throw corrupt('trailing bytes after the last record');
  if (n > 0 && (out[n - 1] as BatchRecord).offset !== h.baseOffset + h.count - 1) {
    throw corrupt('lastOffsetDelta does not match the last record');
  }
  return out;
}
