/**
 * record-v1: the on-disk encoding of one log record (the LMDB value; topic, partition and offset
 * live in the key, see ../store.ts). Raw binary, big-endian, no msgpack.
 *
 * Byte layout (offsets in bytes):
 *
 *   0      u8      version             = 0x01
 *   1      u32     crc                 CRC-32 (IEEE, zlib `crc32`) of bytes [5, end)
 *   5      i64     timestamp           epoch ms (two's complement; written as hi i32 + lo u32)
 *   13     i32     keyLength           -1 = null key, else number of key bytes
 *   17     bytes   key                 keyLength bytes (absent when null)
 *   .      u16     headerCount
 *   .      repeated headerCount times:
 *            u16   nameLength
 *            bytes name                UTF-8
 *            u32   valueLength
 *            bytes value
 *   .      u32     valueLength
 *   .      bytes   value
 *
 * The record ends exactly after the value: trailing bytes, a short buffer or a CRC mismatch are
 * RECORD_CORRUPT; any other version byte is FORMAT_UNSUPPORTED.
 */
import { crc32 } from 'node:zlib';
import { OutpostError } from '../../errors.ts';
import type { Headers } from '../types.ts';

export const RECORD_V1 = 0x01;
const CRC_AT = 1;
const BODY_AT = 5;
const TS_AT = 5;
const FIXED_BYTES = 1 + 4 + 8 + 4 + 2 + 4;
const TWO_32 = 2 ** 32;

export interface RecordFields {
  timestamp: number;
  key: Buffer | null;
  headers: Headers;
  value: Buffer;
}

/**
 * UTF-8 bytes of header names. Header names repeat on every record (`mqtt.qos`, `client.id`, …):
 * encoding each once saves a UTF-8 conversion per header per record on the append path. Bounded:
 * when full it is cleared and refills with the names in use.
 */
const NAME_CACHE_MAX = 1024;
const nameCache = new Map<string, Buffer>();

function nameBytes(name: string): Buffer {
  let b = nameCache.get(name);
  if (b === undefined) {
    b = Buffer.from(name, 'utf8');
    if (b.length > 0xffff) throw new OutpostError('RECORD_TOO_LARGE', 'header name longer than 65535 bytes');
    if (nameCache.size >= NAME_CACHE_MAX) nameCache.clear();
    nameCache.set(name, b);
  }
  return b;
}

/** Below this many bytes a plain loop beats Buffer#copy's call overhead (names, header values). */
const SMALL_COPY = 32;

function put(dst: Buffer, src: Uint8Array, at: number): number {
  const n = src.length;
  if (n < SMALL_COPY) for (let i = 0; i < n; i++) dst[at + i] = src[i] as number;
  else dst.set(src, at);
  return at + n;
}

function putU32(buf: Buffer, v: number, at: number): number {
  buf[at] = v >>> 24;
  buf[at + 1] = v >>> 16;
  buf[at + 2] = v >>> 8;
  buf[at + 3] = v;
  return at + 4;
}

function putU16(buf: Buffer, v: number, at: number): number {
  buf[at] = v >>> 8;
  buf[at + 1] = v;
  return at + 2;
}

export function encodeRecord(r: RecordFields): Buffer {
  const headers = r.headers;
  let count = 0;
  let size = FIXED_BYTES + (r.key?.length ?? 0) + r.value.length;
  for (const name in headers) {
    count++;
    size += 6 + nameBytes(name).length + (headers[name] as Buffer).length;
  }
  if (count > 0xffff) throw new OutpostError('RECORD_TOO_LARGE', 'more than 65535 headers');
  const buf = Buffer.allocUnsafe(size);
  buf[0] = RECORD_V1;
  const ts = r.timestamp;
  let at = putU32(buf, Math.floor(ts / TWO_32) >>> 0, TS_AT); // hi i32, two's complement
  at = putU32(buf, ts >>> 0, at);
  if (r.key === null) {
    at = putU32(buf, 0xffffffff, at); // i32 -1
  } else {
    at = putU32(buf, r.key.length, at);
    at = put(buf, r.key, at);
  }
  at = putU16(buf, count, at);
  for (const name in headers) {
    const n = nameBytes(name);
    at = putU16(buf, n.length, at);
    at = put(buf, n, at);
    const v = headers[name] as Buffer;
    at = putU32(buf, v.length, at);
    at = put(buf, v, at);
  }
  at = putU32(buf, r.value.length, at);
  put(buf, r.value, at);
  putU32(buf, crc32(buf.subarray(BODY_AT)), CRC_AT);
  return buf;
}

function corrupt(reason: string): OutpostError {
  return new OutpostError('RECORD_CORRUPT', `record-v1 corrupt: ${reason}`, { reason });
}

/**
 * Decodes a record-v1 buffer. Key, header values and value are copies (safe to keep after LMDB
 * reuses its read buffer). Throws RECORD_CORRUPT or FORMAT_UNSUPPORTED; callers add topic/partition/offset.
 */
export function decodeRecord(buf: Buffer): RecordFields {
  if (buf.length < FIXED_BYTES) throw corrupt(`short buffer (${buf.length} bytes)`);
  if (buf[0] !== RECORD_V1) {
    throw new OutpostError('FORMAT_UNSUPPORTED', `unknown record format version ${buf[0]}`, {
      reason: `version ${buf[0]}`,
    });
  }
  if (crc32(buf.subarray(BODY_AT)) !== buf.readUInt32BE(CRC_AT)) throw corrupt('checksum mismatch');
  const timestamp = buf.readInt32BE(TS_AT) * TWO_32 + buf.readUInt32BE(TS_AT + 4);
  let at = TS_AT + 8;
  const need = (n: number) => {
    if (at + n > buf.length) throw corrupt('length field points past the end');
  };
  const keyLen = buf.readInt32BE(at);
  at += 4;
  let key: Buffer | null = null;
  if (keyLen >= 0) {
    need(keyLen);
    key = Buffer.from(buf.subarray(at, at + keyLen));
    at += keyLen;
  } else if (keyLen !== -1) throw corrupt(`key length ${keyLen}`);
  need(2);
  const count = buf.readUInt16BE(at);
  at += 2;
  const headers: Headers = {};
  for (let i = 0; i < count; i++) {
    need(2);
    const nameLen = buf.readUInt16BE(at);
    at += 2;
    need(nameLen + 4);
    const name = buf.toString('utf8', at, at + nameLen);
    at += nameLen;
    const vLen = buf.readUInt32BE(at);
    at += 4;
    need(vLen);
    headers[name] = Buffer.from(buf.subarray(at, at + vLen));
    at += vLen;
  }
  need(4);
  const valueLen = buf.readUInt32BE(at);
  at += 4;
  if (at + valueLen !== buf.length) throw corrupt('value length does not match the record end');
  const value = Buffer.from(buf.subarray(at));
  return { timestamp, key, headers, value };
}

/** Timestamp of an encoded record without decoding or checking it (retention scans). */
export function peekTimestamp(buf: Buffer): number {
  return buf.readInt32BE(TS_AT) * TWO_32 + buf.readUInt32BE(TS_AT + 4);
}
