/**
 * node test/kafka/measure.ts — footprint of one harness broker on this machine:
 * cold start (StorageTool format + JVM + ready), clean stop, warm restart, restart after SIGKILL,
 * and resident memory (VmRSS) when idle and after a small produce load.
 * KAFKA_MEASURE_RUNS (default 3) repetitions; prints each run and the medians.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createTopic, produce } from './client.ts';
import { startCluster } from './harness.ts';

const runs = Number(process.env['KAFKA_MEASURE_RUNS'] ?? 3);

function rssMiB(pid: number | null): number {
  if (pid === null) return Number.NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await fn();
  return [v, Math.round(performance.now() - t)];
}

const rows: Array<Record<string, number>> = [];
for (let i = 0; i < runs; i++) {
  const load = loadavg()[0] ?? 0;
  const [cluster, coldMs] = await timed(() => startCluster({ name: `measure-${i}` }));
  try {
    const idleRss = rssMiB(cluster.pid());
    await createTopic(cluster.bootstrap, 'm', { partitions: 4 });
    await produce(
      cluster.bootstrap,
      'm',
      Array.from({ length: 500 }, (_, j) => ({ partition: j % 4, value: Buffer.alloc(200, j) })),
    );
    const loadedRss = rssMiB(cluster.pid());
    const [, stopMs] = await timed(() => cluster.stop());
    const [, warmMs] = await timed(() => cluster.start());
    await cluster.kill();
    const [, afterKillMs] = await timed(() => cluster.start());
    const row = {
      coldMs,
      stopMs,
      warmMs,
      afterKillMs,
      idleRss,
      loadedRss,
      load1: Math.round(load * 10) / 10,
    };
    rows.push(row);
    console.log(`run ${i + 1}:`, JSON.stringify(row));
  } finally {
    await cluster.destroy();
  }
}
const median = (k: string) => {
  const v = rows.map((r) => r[k] ?? 0).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
};
console.log(
  `median of ${runs}: cold start ${median('coldMs')} ms, clean stop ${median('stopMs')} ms, ` +
    `warm restart ${median('warmMs')} ms, restart after SIGKILL ${median('afterKillMs')} ms, ` +
    `RSS idle ${median('idleRss')} MiB, after 500 produces ${median('loadedRss')} MiB (1-min load avg ${median('load1')})`,
);
