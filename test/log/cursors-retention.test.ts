import cron from 'node-cron';
import { describe, expect, test } from 'vitest';
import { encodeBatch, openLog } from '../../src/log/index.ts';
import { codeOf, openTestLog, options, spec, tempDir, value } from './helpers.ts';

const HOUR = 3600_000;

describe('log › cursors', () => {
  test('stores named cursors durably per partition', async () => {
    const dir = tempDir();
    const log = await openLog(options(dir));
    await log.setCursor('dc-east', 't', 0, 5, { protected: true });
    await log.setCursor('dc-west', 't', 0, 3);
    await log.setCursor('dc-east', 't', 1, 9, { protected: true });
    await log.setCursor('dc-west', 't', 0, 4);
    await log.deleteCursor('dc-east', 't', 1);
    await log.close();
    const again = await openTestLog(options(dir));
    expect(again.getCursor('dc-east', 't', 0)).toEqual({
      name: 'dc-east',
      topic: 't',
      partition: 0,
      offset: 5,
      protected: true,
    });
    expect(again.getCursor('dc-west', 't', 0)?.offset).toBe(4);
    expect(again.getCursor('dc-east', 't', 1)).toBeUndefined();
    expect(
      again
        .cursors()
        .map((c) => `${c.name}@${c.partition}=${c.offset}`)
        .sort(),
    ).toEqual(['dc-east@0=5', 'dc-west@0=4']);
  });

  test('refuses cursors on unknown partitions and negative offsets', async () => {
    const log = await openTestLog(options(tempDir()));
    expect(await codeOf(log.setCursor('c', 't', 7, 0))).toBe('UNKNOWN_PARTITION');
    expect(await codeOf(log.setCursor('c', 'x', 0, 0))).toBe('UNKNOWN_TOPIC');
    expect(await codeOf(log.setCursor('c', 't', 0, -1))).toBe('USAGE');
  });
});

