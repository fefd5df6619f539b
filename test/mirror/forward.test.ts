import { randomBytes } from 'node:crypto';
/**
 * forward.ts: which stored entries go to a cluster as they are, which are coalesced and which are
 * sealed again, against entries of a real (LMDB) log.
 */
import { describe, expect, test } from 'vitest';
import {
  decodeBatch,
  type LogOptions,
  type PartitionedLog,
  peekBatch,
  type StoredEntry,
} from '../../src/log/index.ts';
import { HEADER_EDGE_ID, HEADER_EDGE_OFFSET } from '../../src/mirror/naming.ts';
import { forwardContext, planBatches, trimLanded, type WireBatch } from '../../src/mirror/session/forward.ts';
import { openTestLog, options, spec, tempDir, value } from '../log/helpers.ts';

const EDGE = 'gw-1';
const limits = { maxBytes: 1024 ** 2, maxRecords: 5000 };

/** Appends `commits` commits of `per` records each to t/0 (one stored batch per commit). */
async function fill(log: PartitionedLog, commits: number, per: number, from = 0): Promise<void> {
  for (let c = 0; c < commits; c++) {
    const recs = Array.from({ length: per }, (_, i) => ({
      topic: 't',
      partition: 0,
      key: (from + c * per + i) % 3 === 0 ? null : Buffer.from(`dev-${i}`),
      headers: { 'mqtt.qos': Buffer.from('1') },
      value: value(from + c * per + i, 120),
    }));
    await log.append(recs);
  }
}

async function logWith(more: Partial<LogOptions>, topicMore = {}): Promise<PartitionedLog> {
  const dir = tempDir();
  return openTestLog(options(dir, { topics: { t: spec(1, topicMore) }, ...more }));
}

/** What the cluster would store: each record's edge offset header, value and own headers. */
function wireRecords(out: WireBatch[]) {
  return out.flatMap((b) =>
    decodeBatch(b.batch).map((r, i) => ({
      edge: Number(r.headers[HEADER_EDGE_OFFSET]?.toString()),
      id: r.headers[HEADER_EDGE_ID]?.toString(),
      planned: b.offsets[i],
      value: r.value.toString('hex'),
      qos: r.headers['mqtt.qos']?.toString(),
    })),
  );
}

function expectExact(log: PartitionedLog, out: WireBatch[], from: number) {
  const want = log.read('t', 0, from, { maxRecords: 100_000 });
  const got = wireRecords(out);
  expect(got.map((r) => r.edge)).toEqual(want.map((r) => r.offset));
  expect(got.map((r) => r.planned)).toEqual(want.map((r) => r.offset));
  expect(got.map((r) => r.value)).toEqual(want.map((r) => r.value.toString('hex')));
  expect(got.every((r) => r.id === EDGE && r.qos === '1')).toBe(true);
}

