import { join } from 'node:path';
import { open } from 'lmdb';
import { describe, expect, test } from 'vitest';
import { isOutpostError, type OutpostError } from '../../src/errors.ts';
import { encodeBatch, openLog, partitionFor } from '../../src/log/index.ts';
import { codeOf, openTestLog, options, spec, storedBytes, tempDir, value } from './helpers.ts';

describe('log › append and read', () => {
  test('assigns dense offsets from 0 per partition and reads records back intact', async () => {
    const log = await openTestLog(options(tempDir()));
    const res = await log.append([
      {
        topic: 't',
        partition: 1,
        value: Buffer.from('a'),
        key: Buffer.from('k1'),
        headers: { h: Buffer.from('x') },
        timestamp: 42,
      },
      { topic: 't', partition: 1, value: Buffer.from('b') },
      { topic: 't', partition: 2, value: Buffer.from('c') },
    ]);
    expect(res).toEqual([
      { topic: 't', partition: 1, offset: 0 },
      { topic: 't', partition: 1, offset: 1 },
      { topic: 't', partition: 2, offset: 0 },
    ]);
    const recs = log.read('t', 1, 0);
    expect(recs.map((r) => r.value.toString())).toEqual(['a', 'b']);
    expect(recs[0]?.key?.toString()).toBe('k1');
    expect(recs[0]?.headers['h']?.toString()).toBe('x');
    expect(recs[0]?.timestamp).toBe(42);
    expect(recs[1]?.key).toBeNull();
    expect(log.offsets('t', 1)).toEqual({ startOffset: 0, endOffset: 2 });
    expect(log.offsets('t', 0)).toEqual({ startOffset: 0, endOffset: 0 });
    expect(log.read('t', 1, 2)).toEqual([]);
  });

  test('assigns offsets in call order across concurrent callers sharing commits', async () => {
    const log = await openTestLog(options(tempDir()));
    const calls = Array.from({ length: 50 }, (_, i) =>
      log.append([
        { topic: 't', partition: 0, value: value(i * 2) },
        { topic: 't', partition: 0, value: value(i * 2 + 1) },
      ]),
    );
    const results = await Promise.all(calls);
    results.forEach((r, i) => {
      expect(r.map((x) => x.offset)).toEqual([i * 2, i * 2 + 1]);
    });
    const all = log.read('t', 0, 0, { maxRecords: 1000 });
    expect(all.map((r) => r.value.readUInt32BE(0))).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  test('places keyed records like Kafka and spreads keyless records evenly', async () => {
    const log = await openTestLog(options(tempDir(), { topics: { t: spec(4) } }));
    const key = Buffer.from('device-17');
    const keyed = await log.append([{ topic: 't', key, value: Buffer.from('x') }]);
    expect(keyed[0]?.partition).toBe(partitionFor(key, 4));
    const spread = await log.append(Array.from({ length: 40 }, (_, i) => ({ topic: 't', value: value(i) })));
    const counts = [0, 0, 0, 0];
    for (const r of spread) counts[r.partition] = (counts[r.partition] ?? 0) + 1;
    expect(counts).toEqual([10, 10, 10, 10]);
  });

  test('shows records to readers only once their append is durable', async () => {
    const log = await openTestLog(options(tempDir()));
    const pending = log.append([{ topic: 't', partition: 0, value: value(1) }]);
    expect(log.read('t', 0, 0)).toEqual([]);
    expect(log.offsets('t', 0).endOffset).toBe(0);
    await pending;
    expect(log.read('t', 0, 0).map((r) => r.offset)).toEqual([0]);
    expect(log.offsets('t', 0).endOffset).toBe(1);
  });

  test('honours maxRecords and maxBytes but always returns at least one record', async () => {
    const log = await openTestLog(options(tempDir()));
    await log.append(
      Array.from({ length: 20 }, (_, i) => ({ topic: 't', partition: 0, value: value(i, 100) })),
    );
    expect(log.read('t', 0, 0, { maxRecords: 5 }).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
    expect(log.read('t', 0, 3, { maxBytes: 250 }).map((r) => r.offset)).toEqual([3, 4]);
    expect(log.read('t', 0, 7, { maxBytes: 1 }).map((r) => r.offset)).toEqual([7]);
  });

  test('refuses unknown topics, unknown partitions and oversized records before assigning offsets', async () => {
    const log = await openTestLog(options(tempDir(), { maxRecordBytes: 1000 }));
    expect(await codeOf(log.append([{ topic: 'nope', value: Buffer.from('x') }]))).toBe('UNKNOWN_TOPIC');
    expect(await codeOf(log.append([{ topic: 't', partition: 4, value: Buffer.from('x') }]))).toBe(
      'UNKNOWN_PARTITION',
    );
    expect(
      await codeOf(
        log.append([
          { topic: 't', partition: 0, value: Buffer.from('ok') },
          { topic: 't', partition: 0, value: Buffer.alloc(2000) },
        ]),
      ),
    ).toBe('RECORD_TOO_LARGE');
    expect(await codeOf(log.append([{ topic: 't', partition: -1, value: Buffer.from('x') }]))).toBe(
      'UNKNOWN_PARTITION',
    );
    expect(await codeOf(() => log.read('t', 9, 0))).toBe('UNKNOWN_PARTITION');
    const ok = await log.append([{ topic: 't', partition: 0, value: Buffer.from('ok') }]);
    expect(ok[0]?.offset).toBe(0);
  });

  test('stores zstd batches and reports stored bytes against raw bytes, across a reopen and retention', async () => {
    const dir = tempDir();
    const opts = options(dir, { topics: { t: spec(1, { compression: 'zstd', retentionBytes: 1 }) } });
    const first = await openLog(opts);
    const telemetry = (i: number) =>
      Buffer.from(JSON.stringify({ device: 'dev-1', seq: i, temp: 21.5, ok: true }));
    for (let b = 0; b < 3; b++) {
      await first.append(
        Array.from({ length: 50 }, (_, i) => ({ topic: 't', partition: 0, value: telemetry(b * 50 + i) })),
      );
    }
    const info = first.partitions()[0];
    expect(info?.rawBytes).toBeGreaterThan(4 * (info?.bytes ?? 0));
    expect(first.read('t', 0, 75, { maxRecords: 2 }).map((r) => r.value.toString())).toEqual([
      telemetry(75).toString(),
      telemetry(76).toString(),
    ]);
    await first.close();
    const stored = await storedBytes(dir, 't', 1);
    const log = await openTestLog(opts);
    expect(log.partitions()[0]).toEqual(info);
    expect(info?.bytes).toBe(stored[0]);
    // retentionBytes 1: every batch but the newest goes; raw shrinks with bytes.
    await log.runRetention();
    const after = log.partitions()[0];
    expect(after?.startOffset).toBe(100);
    const newest = Array.from({ length: 50 }, (_, i) => ({
      timestamp: 0,
      key: null,
      headers: {},
      value: telemetry(100 + i),
    }));
    expect(after?.rawBytes).toBe(encodeBatch(100, newest, 'none').length);
  });

  test('recovers offsets, bytes and records after reopening', async () => {
    const dir = tempDir();
    const first = await openLog(options(dir));
    await first.append(
      Array.from({ length: 30 }, (_, i) => ({ topic: 't', partition: i % 3, value: value(i) })),
    );
    const before = first.partitions();
    await first.close();
    expect(await codeOf(first.append([{ topic: 't', value: Buffer.from('x') }]))).toBe('LOG_CLOSED');
    const log = await openTestLog(options(dir));
    expect(log.partitions()).toEqual(before);
    const next = await log.append([{ topic: 't', partition: 0, value: Buffer.from('x') }]);
    expect(next[0]?.offset).toBe(10);
  });

  test('reports a record damaged on disk as RECORD_CORRUPT with its topic, partition and offset', async () => {
    const dir = tempDir();
    const first = await openLog(options(dir));
    // Three appends awaited in turn: three batches, the damaged one holds offset 1 only.
    for (const i of [0, 1, 2]) await first.append([{ topic: 't', partition: 2, value: value(i) }]);
    await first.close();
    // Damage offset 1 behind the log's back, through a raw lmdb-js handle on the same environment.
    const env = open({ path: join(dir, 'lmdb'), maxDbs: 64 });
    const records = env.openDB<Buffer, [number, number, number]>('log.records', { encoding: 'binary' });
    const key = [...records.getKeys()].find((k) => k[1] === 2 && k[2] === 1) as [number, number, number];
    const bad = Buffer.from(records.get(key) as Buffer);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff;
    await records.put(key, bad);
    await env.close();
    const log = await openTestLog(options(dir));
    expect(log.read('t', 2, 0, { maxRecords: 1 }).map((r) => r.offset)).toEqual([0]);
    let err: unknown;
    try {
      log.read('t', 2, 0);
    } catch (e) {
      err = e;
    }
    expect(isOutpostError(err, 'RECORD_CORRUPT')).toBe(true);
    expect((err as OutpostError).fields).toMatchObject({ topic: 't', partition: 2, offset: 1 });
  });

  test('grows partitions on reconfigure and refuses to shrink them with PARTITION_SHRINK', async () => {
    const dir = tempDir();
    const log = await openLog(options(dir, { topics: { t: spec(2) } }));
    await log.reconfigure({ t: spec(5), u: spec(1) });
    expect(log.partitionCount('t')).toBe(5);
    expect(log.topicNames().sort()).toEqual(['t', 'u']);
    await log.append([{ topic: 't', partition: 4, value: Buffer.from('x') }]);
    expect(await codeOf(log.reconfigure({ t: spec(3) }))).toBe('PARTITION_SHRINK');
    await log.close();
    expect(await codeOf(openLog(options(dir, { topics: { t: spec(4) } })))).toBe('PARTITION_SHRINK');
    const again = await openTestLog(options(dir, { topics: { t: spec(5) } }));
    expect(again.offsets('t', 4)).toEqual({ startOffset: 0, endOffset: 1 });
  });

  test('opens other modules stores in the same environment and reserves "log." names', async () => {
    const dir = tempDir();
    const log = await openLog(options(dir));
    const store = log.openStore<string, { n: number }>('devices');
    await store.put('a', { n: 1 });
    await log.flushed();
    expect(await codeOf(() => log.openStore('log.records'))).toBe('STORE_NAME_RESERVED');
    await log.close();
    const again = await openTestLog(options(dir));
    expect(again.openStore<string, { n: number }>('devices').get('a')).toEqual({ n: 1 });
  });
});

describe('log › tail', () => {
  test('yields existing then newly appended records and ends when the signal aborts', async () => {
    const log = await openTestLog(options(tempDir()));
    await log.append([{ topic: 't', partition: 0, value: value(0) }]);
    const ac = new AbortController();
    const seen: number[] = [];
    const consumer = (async () => {
      for await (const batch of log.tail('t', 0, 0, { signal: ac.signal })) {
        for (const r of batch) seen.push(r.value.readUInt32BE(0));
        if (seen.length >= 6) ac.abort();
      }
    })();
    for (let i = 1; i < 6; i++) await log.append([{ topic: 't', partition: 0, value: value(i) }]);
    await consumer;
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test('ends when the log closes', async () => {
    const log = await openLog(options(tempDir()));
    let firstSeen: () => void = () => {};
    const seenOne = new Promise<void>((r) => {
      firstSeen = r;
    });
    const consumer = (async () => {
      let n = 0;
      for await (const batch of log.tail('t', 2, 0)) {
        n += batch.length;
        firstSeen();
      }
      return n;
    })();
    await log.append([{ topic: 't', partition: 2, value: value(1) }]);
    await seenOne;
    await log.close();
    expect(await consumer).toBe(1);
  });
});