describe('log › retention', () => {
  test('deletes batches older than retentionMs and keeps newer ones', async () => {
    const log = await openTestLog(options(tempDir(), { topics: { t: spec(1, { retentionMs: HOUR }) } }));
    const now = Date.now();
    // Two appends awaited one after the other: two batches.
    await log.append(
      Array.from({ length: 5 }, (_, i) => ({
        topic: 't',
        partition: 0,
        value: value(i),
        timestamp: now - 3 * HOUR,
      })),
    );
    await log.append(
      Array.from({ length: 3 }, (_, i) => ({
        topic: 't',
        partition: 0,
        value: value(5 + i),
        timestamp: now,
      })),
    );
    const report = await log.runRetention(now);
    expect(report.deleted).toEqual({ 't/0': 5 });
    expect(log.offsets('t', 0)).toEqual({ startOffset: 5, endOffset: 8 });
    expect(log.read('t', 0, 0).map((r) => r.offset)).toEqual([5, 6, 7]);
  });

  test('deletes more expired records than fit in one deletion transaction', async () => {
    const log = await openTestLog(options(tempDir(), { topics: { t: spec(1, { retentionMs: HOUR }) } }));
    const total = 45_000;
    for (let i = 0; i < total; i += 1000) {
      await log.append(
        Array.from({ length: 1000 }, (_, j) => ({
          topic: 't',
          partition: 0,
          value: value(i + j, 8),
          timestamp: 1,
        })),
      );
    }
    await log.append([{ topic: 't', partition: 0, value: value(total, 8) }]);
    const report = await log.runRetention();
    expect(report.deleted).toEqual({ 't/0': total });
    expect(log.offsets('t', 0)).toEqual({ startOffset: total, endOffset: total + 1 });
    expect(log.partitions()[0]?.records).toBe(1);
  });

  test('deletes the oldest batches while the partition keeps at least retentionBytes', async () => {
    const log = await openTestLog(options(tempDir(), { topics: { t: spec(1, { retentionBytes: 1000 }) } }));
    for (let i = 0; i < 20; i++) await log.append([{ topic: 't', partition: 0, value: value(i, 100) }]);
    const size = log.partitions()[0]?.bytes as number;
    expect(size).toBeGreaterThan(2000);
    await log.runRetention();
    const info = log.partitions()[0];
    // Like Kafka's retention.bytes: never below it, and at most one batch above.
    expect(info?.bytes).toBeGreaterThanOrEqual(1000);
    expect(info?.bytes).toBeLessThan(1000 + size / 20);
    expect(info?.endOffset).toBe(20);
    expect(log.read('t', 0, 0)[0]?.offset).toBe(info?.startOffset);
  });

  test('never deletes past a protected cursor, but does past an unprotected one', async () => {
    const log = await openTestLog(options(tempDir(), { topics: { t: spec(2, { retentionMs: HOUR }) } }));
    const old = Date.now() - 2 * HOUR;
    for (const p of [0, 1]) {
      for (let i = 0; i < 10; i++)
        await log.append([{ topic: 't', partition: p, value: value(i), timestamp: old }]);
    }
    await log.setCursor('dc', 't', 0, 4, { protected: true });
    await log.setCursor('dc', 't', 1, 4, { protected: false });
    const report = await log.runRetention();
    expect(report.heldByCursor).toEqual(['t/0']);
    expect(log.offsets('t', 0)).toEqual({ startOffset: 4, endOffset: 10 });
    expect(log.offsets('t', 1)).toEqual({ startOffset: 10, endOffset: 10 });
  });

  test('keeps the end offset of a partition emptied by retention across a reopen', async () => {
    const dir = tempDir();
    const log = await openLog(options(dir, { topics: { t: spec(1, { retentionMs: HOUR }) } }));
    await log.append(
      Array.from({ length: 7 }, (_, i) => ({ topic: 't', partition: 0, value: value(i), timestamp: 1 })),
    );
    await log.runRetention();
    expect(log.offsets('t', 0)).toEqual({ startOffset: 7, endOffset: 7 });
    await log.close();
    const again = await openTestLog(options(dir, { topics: { t: spec(1, { retentionMs: HOUR }) } }));
    expect(again.offsets('t', 0)).toEqual({ startOffset: 7, endOffset: 7 });
    expect((await again.append([{ topic: 't', value: value(7) }]))[0]?.offset).toBe(7);
    expect(again.partitions()[0]?.bytes).toBe(
      encodeBatch(7, [{ timestamp: 0, key: null, headers: {}, value: value(7) }], 'none').length,
    );
  });

  test('keeps a whole batch while any of its records is within retentionMs', async () => {
    const log = await openTestLog(options(tempDir(), { topics: { t: spec(1, { retentionMs: HOUR }) } }));
    const now = Date.now();
    await log.append(
      [0, 1].map((i) => ({ topic: 't', partition: 0, value: value(i), timestamp: now - 3 * HOUR })),
    );
    // One batch: four expired records and one fresh one.
    await log.append(
      [2, 3, 4, 5, 6].map((i) => ({
        topic: 't',
        partition: 0,
        value: value(i),
        timestamp: i === 6 ? now : now - 3 * HOUR,
      })),
    );
    const report = await log.runRetention(now);
    expect(report.deleted).toEqual({ 't/0': 2 });
    expect(log.offsets('t', 0)).toEqual({ startOffset: 2, endOffset: 7 });
    expect(log.read('t', 0, 0).map((r) => r.offset)).toEqual([2, 3, 4, 5, 6]);
    // Once the batch's newest record expires too, the batch goes.
    expect((await log.runRetention(now + 2 * HOUR)).deleted).toEqual({ 't/0': 5 });
    expect(log.offsets('t', 0)).toEqual({ startOffset: 7, endOffset: 7 });
  });

  test('keeps a whole batch when a protected cursor points inside it', async () => {
    const log = await openTestLog(options(tempDir(), { topics: { t: spec(1, { retentionMs: HOUR }) } }));
    const old = Date.now() - 2 * HOUR;
    await log.append([0, 1, 2].map((i) => ({ topic: 't', partition: 0, value: value(i), timestamp: old })));
    await log.append(
      [3, 4, 5, 6].map((i) => ({ topic: 't', partition: 0, value: value(i), timestamp: old })),
    );
    await log.setCursor('dc', 't', 0, 5, { protected: true });
    const report = await log.runRetention();
    expect(report).toEqual({ deleted: { 't/0': 3 }, heldByCursor: ['t/0'] });
    expect(log.offsets('t', 0)).toEqual({ startOffset: 3, endOffset: 7 });
    expect(log.read('t', 0, 5).map((r) => r.offset)).toEqual([5, 6]);
  });

  test('removes its node-cron task when the log closes', async () => {
    const log = await openLog(options(tempDir(), { topics: { t: spec(1, { retentionMs: HOUR }) } }));
    const before = cron.getTasks().size;
    log.scheduleRetention('*/5 * * * *');
    expect(cron.getTasks().size).toBe(before + 1);
    await log.close();
    expect(cron.getTasks().size).toBe(before);
  });

  test('runs on a node-cron schedule and reports each run', async () => {
    const log = await openTestLog(options(tempDir(), { topics: { t: spec(1, { retentionMs: HOUR }) } }));
    await log.append([{ topic: 't', partition: 0, value: value(0), timestamp: 1 }]);
    const report = await new Promise<Record<string, number>>((resolve) => {
      const stop = log.scheduleRetention('* * * * * *', (r) => {
        stop();
        resolve(r.deleted);
      });
    });
    expect(report).toEqual({ 't/0': 1 });
  });
});
