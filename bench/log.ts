/**
 * npm run bench:log — durable append throughput of src/log against its ceiling, a plain lmdb-js
 * put loop with the same record sizes, the same concurrency and the same durability (awaited puts
 * + `flushed`), measured in the same run. Also tail read throughput.
 *
 *   BENCH_RECORDS   records per batch size (default 1,000,000; e.g. 100000 for a quick run)
 *   BENCH_CALLERS   concurrent append callers (default 16)
 *   BENCH_BATCHES   comma-separated batch sizes (default 1,10,100,1000)
 *   BENCH_ROUNDS    alternating rounds per batch size, best of each side is reported (default 2;
 *                   the machine may be shared, alternation keeps the two sides under the same load)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { type AppendRecord, openLog } from '../src/log/index.ts';

const RECORDS = Number(process.env['BENCH_RECORDS'] ?? 1_000_000);
const CALLERS = Number(process.env['BENCH_CALLERS'] ?? 16);
const BATCHES = (process.env['BENCH_BATCHES'] ?? '1,10,100,1000').split(',').map(Number);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);
const VALUE_BYTES = 200;
const PARTITIONS = 8;

interface Result {
  seconds: number;
  latencies: number[];
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** CALLERS concurrent loops, each taking batches of `batch` records until `total` are done. */
async function drive(
  total: number,
  batch: number,
  appendBatch: (start: number, n: number) => Promise<unknown>,
): Promise<Result> {
  let next = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (next < total) {
        const start = next;
        const n = Math.min(batch, total - start);
        next += n;
        const s = performance.now();
        await appendBatch(start, n);
        latencies.push(performance.now() - s);
      }
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, latencies: latencies.sort((a, b) => a - b) };
}

function tmp(name: string): string {
  return mkdtempSync(join(tmpdir(), `outpost-bench-${name}-`));
}

const payload = Buffer.alloc(VALUE_BYTES, 0x61);

async function ceiling(batch: number): Promise<Result> {
  const dir = tmp('lmdb');
  const env = open({ path: dir, maxDbs: 4 });
  const db = env.openDB<Buffer, [number, number, number]>('records', { encoding: 'binary' });
  const nextOffset = new Array<number>(PARTITIONS).fill(0);
  try {
    return await drive(RECORDS, batch, async (start, n) => {
      const puts: Promise<boolean>[] = [];
      for (let i = 0; i < n; i++) {
        const p = (start + i) % PARTITIONS;
        puts.push(db.put([1, p, nextOffset[p]!++], payload));
      }
      await Promise.all(puts);
      await db.flushed;
    });
  } finally {
    await env.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function outpost(
  batch: number,
  withTail: boolean,
): Promise<Result & { tail?: { records: number; seconds: number }; reopenMs?: number }> {
  const dir = tmp('log');
  const opts = {
    dataDir: dir,
    topics: { bench: { partitions: PARTITIONS, retentionMs: 1e12, retentionBytes: 1e15 } },
    maxBytes: 1e15,
    onFull: 'reject' as const,
    minFreeBytes: 0,
  };
  const log = await openLog(opts);
  try {
    const result = await drive(RECORDS, batch, (start, n) => {
      const records: AppendRecord[] = new Array(n);
      for (let i = 0; i < n; i++)
        records[i] = { topic: 'bench', partition: (start + i) % PARTITIONS, value: payload };
      return log.append(records);
    });
    if (!withTail) return result;
    const t0 = performance.now();
    let read = 0;
    await Promise.all(
      Array.from({ length: PARTITIONS }, async (_, p) => {
        const end = log.offsets('bench', p).endOffset;
        const ac = new AbortController();
        for await (const b of log.tail('bench', p, 0, {
          signal: ac.signal,
          maxRecords: 5000,
          maxBytes: 4 * 1024 ** 2,
        })) {
          read += b.length;
          if ((b.at(-1)?.offset ?? 0) + 1 >= end) ac.abort();
        }
      }),
    );
    const tail = { records: read, seconds: (performance.now() - t0) / 1000 };
    // Reopen time (recovery reads the last key per partition and the byte checkpoints).
    await log.close();
    const r0 = performance.now();
    const again = await openLog(opts);
    const reopenMs = performance.now() - r0;
    await again.close();
    return { ...result, tail, reopenMs };
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
console.log(
  `bench:log — ${fmt(RECORDS)} × ${VALUE_BYTES} B durable appends per batch size, ${PARTITIONS} partitions, ${CALLERS} concurrent callers (node ${process.version})`,
);
console.log(
  `peer: plain lmdb-js put loop (same sizes, same callers, awaited puts + flushed) = ceiling; best of ${ROUNDS} alternating rounds`,
);
console.log(
  'batch | outpost rec/s |  MB/s | p50 ms | p99 ms || lmdb-js rec/s |  MB/s | p50 ms | p99 ms || ratio',
);
for (const batch of BATCHES) {
  let peer: Result | undefined;
  let ours: Result | undefined;
  let tail: { records: number; seconds: number } | undefined;
  let reopenMs: number | undefined;
  for (let round = 0; round < ROUNDS; round++) {
    const p = await ceiling(batch);
    const o = await outpost(batch, batch === BATCHES.at(-1) && round === ROUNDS - 1);
    if (peer === undefined || p.seconds < peer.seconds) peer = p;
    if (ours === undefined || o.seconds < ours.seconds) ours = o;
    tail = o.tail ?? tail;
    reopenMs = o.reopenMs ?? reopenMs;
  }
  if (peer === undefined || ours === undefined) throw new Error('BENCH_ROUNDS must be at least 1');
  const rate = (r: Result) => RECORDS / r.seconds;
  const mb = (r: Result) => (RECORDS * VALUE_BYTES) / r.seconds / 1e6;
  console.log(
    [
      String(batch).padStart(5),
      fmt(rate(ours)).padStart(13),
      fmt(mb(ours), 1).padStart(5),
      fmt(percentile(ours.latencies, 0.5), 2).padStart(6),
      fmt(percentile(ours.latencies, 0.99), 2).padStart(6),
      `| ${fmt(rate(peer)).padStart(13)}`,
      fmt(mb(peer), 1).padStart(5),
      fmt(percentile(peer.latencies, 0.5), 2).padStart(6),
      fmt(percentile(peer.latencies, 0.99), 2).padStart(6),
      `| ${(rate(ours) / rate(peer)).toFixed(2)}×`,
    ].join(' | '),
  );
  if (tail) {
    console.log(
      `tail read: ${fmt(tail.records)} records in ${tail.seconds.toFixed(2)} s = ${fmt(tail.records / tail.seconds)} rec/s, ${fmt((tail.records * VALUE_BYTES) / tail.seconds / 1e6, 1)} MB/s (8 partitions, in-process)`,
    );
    console.log(`reopen after ${fmt(RECORDS)} records: ${fmt(reopenMs ?? Number.NaN, 1)} ms`);
  }
}