describe('mirror forward planning', () => {
  test('a stamped stored batch is forwarded as it is, byte for byte', async () => {
    const log = await logWith({ stamp: { id: EDGE } }, { compression: 'zstd' });
    await fill(log, 1, 50);
    const entries = log.entries('t', 0, 0);
    const out = planBatches(entries, 0, forwardContext(EDGE, limits, 'stored'));
    expect(out.map((b) => b.how)).toEqual(['forwarded']);
    expect(out[0]?.batch.equals((entries[0] as StoredEntry).value)).toBe(true);
    expectExact(log, out, 0);
  });

  for (const codec of ['none', 'zstd'] as const) {
    test(`small consecutive stored batches are coalesced into one (${codec})`, async () => {
      const log = await logWith({ stamp: { id: EDGE } }, { compression: codec });
      await fill(log, 12, 5);
      const out = planBatches(log.entries('t', 0, 0), 0, forwardContext(EDGE, limits, 'stored'));
      expect(out.map((b) => b.how)).toEqual(['coalesced']);
      expect(peekBatch(out[0]?.batch as Buffer).compression).toBe(codec);
      expectExact(log, out, 0);
    });
  }

  test('coalescing stops at batch.maxRecords and batch.maxBytes', async () => {
    const log = await logWith({ stamp: { id: EDGE } }, { compression: 'none' });
    await fill(log, 10, 4);
    const byRecords = planBatches(
      log.entries('t', 0, 0),
      0,
      forwardContext(EDGE, { ...limits, maxRecords: 8 }, 'stored'),
    );
    expect(byRecords.map((b) => b.offsets.length)).toEqual([8, 8, 8, 8, 8]);
    const one = (log.entries('t', 0, 0)[0] as StoredEntry).value.length;
    const byBytes = planBatches(
      log.entries('t', 0, 0),
      0,
      forwardContext(EDGE, { ...limits, maxBytes: one * 3 }, 'stored'),
    );
    expect(byBytes.every((b) => b.offsets.length <= 12)).toBe(true);
    expectExact(log, byBytes, 0);
  });

  test('unstamped, foreign-stamped and mid-batch starts are sealed again with our stamp', async () => {
    const dir = tempDir();
    const opts = (more: Partial<LogOptions>) => options(dir, { topics: { t: spec(1) }, ...more });
    let log = await openTestLog(opts({}));
    await fill(log, 2, 6); // unstamped (0-11)
    await log.close();
    log = await openTestLog(opts({ stamp: { id: 'other-edge' } }));
    await fill(log, 1, 6, 12); // another id (12-17)
    await log.close();
    log = await openTestLog(opts({ stamp: { id: EDGE } }));
    await fill(log, 2, 6, 18); // ours (18-29)
    const ctx = forwardContext(EDGE, limits, 'stored');
    const out = planBatches(log.entries('t', 0, 0), 0, ctx);
    expect(out.map((b) => b.how)).toEqual(['recoded', 'recoded', 'recoded', 'coalesced']);
    expectExact(log, out, 0);
    const mid = planBatches(log.entries('t', 0, 20), 20, ctx);
    expect(mid.map((b) => [b.how, b.offsets[0]])).toEqual([
      ['recoded', 20],
      ['forwarded', 24],
    ]);
    expectExact(log, mid, 20);
  });

  for (const codec of ['none', 'zstd'] as const) {
    test(`a coalesced batch stays within batch.maxBytes although its deltas grow (${codec})`, async () => {
      const log = await logWith({ stamp: { id: EDGE } }, { compression: codec });
      const day = 86_400_000;
      for (let i = 0; i < 300; i++) {
        // One record per stored batch, a day apart: every delta grows when they are merged.
        const timestamp = 1_600_000_000_000 + i * day;
        await log.append([
          {
            topic: 't',
            partition: 0,
            timestamp,
            value: randomBytes(40),
            headers: { 'mqtt.qos': Buffer.from('1') },
          },
        ]);
      }
      const entries = log.entries('t', 0, 0, { maxEntries: 1000 });
      const stored = entries.reduce((n, e) => n + e.value.length, 0);
      for (const maxBytes of [Math.floor(stored / 3), Math.floor(stored / 7), 2000]) {
        const out = planBatches(entries, 0, forwardContext(EDGE, { ...limits, maxBytes }, 'stored'));
        for (const b of out) expect(b.batch.length).toBeLessThanOrEqual(maxBytes);
        expect(
          out.map((b) => b.how),
          String(maxBytes),
        ).toContain('coalesced');
        expectExact(log, out, 0);
      }
    });
  }

  test('a link codec other than the stored one recompresses once', async () => {
    const log = await logWith({ stamp: { id: EDGE } }, { compression: 'none' });
    await fill(log, 3, 20);
    const out = planBatches(log.entries('t', 0, 0), 0, forwardContext(EDGE, limits, 'zstd'));
    expect(out.map((b) => b.how)).toEqual(['recoded', 'recoded', 'recoded']);
    expect(out.every((b) => peekBatch(b.batch).compression === 'zstd')).toBe(true);
    expectExact(log, out, 0);
  });

  test('a stored batch above batch.maxBytes is split', async () => {
    const log = await logWith({ stamp: { id: EDGE } }, { compression: 'none' });
    await fill(log, 1, 100);
    const out = planBatches(
      log.entries('t', 0, 0),
      0,
      forwardContext(EDGE, { ...limits, maxBytes: 4000 }, 'stored'),
    );
    expect(out.length).toBeGreaterThan(3);
    for (const b of out) expect(b.batch.length).toBeLessThanOrEqual(4000);
    expectExact(log, out, 0);
  });

  test('trimLanded plans again from the first offset that has not landed', async () => {
    const log = await logWith({ stamp: { id: EDGE } }, { compression: 'zstd' });
    await fill(log, 4, 5);
    const ctx = forwardContext(EDGE, limits, 'stored');
    const [out] = planBatches(log.entries('t', 0, 0), 0, ctx);
    if (!out) throw new Error('no batch');
    expect(trimLanded(out, -1, ctx)).toEqual([out]);
    expect(trimLanded(out, 19, ctx)).toBeUndefined();
    const t = trimLanded(out, 7, ctx) ?? [];
    expect(t.flatMap((b) => b.offsets)).toEqual(Array.from({ length: 12 }, (_, i) => 8 + i));
    expectExact(log, t, 8);
  });

  test('trimLanded never goes past the batch it trims (one stored batch split in three)', async () => {
    const log = await logWith({ stamp: { id: EDGE } }, { compression: 'none' });
    await fill(log, 1, 30);
    const ctx = forwardContext(EDGE, { ...limits, maxRecords: 10 }, 'stored');
    const planned = planBatches(log.entries('t', 0, 0), 0, ctx);
    expect(planned.map((b) => [b.offsets[0], b.offsets.length])).toEqual([
      [0, 10],
      [10, 10],
      [20, 10],
    ]);
    const t = trimLanded(planned[1] as WireBatch, 14, ctx) ?? [];
    expect(t.flatMap((b) => b.offsets)).toEqual([15, 16, 17, 18, 19]);
  });
});
