/**
 * What one durable log commit writes to disk: bytes written by this process per commit
 * (/proc/self/io write_bytes, Linux) and the page counts of each LMDB sub-database and the free
 * list before and after (lmdb-js getStats, i.e. mdb_stat). No peer: this is a measurement of the
 * log's own write pattern, run against this log or an older one for comparison:
 *
 *   node bench/commit-writes.ts [--log path/to/src/log/index.ts] [--commits N] [--prefill N]
 *
 * Part 1: each commit is one awaited append (fsynced before it resolves), so each is one LMDB write
 * transaction. Part 2: appends of one record each arrive at --rate per second (spread over 4
 * partitions, like devices publishing) for --seconds, once per commit window in --windows; prints
 * bytes written per record and append latency p50/p99 (the PUBACK wait without MQTT). Values are
 * 200-byte JSON telemetry like the gateway-load scenario. Part 2 needs a log with commitWindowMs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { open } from 'lmdb';

const { values: args } = parseArgs({
  options: {
    log: { type: 'string', default: new URL('../src/log/index.ts', import.meta.url).pathname },
    commits: { type: 'string', default: '300' },
    prefill: { type: 'string', default: '200000' },
    compression: { type: 'string', default: 'zstd' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '10' },
    windows: { type: 'string', default: '0,5,10,20,50,100' },
  },
});
const COMMITS = Number(args.commits);
const PREFILL = Number(args.prefill);
const { openLog } = (await import(resolve(args.log))) as typeof import('../src/log/index.ts');

function writeBytes(): number {
  const m = /write_bytes:\s*(\d+)/.exec(readFileSync('/proc/self/io', 'utf8'));
  return Number(m?.[1] ?? Number.NaN);
}

function payload(i: number): Buffer {
  const s = JSON.stringify({
    device: `gw-dev-${i % 500}`,
    seq: i,
    t: 1_760_000_000_000 + i,
    temp: 21.5,
    rssi: -70,
  });
  return Buffer.from(s.padEnd(200, ' '));
}

interface Pages {
  treeDepth: number;
  treeBranchPageCount: number;
  treeLeafPageCount: number;
  overflowPages: number;
  entryCount: number;
}
const pagesOf = (s: Pages): string =>
  `depth ${s.treeDepth} branch ${s.treeBranchPageCount} leaf ${s.treeLeafPageCount} overflow ${s.overflowPages} entries ${s.entryCount}`;

function stats(dir: string): { records: string; meta: string; free: string; main: string; lastPage: number } {
  const env = open({ path: join(dir, 'lmdb'), maxDbs: 64, readOnly: true });
  try {
    const e = env.getStats() as unknown as Pages & { root: Pages; free: Pages; lastPageNumber: number };
    const records = env.openDB('log.records', { encoding: 'binary' }).getStats() as unknown as Pages;
    const meta = env.openDB('log.meta', {}).getStats() as unknown as Pages;
    return {
      records: pagesOf(records),
      meta: pagesOf(meta),
      free: pagesOf(e.free),
      main: pagesOf(e.root),
      lastPage: e.lastPageNumber,
    };
  } finally {
    env.close();
  }
}

async function scenario(
  name: string,
  partitions: number,
  perPartition: number,
  prefill: number,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-commit-writes-'));
  try {
    const topics = {
      t: { partitions, retentionMs: 1e12, retentionBytes: 1e15, compression: args.compression as 'zstd' },
    };
    let log = await openLog({ dataDir: dir, topics, maxBytes: 1e15, onFull: 'reject', minFreeBytes: 0 });
    let seq = 0;
    for (let done = 0; done < prefill; done += 1000) {
      await log.append(
        Array.from({ length: 1000 }, (_, i) => ({
          topic: 't',
          partition: i % partitions,
          value: payload(seq++),
        })),
      );
    }
    await log.close();
    const before = stats(dir);
    log = await openLog({ dataDir: dir, topics, maxBytes: 1e15, onFull: 'reject', minFreeBytes: 0 });
    const w0 = writeBytes();
    for (let c = 0; c < COMMITS; c++) {
      const batch = [];
      for (let p = 0; p < partitions; p++) {
        for (let i = 0; i < perPartition; i++)
          batch.push({ topic: 't', partition: p, value: payload(seq++) });
      }
      await log.append(batch);
    }
    const written = writeBytes() - w0;
    await log.close();
    const after = stats(dir);
    const perCommit = written / COMMITS;
    const perRecord = perCommit / (partitions * perPartition);
    console.log(
      `${name.padEnd(34)} ${String(partitions * perPartition).padStart(4)} rec/commit  ${(perCommit / 1024).toFixed(1).padStart(6)} KiB/commit  ${(perCommit / 4096).toFixed(1).padStart(5)} pages/commit  ${perRecord.toFixed(0).padStart(6)} B/record`,
    );
    console.log(
      `    before: records ${before.records} | meta ${before.meta} | main ${before.main} | free ${before.free}`,
    );
    console.log(
      `    after:  records ${after.records} | meta ${after.meta} | main ${after.main} | free ${after.free}`,
    );
    console.log(`    file grew ${after.lastPage - before.lastPage} pages over ${COMMITS} commits`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(
  `log module: ${args.log}; ${COMMITS} commits per scenario; codec ${args.compression}; 200 B values`,
);
await scenario('fresh, 1 partition x 1', 1, 1, 0);
await scenario('fresh, 4 partitions x 1', 4, 1, 0);
await scenario('fresh, 4 partitions x 10', 4, 10, 0);
await scenario(`${PREFILL} stored, 4 partitions x 1`, 4, 1, PREFILL);
await scenario(`${PREFILL} stored, 4 partitions x 10`, 4, 10, PREFILL);
await scenario(`${PREFILL} stored, 4 partitions x 50`, 4, 50, PREFILL);

async function windowRun(windowMs: number, rate: number, seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-commit-window-'));
  try {
    const topics = {
      t: { partitions: 4, retentionMs: 1e12, retentionBytes: 1e15, compression: args.compression as 'zstd' },
    };
    const log = await openLog({
      dataDir: dir,
      topics,
      maxBytes: 1e15,
      onFull: 'reject',
      minFreeBytes: 0,
      commitWindowMs: windowMs,
    } as Parameters<typeof openLog>[0]);
    const latencies: number[] = [];
    const inflight = new Set<Promise<unknown>>();
    const total = rate * seconds;
    const w0 = writeBytes();
    const t0 = performance.now();
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const start = performance.now();
      const p = log.append([{ topic: 't', partition: i % 4, value: payload(i) }]).then(() => {
        latencies.push(performance.now() - start);
        inflight.delete(p);
      });
      inflight.add(p);
    }
    await Promise.all(inflight);
    const written = writeBytes() - w0;
    await log.close();
    latencies.sort((a, b) => a - b);
    const q = (f: number) =>
      (latencies[Math.min(latencies.length - 1, Math.floor(f * latencies.length))] ?? 0).toFixed(1);
    const perRecord = written / total;
    const tbYear = (perRecord * rate * 86400 * 365) / 1e12;
    console.log(
      `window ${String(windowMs).padStart(4)} ms  ${perRecord.toFixed(0).padStart(6)} B/record  append p50 ${q(0.5).padStart(6)} ms  p99 ${q(0.99).padStart(6)} ms  ${tbYear.toFixed(2).padStart(6)} TB/year at ${rate}/s`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function retentionRun(prefill: number, perAppend: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-retention-writes-'));
  try {
    const topics = {
      t: {
        partitions: 4,
        retentionMs: 3600_000,
        retentionBytes: 1e15,
        compression: args.compression as 'zstd',
      },
    };
    const log = await openLog({ dataDir: dir, topics, maxBytes: 1e15, onFull: 'reject', minFreeBytes: 0 });
    const now = Date.now();
    for (let i = 0; i < prefill; i += perAppend) {
      // The first half is two hours old: retention deletes it.
      const ts = i < prefill / 2 ? now - 7200_000 : now;
      await log.append(
        Array.from({ length: perAppend }, (_, j) => ({
          topic: 't',
          partition: j % 4,
          value: payload(i + j),
          timestamp: ts,
        })),
      );
    }
    const w0 = writeBytes();
    const report = await log.runRetention(now);
    const written = writeBytes() - w0;
    const deleted = Object.values(report.deleted).reduce((a, b) => a + b, 0);
    console.log(
      `retention: ${deleted} of ${prefill} records deleted (batches of ${perAppend / 4}): ${(written / 1024).toFixed(0)} KiB written, ${(written / Math.max(1, deleted)).toFixed(1)} B per deleted record`,
    );
    await log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await retentionRun(PREFILL, 40);
await retentionRun(PREFILL, 400);

console.log(`\ncommit window: ${args.rate} one-record appends/s over 4 partitions for ${args.seconds} s`);
for (const w of (args.windows ?? '0').split(','))
  await windowRun(Number(w), Number(args.rate), Number(args.seconds));
