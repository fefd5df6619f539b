import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { isOutpostError } from '../../src/errors.ts';
import { decodeRecord, encodeRecord, RECORD_V1 } from '../../src/log/index.ts';

// Hex computed independently (Python zlib.crc32 over the body), see the layout in record-v1.ts.
const FIXED_HEX = '01d5365e4b0000000102030405000000016b00010001680000000176000000026869';
const FIXED_NULL_KEY_HEX = '017b6e58c40000000000000000ffffffff000000000000';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isOutpostError(err) ? err.code : `not an OutpostError: ${String(err)}`;
  }
  return undefined;
}

describe('log › record-v1 codec', () => {
  test('encodes a record to the documented fixed bytes', () => {
    const buf = encodeRecord({
      timestamp: 0x0102030405,
      key: Buffer.from('k'),
      headers: { h: Buffer.from('v') },
      value: Buffer.from('hi'),
    });
    expect(buf.toString('hex')).toBe(FIXED_HEX);
    expect(buf[0]).toBe(RECORD_V1);
  });

  test('encodes a null key, no headers and an empty value to the documented fixed bytes', () => {
    const buf = encodeRecord({ timestamp: 0, key: null, headers: {}, value: Buffer.alloc(0) });
    expect(buf.toString('hex')).toBe(FIXED_NULL_KEY_HEX);
  });

  test('decodes the fixed bytes back to the record', () => {
    const r = decodeRecord(Buffer.from(FIXED_HEX, 'hex'));
    expect(r.timestamp).toBe(0x0102030405);
    expect(r.key?.toString()).toBe('k');
    expect(Object.keys(r.headers)).toEqual(['h']);
    expect(r.headers['h']?.toString()).toBe('v');
    expect(r.value.toString()).toBe('hi');
    expect(decodeRecord(Buffer.from(FIXED_NULL_KEY_HEX, 'hex')).key).toBeNull();
  });

  test('round-trips random records (keys, UTF-8 header names, binary values, negative timestamps)', () => {
    for (let i = 0; i < 300; i++) {
      const headers: Record<string, Buffer> = {};
      for (let h = 0; h < i % 5; h++) headers[`näme-${h}-${i}`] = randomBytes(h * 7);
      const rec = {
        timestamp: (i % 2 === 0 ? 1 : -1) * Math.floor(Math.random() * 2 ** 50),
        key: i % 3 === 0 ? null : randomBytes(i % 40),
        headers,
        value: randomBytes((i * 37) % 3000),
      };
      const back = decodeRecord(encodeRecord(rec));
      expect(back.timestamp).toBe(rec.timestamp);
      expect(back.key === null ? null : back.key.toString('hex')).toBe(
        rec.key === null ? null : rec.key.toString('hex'),
      );
      expect(back.value.equals(rec.value)).toBe(true);
      expect(Object.keys(back.headers)).toEqual(Object.keys(headers));
      for (const [k, v] of Object.entries(headers)) expect(back.headers[k]?.equals(v)).toBe(true);
    }
  });

  test('detects a flipped bit anywhere in the record as RECORD_CORRUPT', () => {
    const good = Buffer.from(FIXED_HEX, 'hex');
    for (let at = 1; at < good.length; at++) {
      const bad = Buffer.from(good);
      bad[at] = (bad[at] as number) ^ 0x10;
      expect(
        codeOf(() => decodeRecord(bad)),
        `byte ${at}`,
      ).toBe('RECORD_CORRUPT');
    }
  });

  test('refuses truncated and extended buffers as RECORD_CORRUPT', () => {
    const good = Buffer.from(FIXED_HEX, 'hex');
    expect(codeOf(() => decodeRecord(good.subarray(0, good.length - 1)))).toBe('RECORD_CORRUPT');
    expect(codeOf(() => decodeRecord(good.subarray(0, 10)))).toBe('RECORD_CORRUPT');
    expect(codeOf(() => decodeRecord(Buffer.concat([good, Buffer.from([0])])))).toBe('RECORD_CORRUPT');
  });

  test('encodes header names the same way however often they repeat or change', () => {
    // The encoder caches the UTF-8 bytes of header names (bounded, cleared when full): a record must
    // encode to the same bytes whether its names were seen before, are new, or were evicted.
    const rec = (i: number) => ({
      timestamp: 1_700_000_000_000 + i,
      key: Buffer.from(`dev-${i % 7}`),
      headers: {
        'mqtt.qos': Buffer.from('1'),
        [`x-€-${i}`]: Buffer.from([i & 0xff]),
        'client.id': Buffer.from('c'),
      },
      value: Buffer.alloc(40 + (i % 50), i & 0xff),
    });
    const first = Array.from({ length: 3000 }, (_, i) => encodeRecord(rec(i)));
    for (let i = 2999; i >= 0; i -= 7) {
      const again = encodeRecord(rec(i));
      expect(again.equals(first[i] as Buffer), `record ${i}`).toBe(true);
      const back = decodeRecord(again);
      expect(Object.keys(back.headers)).toEqual(['mqtt.qos', `x-€-${i}`, 'client.id']);
      expect(back.headers[`x-€-${i}`]?.[0]).toBe(i & 0xff);
    }
  });

  test('refuses a header name longer than 65535 bytes as RECORD_TOO_LARGE', () => {
    const name = 'n'.repeat(0x10000);
    const r = { timestamp: 0, key: null, headers: { [name]: Buffer.from('v') }, value: Buffer.alloc(0) };
    expect(codeOf(() => encodeRecord(r))).toBe('RECORD_TOO_LARGE');
  });

  test('refuses an unknown version byte as FORMAT_UNSUPPORTED', () => {
    const bad = Buffer.from(FIXED_HEX, 'hex');
    bad[0] = 2;
    expect(codeOf(() => decodeRecord(bad))).toBe('FORMAT_UNSUPPORTED');
  });
});
