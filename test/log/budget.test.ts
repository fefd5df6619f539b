import { describe, expect, test } from 'vitest';
import { isOutpostError } from '../../src/errors.ts';
import type { PartitionedLog } from '../../src/log/index.ts';
import { openLog } from '../../src/log/index.ts';
import { codeOf, openTestLog, options, spec, tempDir, value } from './helpers.ts';

const BUDGET = 256 * 1024;

/** Appends 10 × 1 KiB per call until LOG_FULL (bounded); returns how many records were accepted. */
async function fill(
  log: PartitionedLog,
  partitions: number,
  maxCalls = 2000,
): Promise<{ accepted: number; error: unknown }> {
  let accepted = 0;
  for (let i = 0; i < maxCalls; i++) {
    try {
      const res = await log.append(
        Array.from({ length: 10 }, (_, j) => ({
          topic: 't',
          partition: (i + j) % partitions,
          value: value(accepted + j, 1024),
        })),
      );
      accepted += res.length;
    } catch (error) {
      return { accepted, error };
    }
  }
  return { accepted, error: undefined };
}

describe('log › disk budget', () => {
  test('onFull "reject" fails appends with a retriable LOG_FULL and recovers once retention frees space', async () => {
    const log = await openTestLog(options(tempDir(), { topics: { t: spec(2) }, maxBytes: BUDGET }));
    const { accepted, error } = await fill(log, 2);
    expect(isOutpostError(error, 'LOG_FULL')).toBe(true);
    expect((error as { retriable: boolean }).retriable).toBe(true);
    expect(accepted).toBeGreaterThan(50);
    const stats = log.stats();
    expect(stats.full).toBe(true);
    expect(stats.usedBytes).toBeGreaterThan(BUDGET * 0.8);
    expect(stats.fileBytes).toBeGreaterThan(0);
    expect(log.offsets('t', 0).endOffset + log.offsets('t', 1).endOffset).toBe(accepted);
    // Retention frees space without a restart.
    await log.reconfigure({ t: spec(2, { retentionBytes: 20 * 1024 }) });
    const report = await log.runRetention();
    expect(Object.values(report.deleted).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(log.stats().full).toBe(false);
    const more = await log.append([{ topic: 't', partition: 0, value: value(1, 1024) }]);
    expect(more[0]?.offset).toBe(log.offsets('t', 0).endOffset - 1);
  });

  test('treats the filesystem as full below minFreeBytes', async () => {
    const log = await openTestLog(options(tempDir(), { minFreeBytes: 1024 ** 5 }));
    expect(await codeOf(log.append([{ topic: 't', value: value(0) }]))).toBe('LOG_FULL');
    expect(log.stats().full).toBe(true);
    expect(log.stats().diskFreeBytes).toBeGreaterThan(0);
  });

  test('onFull "drop-oldest" deletes the oldest records past protected cursors and counts them durably', async () => {
    const dir = tempDir();
    const opts = options(dir, { topics: { t: spec(2) }, maxBytes: BUDGET, onFull: 'drop-oldest' as const });
    const log = await openLog(opts);
    await log.setCursor('dc', 't', 0, 0, { protected: true });
    const total = 1500;
    const { accepted, error } = await fill(log, 2, total / 10);
    expect(error).toBeUndefined();
    expect(accepted).toBe(total);
    const dropped = log.stats().droppedRecords;
    expect(dropped).toBeGreaterThan(0);
    const stored = log.partitions().reduce((n, p) => n + p.records, 0);
    expect(stored + dropped).toBe(total);
    expect(log.offsets('t', 0).startOffset).toBeGreaterThan(0);
    expect(log.stats().usedBytes).toBeLessThan(BUDGET * 1.25);
    // What is left reads back intact and in order.
    const p0 = log.offsets('t', 0);
    const recs = log.read('t', 0, 0, { maxRecords: 10_000, maxBytes: 10 * 1024 ** 2 });
    expect(recs.map((r) => r.offset)).toEqual(
      Array.from({ length: p0.endOffset - p0.startOffset }, (_, i) => p0.startOffset + i),
    );
    await log.close();
    const again = await openTestLog(opts);
    expect(again.stats().droppedRecords).toBe(dropped);
  });
});
