/**
 * record-v1: the on-disk encoding of one log record (the LMDB value; topic, partition and offset
 * live in the key, see ../keys.ts). Raw binary, big-endian, no msgpack.
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

/** Size of the encoding of `r`, without encoding it. */
export function encodedSize(r: RecordFields): number {
  let n = FIXED_BYTES + (r.key?.length ?? 0) + r.value.length;
  for (const name in r.headers) n += 2 + Buffer.byteLength(name) + 4 + (r.headers[name]?.length ?? 0);
  return n;
}

export function encodeRecord(r: RecordFields): Buffer {
  const buf = Buffer.allocUnsafe(encodedSize(r));
  buf[0] = RECORD_V1;
  const ts = r.timestamp;
  buf.writeInt32BE(Math.floor(ts / TWO_32), TS_AT);
  buf.writeUInt32BE(ts >>> 0, TS_AT + 4);
  let at = TS_AT + 8;
  if (r.key === null) {
    buf.writeInt32BE(-1, at);
    at += 4;
  } else {
    buf.writeInt32BE(r.key.length, at);
    at += 4;
    at += r.key.copy(buf, at);
  }
  const names = headerNames(r.headers);
  if (names.length > 0xffff) throw new OutpostError('RECORD_TOO_LARGE', 'more than 65535 headers');
  buf.writeUInt16BE(names.length, at);
  at += 2;
  for (const name of names) {
    const len = buf.write(name, at + 2, 'utf8');
    if (len > 0xffff) throw new OutpostError('RECORD_TOO_LARGE', 'header name longer than 65535 bytes');
    buf.writeUInt16BE(len, at);
    at += 2 + len;
    const v = r.headers[name] as Buffer;
    buf.writeUInt32BE(v.length, at);
    at += 4;
    at += v.copy(buf, at);
  }
  buf.writeUInt32BE(r.value.length, at);
  at += 4;
  r.value.copy(buf, at);
  buf.writeUInt32BE(crc32(buf.subarray(BODY_AT)), CRC_AT);
  return buf;
}

const NO_NAMES: string[] = [];
function headerNames(h: Headers): string[] {
  for (const _ in h) return Object.keys(h);
  return NO_NAMES;
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
