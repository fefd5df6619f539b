import { Worker } from 'node:worker_threads';
import { describe, expect, onTestFinished, test } from 'vitest';
import { type DurableEnd, openFollower } from '../../src/log/index.ts';
import { codeOf, openTestLog, options, spec, tempDir, value } from './helpers.ts';

const HOUR = 3600_000;

async function appendTo(
  log: Awaited<ReturnType<typeof openTestLog>>,
  partition: number,
  from: number,
  n: number,
  timestamp = Date.now(),
) {
  return log.append(
    Array.from({ length: n }, (_, i) => ({ topic: 't', partition, value: value(from + i), timestamp })),
  );
}

describe('log › follower (a thread of the owner process on the same environment)', () => {
  test('log › a follower reads only below the durable ends the owner told it, and its offsets follow them', async () => {
    const dir = tempDir();
    const owner = await openTestLog(options(dir));
    await appendTo(owner, 0, 0, 10);
    const follower = await openFollower({ dataDir: dir, ends: [] });
    onTestFinished(() => follower.close());
    // Committed and fsynced, but not told: the follower sees nothing yet.
    expect(follower.read('t', 0, 0)).toEqual([]);
    expect(follower.offsets('t', 0)).toEqual({ startOffset: 0, endOffset: 0 });
    const told: DurableEnd[][] = [];
    const unwatch = owner.watchDurable((ends) => told.push(ends));
    onTestFinished(unwatch);
    // The first call is synchronous and names every partition.
    expect(told[0]).toEqual([0, 1, 2, 3].map((p) => ({ topic: 't', partition: p, end: p === 0 ? 10 : 0 })));
    follower.advance([{ topic: 't', partition: 0, end: 6 }]);
    expect(follower.read('t', 0, 0).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(follower.offsets('t', 0)).toEqual({ startOffset: 0, endOffset: 6 });
    follower.advance(told.flat());
    const recs = follower.read('t', 0, 0);
    expect(recs.map((r) => r.value)).toEqual(Array.from({ length: 10 }, (_, i) => value(i)));
    // An end never moves back.
    follower.advance([{ topic: 't', partition: 0, end: 3 }]);
    expect(follower.offsets('t', 0).endOffset).toBe(10);
    expect(follower.partitions().find((p) => p.partition === 0)).toMatchObject({
      endOffset: 10,
      records: 10,
    });
  });

  test("log › the owner's feed tells a follower only moved partitions, once per turn, after each fsynced commit", async () => {
    const owner = await openTestLog(options(tempDir()));
    const told: DurableEnd[][] = [];
    const unwatch = owner.watchDurable((ends) => told.push(ends));
    onTestFinished(unwatch);
    told.length = 0;
    const results = await Promise.all([appendTo(owner, 1, 0, 3), appendTo(owner, 2, 0, 2)]);
    // Resolved appends are published; the feed flushes in the next turn.
    await new Promise((r) => setImmediate(r));
    expect(results.flat().length).toBe(5);
    expect(told.flat().sort((a, b) => a.partition - b.partition)).toEqual([
      { topic: 't', partition: 1, end: 3 },
      { topic: 't', partition: 2, end: 2 },
    ]);
    told.length = 0;
    await appendTo(owner, 1, 3, 1);
    await new Promise((r) => setImmediate(r));
    expect(told).toEqual([[{ topic: 't', partition: 1, end: 4 }]]);
    unwatch();
    await appendTo(owner, 1, 4, 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(told.length).toBe(1);
  });

  test('log › a follower in a worker thread tails every record in order, woken by the feed, never past what it was told', async () => {
    const dir = tempDir();
    const owner = await openTestLog(options(dir));
    await appendTo(owner, 3, 0, 5);
    const N = 200;
    let worker: Worker | undefined;
    let first: DurableEnd[] = [];
    const unwatch = owner.watchDurable((ends) => {
      if (worker) worker.postMessage(ends);
      else first = ends;
    });
    onTestFinished(unwatch);
    worker = new Worker(new URL('./fixtures/follower-tail.ts', import.meta.url), {
      workerData: { dataDir: dir, ends: first, topic: 't', partition: 3, stopAt: N },
    });
    onTestFinished(async () => {
      await worker?.terminate();
    });
    const got: Array<{ offsets: number[]; told: number; values: number[] }> = [];
    const done = new Promise<void>((resolve, reject) => {
      worker?.on('message', (m: { done?: true; offsets: number[]; told: number; values: number[] }) => {
        if (m.done) resolve();
        else got.push(m);
      });
      worker?.on('error', reject);
    });
    // Appends of 1-4 records, one commit each, while the thread tails.
    for (let i = 5; i < N; ) {
      const n = Math.min(N - i, 1 + (i % 4));
      await appendTo(owner, 3, i, n);
      i += n;
    }
    await done;
    const offsets = got.flatMap((b) => b.offsets);
    expect(offsets).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(got.flatMap((b) => b.values)).toEqual(offsets);
    for (const b of got) expect(b.offsets.at(-1) as number).toBeLessThan(b.told);
  });

  test('log › a follower writes its own protected cursors, and the owner keeps what they protect from retention', async () => {
    const dir = tempDir();
    const owner = await openTestLog(options(dir, { topics: { t: spec(1, { retentionMs: HOUR }) } }));
    const old = Date.now() - 3 * HOUR;
    for (let i = 0; i < 4; i++) await appendTo(owner, 0, i * 3, 3, old);
    const follower = await openFollower({ dataDir: dir, ends: [{ topic: 't', partition: 0, end: 12 }] });
    onTestFinished(() => follower.close());
    await follower.setCursor('mirror.east', 't', 0, 7, { protected: true });
    expect(owner.getCursor('mirror.east', 't', 0)).toMatchObject({ offset: 7, protected: true });
    const report = await owner.runRetention();
    // Batches [0,3) and [3,6) go; [6,9) holds offset 7, still to be mirrored.
    expect(report).toEqual({ deleted: { 't/0': 6 }, heldByCursor: ['t/0'] });
    expect(follower.offsets('t', 0)).toEqual({ startOffset: 6, endOffset: 12 });
    expect(follower.read('t', 0, 0).map((r) => r.offset)).toEqual([6, 7, 8, 9, 10, 11]);
    expect(await codeOf(follower.setCursor('mirror.east', 't', 5, 0))).toBe('UNKNOWN_PARTITION');
  });

  test("log › append, retention and the feed stay the owner's: a follower refuses them with LOG_READ_ONLY", async () => {
    const dir = tempDir();
    await openTestLog(options(dir));
    const follower = await openFollower({ dataDir: dir, ends: [] });
    onTestFinished(() => follower.close());
    expect(await codeOf(follower.append([{ topic: 't', value: value(1) }]))).toBe('LOG_READ_ONLY');
    expect(await codeOf(follower.runRetention())).toBe('LOG_READ_ONLY');
    expect(await codeOf(follower.reconfigure({ t: spec(4) }))).toBe('LOG_READ_ONLY');
    expect(await codeOf(() => follower.watchDurable(() => {}))).toBe('LOG_READ_ONLY');
    const reader = await openTestLog(options(dir, { role: 'reader' }));
    expect(await codeOf(() => reader.watchDurable(() => {}))).toBe('LOG_READ_ONLY');
  });
});
