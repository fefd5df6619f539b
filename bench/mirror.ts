/**
 * npm run bench:mirror — mirror throughput and latency against a local single-node Kafka (harness),
 * beside Kafka's own Java producer (kafka-producer-perf-test) on the same broker in the same run.
 *
 * 1. Preload BENCH_RECORDS records of 200 B (value) into a fresh edge log, BENCH_PARTITIONS partitions,
 *    then mirror them: records/s and MB/s from the mirror's start until every partition has no lag.
 * 2. Peer: ProducerPerformance, same record count and size, same partition count, acks=all,
 *    enable.idempotence=true. Prints the ratio (ours / Java).
 *    Both for each codec of BENCH_CODECS (default "none,zstd"): the edge topic stores batches in
 *    that codec (the mirror sends them as stored) and the peer runs with compression.type set to
 *    it. The values are the peer's own payload: one random run of A-Z letters, the same for every
 *    record (ProducerPerformance without a payload file), so both sides send the same bytes.
 * 3. End-to-end latency at a steady BENCH_RATE records/s (default 5000) for BENCH_LATENCY_SECONDS
 *    (default 10): from the append call to the record reaching a read_committed consumer; p50/p99.
 *
 * Both sides run BENCH_REPEAT times (default 3), alternating ours / Java, after an unreported warm-up
 * of each; the figures are the medians and the ratio is median / median (a shared machine is noisy).
 *
 *   BENCH_RECORDS=100000 BENCH_REPEAT=1 npm run bench:mirror     # quick run
 *   KAFKA_BOOTSTRAP_BENCH_MIRROR=host:port        # use an existing broker instead of starting one
 */

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, Consumer, FetchIsolationLevels } from '@platformatic/kafka';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseConfig } from '../src/config/index.ts';
import { type AppendRecord, type Compression, openLog } from '../src/log/index.ts';
import { type Mirror, startMirror } from '../src/mirror/index.ts';
import { logOptionsFromConfig } from '../src/service/index.ts';
import { startCluster } from '../test/kafka/harness.ts';
import { runProducerPerfTest } from '../test/kafka/perf.ts';

const RECORDS = Number(process.env['BENCH_RECORDS'] ?? 1_000_000);
const PARTITIONS = Number(process.env['BENCH_PARTITIONS'] ?? 4);
const RATE = Number(process.env['BENCH_RATE'] ?? 5000);
const LATENCY_SECONDS = Number(process.env['BENCH_LATENCY_SECONDS'] ?? 10);
const REPEAT = Math.max(1, Number(process.env['BENCH_REPEAT'] ?? 3));
const VALUE_BYTES = 200;
const CODECS = (process.env['BENCH_CODECS'] ?? 'none,zstd').split(',') as Compression[];
/** ProducerPerformance's payload: random uppercase letters, generated once. */
const PAYLOAD = Buffer.from(Array.from({ length: VALUE_BYTES }, () => 65 + Math.floor(Math.random() * 26)));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] as number;
const logger = pino({ level: process.env['BENCH_LOG'] ?? 'warn' });

function config(bootstrap: string, dataDir: string, edgeId: string, compression: Compression = 'none') {
  return parseConfig({
    edgeId,
    dataDir,
    log: {
      topics: { t: { partitions: PARTITIONS, compression } },
      minFreeBytes: 0,
      maxBytes: 16 * 1024 ** 3,
    },
    mqtt: { listeners: [{ type: 'tcp', port: 0 }] },
    mirror: { clusters: { bench: { bootstrap, batch: { maxRecords: 5000, maxBytes: 1024 ** 2 } } } },
  });
}

