import cron from 'node-cron';
import { describe, expect, test } from 'vitest';
import { encodeRecord, openLog } from '../../src/log/index.ts';
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
  test('deletes records older than retentionMs and keeps newer ones', async () => {
    const log = await openTestLog(options(tempDir(), { topics: { t: spec(1, { retentionMs: HOUR }) } }));
    const now = Date.now();
    await log.append([
      ...Array.from({ length: 5 }, (_, i) => ({
        topic: 't',
        partition: 0,
        value: value(i),
        timestamp: now - 3 * HOUR,
      })),
      ...Array.from({ length: 3 }, (_, i) => ({
        topic: 't',
        partition: 0,
        value: value(5 + i),
        timestamp: now,
      })),
    ]);
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

  test('deletes the oldest records until the partition fits retentionBytes', async () => {
    const log = await openTestLog(options(tempDir(), { topics: { t: spec(1, { retentionBytes: 1000 }) } }));
    await log.append(
      Array.from({ length: 20 }, (_, i) => ({ topic: 't', partition: 0, value: value(i, 100) })),
    );
    const size = log.partitions()[0]?.bytes as number;
    expect(size).toBeGreaterThan(2000);
    await log.runRetention();
    const info = log.partitions()[0];
    expect(info?.bytes).toBeLessThanOrEqual(1000);
    expect(info?.bytes).toBeGreaterThan(1000 - size / 20);
    expect(info?.endOffset).toBe(20);
    expect(log.read('t', 0, 0)[0]?.offset).toBe(info?.startOffset);
  });

  test('never deletes past a protected cursor, but does past an unprotected one', async () => {
    const log = await openTestLog(options(tempDir(), { topics: { t: spec(2, { retentionMs: HOUR }) } }));
    const old = Date.now() - 2 * HOUR;
    for (const p of [0, 1]) {
      await log.append(
        Array.from({ length: 10 }, (_, i) => ({ topic: 't', partition: p, value: value(i), timestamp: old })),
      );
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
      encodeRecord({ timestamp: 0, key: null, headers: {}, value: value(7) }).length,
    );
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
