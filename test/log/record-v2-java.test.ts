/**
 * Kafka's own Java classes (kafka-clients, the jars test/kafka/fetch.sh fetched) read the batches
 * record-v2 writes: MemoryRecords.readableRecords → batches → ensureValid() (size, magic, CRC-32C),
 * then every record's offset, timestamp, key, value and headers are compared with what was written.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from 'lmdb';
import { expect, onTestFinished, test } from 'vitest';
import type { RecordFields } from '../../src/log/codec/record-v2.ts';
import { COMPRESSIONS, type Compression, encodeBatch, openLog } from '../../src/log/index.ts';
import { runJava } from '../kafka/java.ts';
import { options, spec, tempDir } from './helpers.ts';

const here = dirname(fileURLToPath(import.meta.url));

interface Dumped {
  file: string;
  magic: number;
  compression: string;
  baseOffset: number;
  lastOffset: number;
  maxTimestamp: number;
  timestampType: string;
  records: Array<{
    offset: number;
    timestamp: number;
    key: string | null;
    value: string | null;
    headers: [string, string | null][];
  }>;
}

/** Three batches per codec: offsets continue across them, keys null and not, headers, timestamps out of order. */
function batchesFor(codec: Compression): { base: number; records: RecordFields[] }[] {
  const out: { base: number; records: RecordFields[] }[] = [];
  let base = 1_000;
  for (let b = 0; b < 3; b++) {
    const n = [1, 7, 40][b] as number;
    const records: RecordFields[] = [];
    for (let i = 0; i < n; i++) {
      const headers: Record<string, Buffer> = {};
      if (i % 2 === 0) headers['mqtt.qos'] = Buffer.from(String(i % 3));
      if (i % 3 === 0) headers['client.id'] = Buffer.from(`dev-${i}`);
      if (i % 5 === 1) headers['gerät'] = Buffer.alloc(0);
      records.push({
        timestamp: 1_760_000_000_000 + b * 10_000 + ((i * 37) % 11) * 100 - 500,
        key: i % 4 === 0 ? null : Buffer.from(`vehicles/VIN${i}/telemetry`),
        headers,
        value:
          i % 6 === 5
            ? Buffer.alloc(0)
            : Buffer.concat([
                Buffer.from(JSON.stringify({ i, b, codec, speed: i * 1.5 }).repeat(1 + (i % 4))),
                randomBytes(i % 9),
              ]),
      });
    }
    out.push({ base, records });
    base += n;
  }
  return out;
}

test('record-v2 › Kafka MemoryRecords validates and reads our batches for every codec', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-v2-java-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const written = new Map<Compression, { base: number; records: RecordFields[] }[]>();
  const files: string[] = [];
  for (const codec of COMPRESSIONS) {
    const batches = batchesFor(codec);
    written.set(codec, batches);
    const file = join(dir, `${codec}.bin`);
    writeFileSync(file, Buffer.concat(batches.map((b) => encodeBatch(b.base, b.records, codec))));
    files.push(file);
  }
  const out = await runJava(join(here, 'fixtures', 'RecordBatchDump.java'), files);
  const dumped = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Dumped);
  expect(dumped).toHaveLength(COMPRESSIONS.length * 3);
  for (const codec of COMPRESSIONS) {
    const got = dumped.filter((d) => d.file === `${codec}.bin`);
    const want = written.get(codec) ?? [];
    expect(got.map((d) => [d.magic, d.compression, d.timestampType])).toEqual(
      want.map(() => [2, codec, 'CreateTime']),
    );
    got.forEach((d, bi) => {
      const w = want[bi] as { base: number; records: RecordFields[] };
      expect(d.baseOffset).toBe(w.base);
      expect(d.lastOffset).toBe(w.base + w.records.length - 1);
      expect(d.maxTimestamp).toBe(Math.max(...w.records.map((r) => r.timestamp)));
      expect(d.records).toEqual(
        w.records.map((r, i) => ({
          offset: w.base + i,
          timestamp: r.timestamp,
          key: r.key === null ? null : r.key.toString('hex'),
          value: r.value.toString('hex'),
          headers: Object.entries(r.headers).map(([k, v]) => [
            Buffer.from(k).toString('hex'),
            v.toString('hex'),
          ]),
        })),
      );
    });
  }
}, 180_000);

test('record-v2 › Kafka MemoryRecords reads the values the log stored, as they are in LMDB', async () => {
  const dir = tempDir('outpost-v2-java-log-');
  const log = await openLog(options(dir, { topics: { t: spec(1, { compression: 'zstd' }) } }));
  for (let b = 0; b < 4; b++) {
    await log.append(
      Array.from({ length: 3 + b * 5 }, (_, i) => ({
        topic: 't',
        partition: 0,
        key: i % 2 === 0 ? null : Buffer.from(`dev-${i}`),
        value: Buffer.from(JSON.stringify({ b, i, temp: 20 + i / 10 })),
        headers: { 'mqtt.qos': Buffer.from('1'), 'client.id': Buffer.from(`dev-${i}`) },
        timestamp: 1_760_000_000_000 + b * 1000 + i,
      })),
    );
  }
  const expected = log.read('t', 0, 0, { maxRecords: 1000 });
  await log.close();
  const env = open({ path: join(dir, 'lmdb'), maxDbs: 64 });
  const values: Buffer[] = [];
  try {
    const records = env.openDB<Buffer, [number, number, number]>('log.records', { encoding: 'binary' });
    for (const { value } of records.getRange()) values.push(Buffer.from(value));
  } finally {
    await env.close();
  }
  expect(values).toHaveLength(4);
  const file = join(dir, 'stored.bin');
  writeFileSync(file, Buffer.concat(values));
  const dumped = (await runJava(join(here, 'fixtures', 'RecordBatchDump.java'), [file]))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Dumped);
  expect(dumped.map((d) => d.compression)).toEqual(['zstd', 'zstd', 'zstd', 'zstd']);
  expect(dumped.flatMap((d) => d.records)).toEqual(
    expected.map((r) => ({
      offset: r.offset,
      timestamp: r.timestamp,
      key: r.key === null ? null : r.key.toString('hex'),
      value: r.value.toString('hex'),
      headers: Object.entries(r.headers).map(([k, v]) => [Buffer.from(k).toString('hex'), v.toString('hex')]),
    })),
  );
}, 180_000);