async function caughtUp(mirror: Mirror): Promise<void> {
  for (;;) {
    const parts = mirror.status().clusters.flatMap((c) => c.partitions);
    if (parts.length > 0 && parts.every((p) => p.lagRecords === 0)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pct = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

interface Ours {
  rps: number;
  mbps: number;
  seconds: number;
  /** Batch bytes acknowledged per record (outpost_mirror_bytes_total / records). */
  wirePerRecord: number;
  how: string;
}

async function throughput(bootstrap: string, codec: Compression, records = RECORDS): Promise<Ours> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-mirror-'));
  try {
    const cfg = config(bootstrap, dir, `b${randomUUID().slice(0, 8)}`, codec);
    const log = await openLog(logOptionsFromConfig(cfg));
    const value = PAYLOAD;
    for (let i = 0; i < RECORDS; i += 1000) {
      const batch: AppendRecord[] = [];
      for (let j = i; j < Math.min(RECORDS, i + 1000); j++)
        batch.push({ topic: 't', partition: j % PARTITIONS, value });
      await log.append(batch);
    }
    const t0 = performance.now();
    const registry = new Registry();
    const mirror = await startMirror({ config: cfg, log, logger, metrics: registry });
    while (mirror.status().clusters[0]?.state === 'connecting') await new Promise((r) => setTimeout(r, 5));
    const t1 = performance.now();
    await caughtUp(mirror);
    const seconds = (performance.now() - t0) / 1000;
    const streaming = (performance.now() - t1) / 1000;
    console.log(
      `  (session setup ${((t1 - t0) / 1000).toFixed(2)} s: topics, remote tails; then ${Math.round(records / streaming).toLocaleString()} records/s while streaming)`,
    );
    await mirror.stop({ timeoutMs: 10_000 });
    const sum = async (name: string) => {
      const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
      return m?.values ?? [];
    };
    const bytes = (await sum('outpost_mirror_bytes_total')).reduce((n, v) => n + v.value, 0);
    const how = (await sum('outpost_mirror_batches_total'))
      .map((v) => `${v.labels['how']} ${v.value}`)
      .join(', ');
    await log.close();
    return {
      rps: records / seconds,
      mbps: (records * VALUE_BYTES) / seconds / 1e6,
      seconds,
      wirePerRecord: bytes / records,
      how,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function latency(bootstrap: string): Promise<{ p50: number; p99: number; n: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-mirror-lat-'));
  const edgeId = `l${randomUUID().slice(0, 8)}`;
  const cfg = config(bootstrap, dir, edgeId);
  const log = await openLog(logOptionsFromConfig(cfg));
  const mirror = await startMirror({ config: cfg, log, logger, metrics: new Registry() });
  while (mirror.status().clusters[0]?.state !== 'streaming') await new Promise((r) => setTimeout(r, 20));
  const consumer = new Consumer({
    clientId: 'bench',
    groupId: `bench-${randomUUID()}`,
    bootstrapBrokers: [bootstrap],
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    maxWaitTime: 10,
    minBytes: 1,
  });
  const sent = new Map<string, number>();
  const lat: number[] = [];
  const stream = await consumer.consume({ topics: [`${edgeId}.t`], mode: 'earliest', autocommit: false });
  stream.on('data', (m) => {
    const at = sent.get((m.value as Buffer).subarray(0, 36).toString());
    if (at !== undefined) lat.push(performance.now() - at);
  });
  await new Promise((r) => setTimeout(r, 3000)); // group join
  const total = RATE * LATENCY_SECONDS;
  const perTick = Math.max(1, Math.round(RATE / 100)); // every 10 ms
  const t0 = performance.now();
  for (let i = 0; i < total; i += perTick) {
    const batch: AppendRecord[] = [];
    for (let j = 0; j < perTick; j++) {
      const id = randomUUID();
      sent.set(id, performance.now());
      batch.push({
        topic: 't',
        partition: (i + j) % PARTITIONS,
        value: Buffer.concat([Buffer.from(id), Buffer.alloc(VALUE_BYTES - 36, 0x62)]),
      });
    }
    void log.append(batch);
    const due = t0 + ((i + perTick) / RATE) * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
  }
  const deadline = performance.now() + 30_000;
  while (lat.length < sent.size && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await stream.close();
  await consumer.close(true);
  await mirror.stop({ timeoutMs: 10_000 });
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 0.5), p99: pct(lat, 0.99), n: lat.length };
}

/** kafka-producer-perf-test into a fresh topic of PARTITIONS partitions. */
async function peer(bootstrap: string, codec: Compression, records: number) {
  const topic = `perf-${randomUUID().slice(0, 8)}`;
  const admin = new Admin({ clientId: 'bench', bootstrapBrokers: [bootstrap] });
  await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 });
  await admin.close();
  return runProducerPerfTest({
    bootstrap,
    topic,
    records,
    recordSize: VALUE_BYTES,
    producerProps: { 'compression.type': codec },
  });
}

const cluster = await startCluster({ name: 'bench-mirror' });
try {
  const bootstrap = cluster.bootstrap;
  console.log(
    `bench:mirror — ${RECORDS.toLocaleString()} records x ${VALUE_BYTES} B, ${PARTITIONS} partitions, broker ${bootstrap}`,
  );
  // Warm-up, not reported: both sides' first runs on a cold broker JVM (and our JIT) are slower, and
  // whichever ran first would pay for it.
  const warm = Math.max(10_000, Math.round(RECORDS / 10));
  await throughput(bootstrap, 'none', warm);
  await peer(bootstrap, 'none', warm);
  console.log('(warmed up both sides)');
  for (const codec of CODECS) {
    const oursRuns: Ours[] = [];
    const javaRuns: Array<{ recordsPerSec: number; mbPerSec: number }> = [];
    for (let i = 0; i < REPEAT; i++) {
      const o = await throughput(bootstrap, codec);
      oursRuns.push(o);
      console.log(
        `  [${codec}] run ${i + 1}/${REPEAT} outpost mirror ${Math.round(o.rps).toLocaleString()} records/s (${o.seconds.toFixed(2)} s; ${o.wirePerRecord.toFixed(1)} B/record sent; batches: ${o.how})`,
      );
      const j = await peer(bootstrap, codec, RECORDS);
      javaRuns.push(j);
      console.log(
        `  [${codec}] run ${i + 1}/${REPEAT} kafka-producer-perf-test ${Math.round(j.recordsPerSec).toLocaleString()} records/s`,
      );
    }
    const ours = { rps: median(oursRuns.map((r) => r.rps)), mbps: median(oursRuns.map((r) => r.mbps)) };
    const java = {
      recordsPerSec: median(javaRuns.map((r) => r.recordsPerSec)),
      mbPerSec: median(javaRuns.map((r) => r.mbPerSec)),
    };
    console.log(
      `[${codec}] outpost mirror           ${Math.round(ours.rps).toLocaleString()} records/s  ${ours.mbps.toFixed(1)} MB/s  (median of ${REPEAT}; ${median(oursRuns.map((r) => r.wirePerRecord)).toFixed(1)} B/record on the wire)`,
    );
    console.log(
      `[${codec}] kafka-producer-perf-test ${Math.round(java.recordsPerSec).toLocaleString()} records/s  ${java.mbPerSec.toFixed(1)} MB/s  (acks=all, idempotence on, compression.type=${codec}; median of ${REPEAT})`,
    );
    console.log(`[${codec}] ratio outpost / java     ${(ours.rps / java.recordsPerSec).toFixed(2)}x`);
  }
  const l = await latency(bootstrap);
  console.log(
    `end-to-end latency at ${RATE.toLocaleString()} rec/s (append -> read_committed consumer, ${l.n} records): p50 ${l.p50.toFixed(1)} ms  p99 ${l.p99.toFixed(1)} ms`,
  );
} finally {
  await cluster.destroy();
}
