/**
 * In-place upgrade: a log written by the 0.1.0 code (record-v1, layout format 1) is read as it is
 * by this code, new appends go in record-v2 batches after it, cursors keep their positions (so a
 * mirror resumes where it was and re-sends nothing), and log.meta says which formats are present.
 * The old log is written by the old code itself (v1-code.ts: 0.1.0's src/ from git), in a child
 * process running its openLog/append/setCursor.
 */
import { join } from 'node:path';
import { open } from 'lmdb';
import { expect, test } from 'vitest';
import { openLog } from '../../src/log/index.ts';
import { openTestLog, options, spec, tempDir } from './helpers.ts';
import { runV1Code } from './v1-code.ts';

const HOUR = 3600_000;
const NOW = Date.now();

/** What the old code appends: partition p gets 6 records, 3 of them three hours old. */
function v1Records(): Array<{ partition: number; key: string | null; value: string; ts: number; h: string }> {
  const out = [];
  for (let p = 0; p < 2; p++) {
    for (let i = 0; i < 6; i++) {
      out.push({
        partition: p,
        key: i % 2 === 0 ? null : `dev-${p}-${i}`,
        value: `v1 p${p} #${i}`,
        ts: i < 3 ? NOW - 3 * HOUR : NOW,
        h: `h${i}`,
      });
    }
  }
  return out;
}

const CHILD = `
import { openLog } from './src/log/index.ts';
const [dataDir, json] = process.argv.slice(2);
const log = await openLog({ dataDir, topics: { t: { partitions: 2, retentionMs: 1e12, retentionBytes: 1e12 } },
  maxBytes: 1e12, onFull: 'reject', minFreeBytes: 0 });
for (const r of JSON.parse(json)) {
  await log.append([{ topic: 't', partition: r.partition, key: r.key === null ? null : Buffer.from(r.key),
    value: Buffer.from(r.value), timestamp: r.ts, headers: { 'mqtt.qos': Buffer.from('1'), x: Buffer.from(r.h) } }]);
}
await log.setCursor('mirror:dc-east', 't', 0, 4, { protected: true });
await log.close();
`;

function writeWithV1Code(dataDir: string): void {
  runV1Code(CHILD, [dataDir, JSON.stringify(v1Records())]);
}

async function meta(
  dataDir: string,
): Promise<{ format: unknown; recordFormats: unknown; firstByte: number[] }> {
  const env = open({ path: join(dataDir, 'lmdb'), maxDbs: 64 });
  try {
    const m = env.openDB<unknown, string>('log.meta', { encoding: 'msgpack' });
    const records = env.openDB<Buffer, [number, number, number]>('log.records', { encoding: 'binary' });
    return {
      format: m.get('format'),
      recordFormats: m.get('recordFormats'),
      firstByte: [...records.getRange()].map(({ value }) => value[0] as number),
    };
  } finally {
    await env.close();
  }
}

test('log › upgrade: a record-v1 log from 0.1.0 is read in place, appended to in record-v2 and trimmed', async () => {
  const dir = tempDir('outpost-upgrade-');
  writeWithV1Code(dir);
  const before = await meta(dir);
  expect(before.format).toBe(1);
  expect(before.recordFormats).toBeUndefined();
  expect(new Set(before.firstByte)).toEqual(new Set([0x01]));

  const opts = options(dir, { topics: { t: spec(2, { retentionMs: HOUR, compression: 'zstd' }) } });
  const log = await openLog(opts);
  // The backlog reads back exactly as the old code wrote it.
  const want = v1Records();
  for (const p of [0, 1]) {
    expect(log.offsets('t', p)).toEqual({ startOffset: 0, endOffset: 6 });
    const got = log.read('t', p, 0);
    expect(
      got.map((r) => ({
        partition: r.partition,
        key: r.key === null ? null : r.key.toString(),
        value: r.value.toString(),
        ts: r.timestamp,
        h: r.headers['x']?.toString(),
        qos: r.headers['mqtt.qos']?.toString(),
      })),
    ).toEqual(want.filter((r) => r.partition === p).map((r) => ({ ...r, qos: '1' })));
    expect(got.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5]);
  }
  // The mirror's cursor is where 0.1.0 left it: it resumes there and re-sends nothing.
  expect(log.getCursor('mirror:dc-east', 't', 0)).toMatchObject({ offset: 4, protected: true });
  const appended = await log.append(
    [0, 1, 2].map((i) => ({ topic: 't', partition: 0, value: Buffer.from(`v2 #${i}`), timestamp: NOW })),
  );
  expect(appended.map((r) => r.offset)).toEqual([6, 7, 8]);
  expect(log.read('t', 0, 4).map((r) => r.value.toString())).toEqual([
    'v1 p0 #4',
    'v1 p0 #5',
    'v2 #0',
    'v2 #1',
    'v2 #2',
  ]);
  await log.close();
  const mixed = await meta(dir);
  expect(mixed.format).toBe(2);
  expect(mixed.recordFormats).toEqual([1, 2]);
  expect(mixed.firstByte.filter((b) => b === 0x00)).toHaveLength(1); // one record-v2 batch

  // Retention trims the expired record-v1 entries (the protected cursor at 4 does not hold 0-2).
  const again = await openTestLog(opts);
  expect(again.read('t', 0, 0).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const report = await again.runRetention(NOW);
  expect(report.deleted).toEqual({ 't/0': 3, 't/1': 3 });
  expect(again.offsets('t', 0)).toEqual({ startOffset: 3, endOffset: 9 });
  // Once every record-v1 entry has expired, log.meta lists record-v2 only.
  await again.setCursor('mirror:dc-east', 't', 0, 9, { protected: true });
  await again.runRetention(NOW + 2 * HOUR);
  await again.close();
  const reader = await openTestLog({ ...opts, role: 'reader' });
  expect(reader.offsets('t', 1)).toEqual({ startOffset: 6, endOffset: 6 });
  await reader.close();
  const last = await openTestLog(opts);
  expect(last.offsets('t', 0)).toEqual({ startOffset: 9, endOffset: 9 });
  await last.close();
  expect((await meta(dir)).recordFormats).toEqual([2]);
}, 120_000);
