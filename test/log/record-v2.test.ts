import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { isOutpostError } from '../../src/errors.ts';
import { COMPRESSIONS } from '../../src/log/codec/compression.ts';
import { encodeRecord } from '../../src/log/codec/record-v1.ts';
import {
  BATCH_OVERHEAD_V2,
  encodeBatch,
  type RecordFields,
  recordSizeV2,
} from '../../src/log/codec/record-v2.ts';
import { decodeBatch, isBatchV2, peekBatch } from '../../src/log/codec/record-v2-read.ts';

// Worked by hand from the layout in record-v2.ts; the CRC-32C by a bitwise Python loop
// (reflected polynomial 0x82F63B78, checked against the standard "123456789" → e3069283).
const FIXED_HEX = [
  '0000000000000005', // baseOffset 5
  '00000047', // batchLength 71 = 83 - 12
  'ffffffff', // partitionLeaderEpoch -1
  '02', // magic
  'f5ea068a', // crc32c of bytes [21, 83)
  '0000', // attributes: no compression, CreateTime
  '00000001', // lastOffsetDelta
  '00000000000003e8', // baseTimestamp 1000
  '00000000000003e8', // maxTimestamp 1000
  'ffffffffffffffff', // producerId -1
  'ffff', // producerEpoch -1
  'ffffffff', // baseSequence -1
  '00000002', // records count
  // record 0: length 12, attrs, tsDelta 0, offsetDelta 0, key "k", value "v", 1 header h=x
  '18' + '00' + '00' + '00' + '02' + '6b' + '02' + '76' + '02' + '02' + '68' + '02' + '78',
  // record 1: length 8, attrs, tsDelta -2 (zigzag 3), offsetDelta 1, null key, value "ab", 0 headers
  '10' + '00' + '03' + '02' + '01' + '04' + '6162' + '00',
].join('');

const FIXED: RecordFields[] = [
  { timestamp: 1000, key: Buffer.from('k'), headers: { h: Buffer.from('x') }, value: Buffer.from('v') },
  { timestamp: 998, key: null, headers: {}, value: Buffer.from('ab') },
];

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isOutpostError(err) ? err.code : `not an OutpostError: ${String(err)}`;
  }
  return undefined;
}

const hex = (b: Buffer | null) => (b === null ? null : b.toString('hex'));
const plain = (r: RecordFields & { offset?: number }) => ({
  offset: r.offset,
  timestamp: r.timestamp,
  key: hex(r.key),
  value: hex(r.value),
  headers: Object.entries(r.headers).map(([k, v]) => [k, hex(v)]),
});

