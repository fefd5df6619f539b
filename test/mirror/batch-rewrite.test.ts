/**
 * The raw produce path's batch rewrites (src/mirror/wire/batch-rewrite.ts): fixed bytes worked by
 * hand from the record-v2 layout (CRC-32C by a bitwise Python loop, reflected polynomial 0x82F63B78,
 * which gives the log's own fixed batch f5ea068a too), round trips through the log's codec, and
 * Kafka's own MemoryRecords reading the coalesced batches.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32c } from '@node-rs/crc32';
import { describe, expect, onTestFinished, test } from 'vitest';
import { isOutpostError } from '../../src/errors.ts';
import { COMPRESSIONS, type Compression, decodeBatch, encodeBatch } from '../../src/log/index.ts';
import { coalesce, forProducer, recompress } from '../../src/mirror/wire/batch-rewrite.ts';
import { runJava } from '../kafka/java.ts';

const here = dirname(fileURLToPath(import.meta.url));

type Rec = Parameters<typeof encodeBatch>[1][number];

const HEAD = (base: string, length: string, crc: string, lod: string, bts: string, mts: string, n: string) =>
  `${base}${length}ffffffff02${crc}0000${lod}${bts}${mts}ffffffffffffffffffffffffffff${n}`;
// record 0: length 12, attrs, tsDelta 0, offsetDelta 0, key "k", value "v", 1 header h=x
const R0 = '18000000026b02760202680278';
// record 1: length 8, attrs, tsDelta -2 (zigzag 3), offsetDelta 1, null key, value "ab", 0 headers
const R1 = '1000030201046162' + '00';
/** The log's own fixed batch (test/log/record-v2.test.ts): offsets 5-6. */
const A_HEX =
  HEAD(
    '0000000000000005',
    '00000047',
    'f5ea068a',
    '00000001',
    '00000000000003e8',
    '00000000000003e8',
    '00000002',
  ) +
  R0 +
  R1;
/** Offset 7: length 7, attrs, tsDelta 0, offsetDelta 0, null key, value "z", 0 headers; timestamp 1005. */
const B_HEX =
  HEAD(
    '0000000000000007',
    '00000039',
    'f8337295',
    '00000000',
    '00000000000003ed',
    '00000000000003ed',
    '00000001',
  ) +
  '0e0000000102' +
  '7a00';
/** A + B: record 2 now has tsDelta 5 (zigzag 0a) and offsetDelta 2 (zigzag 04). */
const AB_HEX =
  HEAD(
    '0000000000000005',
    '0000004f',
    '90525281',
    '00000002',
    '00000000000003e8',
    '00000000000003ed',
    '00000003',
  ) +
  R0 +
  R1 +
  '0e000a040102' +
  '7a00';
const A = () => Buffer.from(A_HEX, 'hex');
const B = () => Buffer.from(B_HEX, 'hex');

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isOutpostError(err) ? err.code : `not an OutpostError: ${String(err)}`;
  }
  return undefined;
}

/** Sets the CRC of a batch changed by hand, so that the check under test is the one that fails. */
function reseal(b: Buffer): Buffer {
  b.writeUInt32BE(crc32c(b.subarray(21)), 17);
  return b;
}

/** Deterministic records: null and non-null keys, headers (provenance ones too), timestamps out of order. */
function records(n: number, seed: number): Rec[] {
  return Array.from({ length: n }, (_, i) => {
    const j = seed * 1000 + i;
    const headers: Record<string, Buffer> = {
      'outpost.edge.id': Buffer.from('edge-1'),
      'outpost.edge.offset': Buffer.from(String(j)),
    };
    if (j % 2 === 0) headers['mqtt.qos'] = Buffer.from(String(j % 3));
    if (j % 5 === 1) headers['gerät'] = Buffer.alloc(0);
    return {
      timestamp: 1_760_000_000_000 + seed * 5_000 + ((j * 37) % 11) * 100 - 500,
      key: j % 4 === 0 ? null : Buffer.from(`vehicles/VIN${j % 17}/telemetry`),
      headers,
      value:
        j % 9 === 8
          ? Buffer.alloc(0)
          : Buffer.from(JSON.stringify({ j, speed: j * 1.5 }).repeat(1 + (j % 3))),
    };
  });
}

