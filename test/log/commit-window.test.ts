import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { open } from 'lmdb';
import { describe, expect, test } from 'vitest';
import { openLog } from '../../src/log/index.ts';
import { codeOf, options, spec, tempDir, value } from './helpers.ts';

/** Number of log.records entries (batches) per partition, straight from LMDB (log closed). */
async function batchesPerPartition(dir: string, partitions: number): Promise<number[]> {
  const env = open({ path: join(dir, 'lmdb'), maxDbs: 64 });
  try {
    const records = env.openDB<Buffer, [number, number, number]>('log.records', { encoding: 'binary' });
    const out = new Array<number>(partitions).fill(0);
    for (const key of records.getKeys()) out[key[1]] = (out[key[1]] ?? 0) + 1;
    return out;
  } finally {
    await env.close();
  }
}

describe('log › group commit', () => {
  test('without a window, the appends of one event turn form one batch per partition', async () => {
    const dir = tempDir();
    const log = await openLog(options(dir, { topics: { t: spec(2) } }));
    const calls = Array.from({ length: 10 }, (_, i) =>
      log.append([{ topic: 't', partition: i % 2, value: value(i) }]),
    );
    const offsets = (await Promise.all(calls)).map((r) => r[0]?.offset);
    expect(offsets).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    await log.append([{ topic: 't', partition: 0, value: value(10) }]); // a later turn: a batch of its own
    await log.close();
    expect(await batchesPerPartition(dir, 2)).toEqual([2, 1]);
  });

  test('commitWindowMs lets appends of several event turns share one batch, and every append resolves durable', async () => {
    const dir = tempDir();
    const log = await openLog(options(dir, { topics: { t: spec(1) }, commitWindowMs: 200 }));
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 5; i++) {
      calls.push(log.append([{ topic: 't', partition: 0, value: value(i) }]));
      await turn();
    }
    // Nothing is visible before the window closed and the commit was fsynced.
    expect(log.offsets('t', 0).endOffset).toBe(0);
    await Promise.all(calls);
    expect(log.offsets('t', 0).endOffset).toBe(5);
    expect(log.read('t', 0, 0).map((r) => r.value.readUInt32BE(0))).toEqual([0, 1, 2, 3, 4]);
    await log.close();
    expect(await batchesPerPartition(dir, 1)).toEqual([1]);
  });

  test('commitMaxBytes closes a commit before its window ends', async () => {
    const dir = tempDir();
    const log = await openLog(
      options(dir, { topics: { t: spec(1) }, commitWindowMs: 1000, commitMaxBytes: 2000 }),
    );
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 8; i++) calls.push(log.append([{ topic: 't', partition: 0, value: value(i, 500) }]));
    await Promise.all(calls);
    await log.close();
    // 500-byte values: four of them pass 2000 bytes, so 8 appends make 2 batches.
    expect(await batchesPerPartition(dir, 1)).toEqual([2]);
  });

  // gzip: the big batch compresses on the thread pool while the next commits are ready at once.
  // none: lmdb-js may resolve a large put after the small ones of the same transaction.
  test.each(['gzip', 'none'] as const)(
    'appends complete in the order they were sealed, even when an earlier, big one (%s) takes longer',
    async (codec) => {
      const dir = tempDir();
      const log = await openLog(
        options(dir, { topics: { a: spec(1, { compression: codec }), b: spec(1, { compression: 'none' }) } }),
      );
      const order: string[] = [];
      // 16 MB of random bytes.
      const big = Array.from({ length: 200 }, () => ({
        topic: 'a',
        partition: 0,
        value: randomBytes(80_000),
      }));
      const first = log.append(big).then(() => order.push('a: big batch'));
      await Promise.resolve(); // the first commit is sealed (a microtask); this opens the next one
      // The next commit: uncompressed, ready at once, but it must not overtake the first.
      const second = log
        .append([{ topic: 'b', partition: 0, value: value(0) }])
        .then(() => order.push('b: small'));
      const third = log
        .append([{ topic: 'a', partition: 0, value: value(200) }])
        .then(() => order.push('a: small'));
      await Promise.all([first, second, third]);
      expect(order).toEqual(['a: big batch', 'b: small', 'a: small']);
      expect(log.read('a', 0, 199).map((r) => r.offset)).toEqual([199, 200]);
      await log.close();
    },
  );

  test('setCommitPolicy changes the window and the size limit of a running log from the next commit', async () => {
    const dir = tempDir();
    const log = await openLog(options(dir, { topics: { t: spec(1) } }));
    /** Appends `n` records, one per event turn, and returns how many commits stored them. */
    const commitsFor = async (n: number): Promise<number> => {
      const before = log.stats().commits;
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < n; i++) {
        calls.push(log.append([{ topic: 't', partition: 0, value: value(i) }]));
        await turn();
      }
      await Promise.all(calls);
      return log.stats().commits - before;
    };
    expect(await commitsFor(4)).toBe(4); // window 0: one commit per event turn
    log.setCommitPolicy({ windowMs: 1000, maxBytes: 1024 ** 2 });
    expect(await commitsFor(4)).toBe(1); // the four turns share one commit
    log.setCommitPolicy({ windowMs: 1000, maxBytes: 1 });
    expect(await commitsFor(4)).toBe(4); // every append passes maxBytes: committed at once
    expect(log.offsets('t', 0).endOffset).toBe(12);
    expect(log.stats().appendedRecords).toBe(12);
    expect(await codeOf(() => log.setCommitPolicy({ windowMs: -1, maxBytes: 10 }))).toBe('CONFIG_INVALID');
    expect(await codeOf(() => log.setCommitPolicy({ windowMs: 5, maxBytes: 0 }))).toBe('CONFIG_INVALID');
    expect(await codeOf(() => log.setCommitPolicy({ windowMs: 0.5, maxBytes: 10 }))).toBe('CONFIG_INVALID');
    await log.close();
    expect(await codeOf(() => log.setCommitPolicy({ windowMs: 0, maxBytes: 10 }))).toBe('LOG_CLOSED');
    const reader = await openLog(options(dir, { topics: { t: spec(1) }, role: 'reader' }));
    expect(await codeOf(() => reader.setCommitPolicy({ windowMs: 0, maxBytes: 10 }))).toBe('LOG_READ_ONLY');
    await reader.close();
  });
});