describe('log › record-v2 codec', () => {
  test('encodes a two-record batch to the hand-computed fixed bytes', () => {
    expect(encodeBatch(5, FIXED, 'none').toString('hex')).toBe(FIXED_HEX);
  });

  test('decodes the fixed bytes back to offsets, timestamps, keys, values and headers', () => {
    const records = decodeBatch(Buffer.from(FIXED_HEX, 'hex'));
    expect(records.map(plain)).toEqual([
      { offset: 5, timestamp: 1000, key: hex(Buffer.from('k')), value: '76', headers: [['h', '78']] },
      { offset: 6, timestamp: 998, key: null, value: '6162', headers: [] },
    ]);
    expect(peekBatch(Buffer.from(FIXED_HEX, 'hex'))).toEqual({
      baseOffset: 5,
      count: 2,
      baseTimestamp: 1000,
      maxTimestamp: 1000,
      compression: 'none',
    });
  });

  test('recordSizeV2 is the exact size of each record inside the batch', () => {
    const expected =
      BATCH_OVERHEAD_V2 +
      recordSizeV2(FIXED[0] as RecordFields, 0, 0) +
      recordSizeV2(FIXED[1] as RecordFields, 1, -2);
    expect(expected).toBe(FIXED_HEX.length / 2);
    const big: RecordFields = {
      timestamp: 0,
      key: randomBytes(200),
      headers: { 'mqtt.qos': Buffer.from('1') },
      value: randomBytes(70_000),
    };
    expect(encodeBatch(0, [big], 'none').length).toBe(BATCH_OVERHEAD_V2 + recordSizeV2(big));
  });

  for (const codec of COMPRESSIONS) {
    test(`round-trips random batches compressed with ${codec}`, () => {
      for (let b = 0; b < 20; b++) {
        const records: RecordFields[] = [];
        const n = 1 + ((b * 7) % 60);
        for (let i = 0; i < n; i++) {
          const headers: Record<string, Buffer> = {};
          for (let h = 0; h < i % 4; h++) headers[`näme-${h}`] = randomBytes(h * 5);
          records.push({
            timestamp: 1_700_000_000_000 + ((i * 7919) % 5000) - 2500,
            key: i % 3 === 0 ? null : randomBytes(i % 30),
            headers,
            // compressible JSON-ish telemetry plus random bytes
            value: Buffer.concat([
              Buffer.from(`{"t":${i},"temp":21.${i % 10}}`.repeat(1 + (i % 9))),
              randomBytes(i % 17),
            ]),
          });
        }
        const base = b * 1_000_003;
        const buf = encodeBatch(base, records, codec);
        expect(isBatchV2(buf)).toBe(true);
        const h = peekBatch(buf);
        expect(h.compression).toBe(codec);
        expect(h.count).toBe(n);
        expect(h.maxTimestamp).toBe(Math.max(...records.map((r) => r.timestamp)));
        expect(decodeBatch(buf).map(plain)).toEqual(records.map((r, i) => plain({ ...r, offset: base + i })));
      }
    });
  }

  test('compression shrinks repetitive telemetry (zstd below a quarter of raw)', () => {
    const records: RecordFields[] = Array.from({ length: 50 }, (_, i) => ({
      timestamp: 1_700_000_000_000 + i,
      key: Buffer.from(`device-${i % 5}`),
      headers: { 'mqtt.qos': Buffer.from('1'), 'client.id': Buffer.from(`device-${i % 5}`) },
      value: Buffer.from(
        JSON.stringify({ device: `device-${i % 5}`, seq: i, temp: 21.5, rssi: -71, ok: true }),
      ),
    }));
    const raw = encodeBatch(0, records, 'none').length;
    expect(encodeBatch(0, records, 'zstd').length).toBeLessThan(raw / 4);
    for (const codec of ['gzip', 'lz4', 'snappy'] as const) {
      expect(encodeBatch(0, records, codec).length).toBeLessThan(raw);
    }
  });

  test('a flipped bit, a short buffer or trailing bytes are RECORD_CORRUPT; another magic is FORMAT_UNSUPPORTED', () => {
    const good = encodeBatch(7, FIXED, 'zstd');
    for (let i = 21; i < good.length; i++) {
      const bad = Buffer.from(good);
      bad[i] = (bad[i] as number) ^ 0x10;
      expect(codeOf(() => decodeBatch(bad))).toBe('RECORD_CORRUPT');
    }
    expect(codeOf(() => decodeBatch(good.subarray(0, good.length - 1)))).toBe('RECORD_CORRUPT');
    expect(codeOf(() => decodeBatch(good.subarray(0, 40)))).toBe('RECORD_CORRUPT');
    expect(codeOf(() => decodeBatch(Buffer.concat([good, Buffer.from([0])])))).toBe('RECORD_CORRUPT');
    const magic1 = Buffer.from(good);
    magic1[16] = 1;
    expect(codeOf(() => decodeBatch(magic1))).toBe('FORMAT_UNSUPPORTED');
  });

  test('a record-v1 value is never taken for a batch', () => {
    const v1 = encodeRecord({ timestamp: 0, key: null, headers: {}, value: Buffer.alloc(100) });
    expect(isBatchV2(v1)).toBe(false);
    expect(isBatchV2(encodeBatch(0, FIXED, 'none'))).toBe(true);
  });

  test('an empty batch is refused', () => {
    expect(codeOf(() => encodeBatch(0, [], 'none'))).toBe('RECORD_TOO_LARGE');
  });
});

describe('log › record-v2 raw size', () => {
  test('batchRawBytes is the uncompressed batch size for every codec', async () => {
    const { batchRawBytes } = await import('../../src/log/codec/record-v2-read.ts');
    const records: RecordFields[] = Array.from({ length: 30 }, (_, i) => ({
      timestamp: i,
      key: null,
      headers: { q: Buffer.from('1') },
      value: Buffer.from(`{"reading":${i},"unit":"C"}`.repeat(3 + (i % 5))),
    }));
    const raw = encodeBatch(9, records, 'none').length;
    for (const codec of COMPRESSIONS) expect(batchRawBytes(encodeBatch(9, records, codec)), codec).toBe(raw);
  });
});