/** Three consecutive stored batches of 1, 7 and 40 records from offset 1000, and all their records. */
function stored(codec: Compression): { batches: Buffer[]; all: Rec[] } {
  const parts = [records(1, 1), records(7, 2), records(40, 3)];
  let base = 1_000;
  const batches = parts.map((p) => {
    const b = encodeBatch(base, p, codec);
    base += p.length;
    return b;
  });
  return { batches, all: parts.flat() };
}

describe('batch rewrite', () => {
  test('forProducer › sets baseOffset 0, leader epoch -1 and the producer fields, with a fresh CRC, on a copy', () => {
    const a = A();
    const out = forProducer(a, { producerId: 0x1234n, producerEpoch: 3, baseSequence: 7 });
    expect(out.toString('hex')).toBe(
      [
        '0000000000000000', // baseOffset 0
        '00000047', // batchLength
        'ffffffff', // partitionLeaderEpoch -1
        '02', // magic
        'fe46e8a9', // crc32c of bytes [21, 83)
        '0000', // attributes
        '00000001', // lastOffsetDelta
        '00000000000003e8', // baseTimestamp
        '00000000000003e8', // maxTimestamp
        '0000000000001234', // producerId
        '0003', // producerEpoch
        '00000007', // baseSequence
        '00000002', // records count
        R0,
        R1,
      ].join(''),
    );
    expect(a.toString('hex')).toBe(A_HEX);
    expect(out.buffer === a.buffer && out.byteOffset === a.byteOffset).toBe(false);
  });

  test('forProducer › refuses a damaged batch instead of giving it a valid CRC', () => {
    const a = A();
    a[70] = (a[70] as number) ^ 1;
    expect(codeOf(() => forProducer(a, { producerId: 1n, producerEpoch: 0, baseSequence: 0 }))).toBe(
      'RECORD_CORRUPT',
    );
  });

  test('coalesce › two fixed batches become one, with rewritten deltas and header fields', () => {
    const a = A();
    const b = B();
    expect(coalesce([a, b]).toString('hex')).toBe(AB_HEX);
    expect([a.toString('hex'), b.toString('hex')]).toEqual([A_HEX, B_HEX]);
    expect(decodeBatch(Buffer.from(AB_HEX, 'hex')).map((r) => [r.offset, r.timestamp])).toEqual([
      [5, 1000],
      [6, 998],
      [7, 1005],
    ]);
  });

  test.each(COMPRESSIONS)(
    'coalesce › three %s batches equal encodeBatch of all their records at once',
    (codec) => {
      const { batches, all } = stored(codec);
      const before = batches.map((b) => Buffer.from(b));
      const out = coalesce(batches);
      expect(out.equals(encodeBatch(1_000, all, codec))).toBe(true);
      expect(out.readUInt32BE(17)).toBe(crc32c(out.subarray(21)));
      expect(decodeBatch(out).map((r) => r.offset)).toEqual(all.map((_, i) => 1_000 + i));
      expect(batches.every((b, i) => b.equals(before[i] as Buffer))).toBe(true);
    },
  );

  test('coalesce › another output codec: zstd inputs as none and back, a mix of codecs when one is named', () => {
    const z = stored('zstd');
    const n = stored('none');
    expect(coalesce(z.batches, { compression: 'none' }).equals(encodeBatch(1_000, z.all, 'none'))).toBe(true);
    expect(coalesce(n.batches, { compression: 'zstd' }).equals(encodeBatch(1_000, n.all, 'zstd'))).toBe(true);
    const mixed = [n.batches[0], z.batches[1], n.batches[2]] as Buffer[];
    expect(codeOf(() => coalesce(mixed))).toBe('RECORD_INVALID');
    expect(coalesce(mixed, { compression: 'lz4' }).equals(encodeBatch(1_000, n.all, 'lz4'))).toBe(true);
  });

  test('recompress › one batch in another codec equals encodeBatch in that codec', () => {
    const recs = records(25, 9);
    const z = encodeBatch(42, recs, 'zstd');
    expect(recompress(z, 'none').equals(encodeBatch(42, recs, 'none'))).toBe(true);
    expect(recompress(z, 'gzip').equals(encodeBatch(42, recs, 'gzip'))).toBe(true);
    expect(recompress(encodeBatch(42, recs, 'none'), 'zstd').equals(z)).toBe(true);
  });

  test('coalesce › refuses offsets that are not dense, damage and attributes it cannot merge', () => {
    const b = B();
    b.writeBigInt64BE(8n, 0); // a gap: offset 7 is missing
    expect(codeOf(() => coalesce([A(), b]))).toBe('RECORD_INVALID');
    expect(codeOf(() => coalesce([B(), A()]))).toBe('RECORD_INVALID');
    expect(codeOf(() => coalesce([]))).toBe('RECORD_INVALID');
    // record 1 with offsetDelta 2 (zigzag 04) inside a batch whose lastOffsetDelta is 1
    const a = Buffer.from(A_HEX.replace(R1, '1000030401046162' + '00'), 'hex');
    expect(codeOf(() => coalesce([reseal(a)]))).toBe('RECORD_INVALID');
    const damaged = A();
    damaged[80] = (damaged[80] as number) ^ 0x10;
    expect(codeOf(() => coalesce([damaged, B()]))).toBe('RECORD_CORRUPT');
    const short = A().subarray(0, 60);
    expect(codeOf(() => coalesce([short]))).toBe('RECORD_CORRUPT');
    const transactional = A();
    transactional.writeInt16BE(0x10, 21);
    expect(codeOf(() => coalesce([reseal(transactional)]))).toBe('FORMAT_UNSUPPORTED');
    const lengthy = Buffer.from(A_HEX.replace(R1, '1200030201046162' + '00'), 'hex');
    expect(codeOf(() => coalesce([reseal(lengthy)]))).toBe('RECORD_CORRUPT');
  });

  test("coalesce › Kafka's MemoryRecords validates the coalesced batches of every codec", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-coalesce-java-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const files = COMPRESSIONS.map((codec) => {
      const file = join(dir, `${codec}.bin`);
      const prod = forProducer(coalesce(stored(codec).batches), {
        producerId: 77n,
        producerEpoch: 2,
        baseSequence: 5,
      });
      writeFileSync(file, Buffer.concat([coalesce(stored(codec).batches), prod]));
      return file;
    });
    const out = await runJava(join(here, '..', 'log', 'fixtures', 'RecordBatchDump.java'), files);
    const dumped = out
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            file: string;
            compression: string;
            baseOffset: number;
            lastOffset: number;
            records: Array<{
              offset: number;
              timestamp: number;
              key: string | null;
              value: string;
              headers: string[][];
            }>;
          },
      );
    expect(dumped.map((d) => [d.file, d.compression, d.baseOffset, d.lastOffset])).toEqual(
      COMPRESSIONS.flatMap((c) => [
        [`${c}.bin`, c, 1_000, 1_047],
        [`${c}.bin`, c, 0, 47],
      ]),
    );
    const all = stored('none').all;
    for (const d of dumped) {
      expect(d.records).toEqual(
        all.map((r, i) => ({
          offset: d.baseOffset + i,
          timestamp: r.timestamp,
          key: r.key === null ? null : r.key.toString('hex'),
          value: r.value.toString('hex'),
          headers: Object.entries(r.headers).map(([k, v]) => [
            Buffer.from(k).toString('hex'),
            v.toString('hex'),
          ]),
        })),
      );
    }
  }, 180_000);
});
