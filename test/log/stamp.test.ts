/**
 * Stamps: with LogOptions.stamp every stored record carries `outpost.edge.id` and
 * `outpost.edge.offset` after its own headers (what a mirrored record carries on a central
 * cluster), reads leave them out, and entries() says which stored entries carry which id.
 */
import { describe, expect, test } from 'vitest';
import {
  encodeBatch,
  type RecordFields,
  recordSizeV2,
  STAMP_ID_HEADER,
  STAMP_OFFSET_HEADER,
  stampBytes,
} from '../../src/log/codec/record-v2.ts';
import { decodeBatch } from '../../src/log/codec/record-v2-read.ts';
import { openTestLog, options, tempDir, value } from './helpers.ts';

const stamp = { id: Buffer.from('gw-7') };

function rec(i: number, headers: Record<string, Buffer> = {}): RecordFields {
  return {
    timestamp: 1_700_000_000_000 + i,
    key: i % 2 ? Buffer.from(`k${i}`) : null,
    headers,
    value: value(i),
  };
}

describe('record-v2 stamp', () => {
  test('fixed bytes: one stamped record ends with the id and its own offset in decimal', () => {
    const batch = encodeBatch(
      42,
      [{ timestamp: 7, key: null, headers: {}, value: Buffer.from('v') }],
      'none',
      stamp,
    );
    // record: attributes 0, tsDelta 0, offsetDelta 0, key -1, value length 1, "v", 2 headers
    const expected = Buffer.concat([
      Buffer.from([0x00, 0x00, 0x00, 0x01, 0x02, 0x76, 0x04]),
      Buffer.from([0x1e]), // key length 15
      Buffer.from(STAMP_ID_HEADER),
      Buffer.from([0x08]), // value length 4
      Buffer.from('gw-7'),
      Buffer.from([0x26]), // key length 19
      Buffer.from(STAMP_OFFSET_HEADER),
      Buffer.from([0x04]), // value length 2
      Buffer.from('42'),
    ]);
    const body = batch.subarray(61);
    expect(body[0]).toBe(expected.length * 2); // zigzag varint of the record's length
    expect(body.subarray(1).toString('hex')).toBe(expected.toString('hex'));
  });

  test('decode keeps the stamp after the own headers; unstamped leaves it out', () => {
    const records = [rec(0, { a: Buffer.from('1') }), rec(1), rec(2, { b: Buffer.from('2') })];
    for (const codec of ['none', 'zstd'] as const) {
      const batch = encodeBatch(999_998, records, codec, stamp);
      const all = decodeBatch(batch);
      expect(all.map((r) => Object.keys(r.headers))).toEqual([
        ['a', STAMP_ID_HEADER, STAMP_OFFSET_HEADER],
        [STAMP_ID_HEADER, STAMP_OFFSET_HEADER],
        ['b', STAMP_ID_HEADER, STAMP_OFFSET_HEADER],
      ]);
      expect(all.map((r) => r.headers[STAMP_OFFSET_HEADER]?.toString())).toEqual([
        '999998',
        '999999',
        '1000000',
      ]);
      expect(all.every((r) => r.headers[STAMP_ID_HEADER]?.toString() === 'gw-7')).toBe(true);
      const own = decodeBatch(batch, { unstamped: true });
      expect(own.map((r) => r.headers)).toEqual(records.map((r) => r.headers));
      expect(own.map((r) => r.value)).toEqual(records.map((r) => r.value));
    }
  });

  test('the size bound holds for any offset and is exact at the largest', () => {
    const r = rec(3, { h: Buffer.from('x') });
    const bound = recordSizeV2(r, 0, 0, stamp);
    for (const base of [0, 9, 10, 123_456, 2 ** 53 - 2]) {
      const batch = encodeBatch(base, [r], 'none', stamp);
      expect(batch.length - 61).toBeLessThanOrEqual(bound);
    }
    expect(encodeBatch(2 ** 53 - 2, [r], 'none', stamp).length - 61).toBe(bound);
    expect(stampBytes(null)).toBe(0);
    // The stamp's bytes, plus what the record's own length varint may grow by.
    expect(recordSizeV2(r, 0, 0, stamp) - recordSizeV2(r) - stampBytes(stamp)).toBeGreaterThanOrEqual(0);
    expect(recordSizeV2(r, 0, 0, stamp) - recordSizeV2(r) - stampBytes(stamp)).toBeLessThanOrEqual(1);
  });
});

describe('log stamps', () => {
  test('a stamped log stores the stamp, reads leave it out, entries name their stamp id', async () => {
    const dir = tempDir();
    const log = await openTestLog(options(dir, { stamp: { id: 'edge-a' } }));
    const headers = { 'mqtt.qos': Buffer.from('1') };
    await log.append([0, 1, 2].map((i) => ({ topic: 't', partition: 0, value: value(i), headers })));
    const got = log.read('t', 0, 0);
    expect(got.map((r) => r.headers)).toEqual([headers, headers, headers]);
    const entries = log.entries('t', 0, 0);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ baseOffset: 0, count: 3, format: 2, stampId: 'edge-a' });
    const stored = decodeBatch((entries[0] as { value: Buffer }).value);
    expect(stored.map((r) => r.headers[STAMP_OFFSET_HEADER]?.toString())).toEqual(['0', '1', '2']);
    await log.close();
  });

  test('an entry keeps the stamp it was written with across reopen with another id or none', async () => {
    const dir = tempDir();
    const put = async (stampId: string | undefined, i: number) => {
      const log = await openTestLog(options(dir, stampId === undefined ? {} : { stamp: { id: stampId } }));
      await log.append([{ topic: 't', partition: 1, value: value(i) }]);
      await log.close();
    };
    await put(undefined, 0); // written before stamps: unstamped
    await put('edge-a', 1);
    await put('edge-a', 2);
    await put('edge-b', 3);
    await put(undefined, 4);
    const log = await openTestLog(options(dir, { role: 'reader' }));
    expect(log.entries('t', 1, 0).map((e) => [e.baseOffset, e.stampId])).toEqual([
      [0, null],
      [1, 'edge-a'],
      [2, 'edge-a'],
      [3, 'edge-b'],
      [4, null],
    ]);
    // A partition first written after the epoch was recorded belongs to it.
    const owner = await openTestLog(options(dir, { stamp: { id: 'edge-c' } }));
    await owner.append([{ topic: 't', partition: 2, value: value(5) }]);
    expect(owner.entries('t', 2, 0).map((e) => e.stampId)).toEqual(['edge-c']);
    expect(owner.entries('t', 1, 3).map((e) => e.baseOffset)).toEqual([3, 4]);
    await owner.close();
  });

  test('tailEntries yields durable entries and wakes on the next commit', async () => {
    const dir = tempDir();
    const log = await openTestLog(options(dir, { stamp: { id: 'e' } }));
    await log.append([{ topic: 't', partition: 0, value: value(0) }]);
    const ac = new AbortController();
    const seen: number[] = [];
    const reading = (async () => {
      for await (const batch of log.tailEntries('t', 0, 0, { signal: ac.signal })) {
        for (const e of batch) seen.push(e.baseOffset);
        if (seen.length === 2) ac.abort();
      }
    })();
    await log.append([
      { topic: 't', partition: 0, value: value(1) },
      { topic: 't', partition: 0, value: value(2) },
    ]);
    await reading;
    expect(seen).toEqual([0, 1]);
    await log.close();
  });
});
