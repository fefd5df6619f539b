/**
 * Reading record-v2 batches (layout in record-v2.ts): the header peek, the uncompressed size and the
 * checked decode.
 */
import { crc32c } from '@node-rs/crc32';
import { OutpostError } from '../../errors.ts';
import type { Headers } from '../types.ts';
import { compressionOf, decompress } from './compression.ts';
import {
  ATTRIBUTES_AT,
  BASE_TS_AT,
  BATCH_OVERHEAD_V2,
  type BatchHeader,
  type BatchRecord,
  CODEC_MASK,
  COUNT_AT,
  CRC_AT,
  LAST_DELTA_AT,
  LENGTH_AT,
  LOG_OVERHEAD,
  MAGIC_AT,
  MAX_DECOMPRESSED,
  MAX_TS_AT,
  RECORD_V2_MAGIC,
  STAMP_ID_HEADER,
  STAMP_OFFSET_HEADER,
} from './record-v2.ts';

function corrupt(reason: string): OutpostError {
  return new OutpostError('RECORD_CORRUPT', `record-v2 corrupt: ${reason}`, { reason });
}

/** A 64-bit header field as a number; beyond ±2^53 it is damage (`fail`, RECORD_CORRUPT by default). */
export function int64(buf: Buffer, at: number, fail: (reason: string) => Error = corrupt): number {
  const v = buf.readBigInt64BE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw fail(`64-bit field at ${at} beyond 2^53`);
  }
  return Number(v);
}

/** Reads the zigzag varints of a records section; `at` moves past each (callers move it past bytes). */
export class VarintReader {
  at = 0;
  readonly #data: Buffer;
  readonly #fail: (reason: string) => Error;

  constructor(data: Buffer, fail: (reason: string) => Error = corrupt) {
    this.#data = data;
    this.#fail = fail;
  }

  next(): number {
    const d = this.#data;
    let z = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= d.length) throw this.#fail('varint runs past the end');
      const b = d[this.at++] as number;
      z += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (z > Number.MAX_SAFE_INTEGER) throw this.#fail('varint beyond 2^53');
        return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      }
      mul *= 128;
    }
    throw this.#fail('varint longer than 10 bytes');
  }
}

/**
 * Checks a batch's frame, not its records: size, magic (FORMAT_UNSUPPORTED), batchLength and the
 * CRC-32C of bytes [21, end); damage is `fail` (RECORD_CORRUPT by default).
 */
export function checkFrame(buf: Buffer, fail: (reason: string) => Error = corrupt): void {
  if (buf.length < BATCH_OVERHEAD_V2) throw fail(`short batch (${buf.length} bytes)`);
  if (buf[MAGIC_AT] !== RECORD_V2_MAGIC) {
    throw new OutpostError('FORMAT_UNSUPPORTED', `record batch magic ${buf[MAGIC_AT]} is not 2`, {
      reason: `magic ${buf[MAGIC_AT]}`,
    });
  }
  if (buf.readInt32BE(LENGTH_AT) !== buf.length - LOG_OVERHEAD) throw fail('batchLength does not match');
  if (crc32c(buf.subarray(ATTRIBUTES_AT)) !== buf.readUInt32BE(CRC_AT)) throw fail('checksum mismatch');
}

/** True when `buf` looks like a record-v2 batch (a record-v1 value starts with 0x01, a batch with 0x00). */
export function isBatchV2(buf: Buffer): boolean {
  return buf.length >= BATCH_OVERHEAD_V2 && buf[0] === 0 && buf[MAGIC_AT] === RECORD_V2_MAGIC;
}

export function peekBatch(buf: Buffer): BatchHeader {
  if (buf.length < BATCH_OVERHEAD_V2) throw corrupt(`short batch (${buf.length} bytes)`);
  const bits = buf.readInt16BE(ATTRIBUTES_AT) & CODEC_MASK;
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
 * LMDB reuses its read buffer). With `unstamped`, the stamp's provenance headers are left out (what
 * log reads return). Throws RECORD_CORRUPT or FORMAT_UNSUPPORTED; callers add where.
 */
export function decodeBatch(buf: Buffer, opts: { unstamped?: boolean } = {}): BatchRecord[] {
  const unstamped = opts.unstamped === true;
  checkFrame(buf);
  const h = peekBatch(buf);
  const n = buf.readInt32BE(COUNT_AT);
  if (n < 0 || n > buf.length) throw corrupt(`records count ${n}`);
  const packed = buf.subarray(BATCH_OVERHEAD_V2);
  const data = h.compression === 'none' ? packed : decompress(h.compression, packed, MAX_DECOMPRESSED);
  const copy = h.compression === 'none';
  const out: BatchRecord[] = new Array(n);
  const r = new VarintReader(data);
  const end = data.length;
  const varint = (): number => r.next();
  const bytes = (len: number): Buffer => {
    if (len < 0 || r.at + len > end) throw corrupt('length field points past the end');
    const b = data.subarray(r.at, r.at + len);
    r.at += len;
    return copy ? Buffer.from(b) : b;
  };
  for (let i = 0; i < n; i++) {
    const length = varint();
    const recordEnd = r.at + length;
    if (length < 1 || recordEnd > end) throw corrupt('record length points past the end');
    r.at++; // attributes
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
      if (kLen < 0 || r.at + kLen > end) throw corrupt('header key length points past the end');
      const name = data.toString('utf8', r.at, r.at + kLen);
      r.at += kLen;
      const vLen = varint();
      const v = vLen === -1 ? Buffer.alloc(0) : bytes(vLen);
      if (unstamped && (name === STAMP_ID_HEADER || name === STAMP_OFFSET_HEADER)) continue;
      headers[name] = v;
    }
    if (r.at !== recordEnd) throw corrupt('record length does not match its fields');
    out[i] = { offset, timestamp, key, headers, value };
  }
  if (r.at !== end) throw corrupt('trailing bytes after the last record');
  if (n > 0 && (out[n - 1] as BatchRecord).offset !== h.baseOffset + h.count - 1) {
    throw corrupt('lastOffsetDelta does not match the last record');
  }
  return out;
}
