/**
 * npm run kafka:up -- [name ...] [--dir DIR]
 *
 * Starts named single-node Kafka clusters (default: dc-east dc-west), prints one
 * KAFKA_BOOTSTRAP_<NAME>=host:port line per cluster (ready to `export`, and understood by the test
 * harness), and keeps them running until Ctrl-C / SIGTERM, then stops them cleanly. With --dir, each
 * cluster lives in DIR/<name> and a later run restarts it with the same ports and data; without it,
 * temp dirs are used and removed on exit.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bootstrapEnvVar, type KafkaCluster, startCluster } from './harness.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});
if (values.help === true) {
  console.log('usage: npm run kafka:up -- [name ...] [--dir DIR]   (default names: dc-east dc-west)');
  process.exit(0);
}
const names = positionals.length > 0 ? positionals : ['dc-east', 'dc-west'];
const base = values.dir !== undefined ? resolve(values.dir) : undefined;

const clusters: KafkaCluster[] = [];
let stopping = false;
async function shutdown(signal: string, code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.error(`\n${signal}: stopping ${clusters.map((c) => c.name).join(', ') || 'nothing'}`);
  await Promise.all(
    clusters.map(async (c) => {
      if (!c.external) await c.stop().catch((err: Error) => console.error(err.message));
      if (base === undefined) await c.destroy();
    }),
  );
  process.exit(code);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

const started = Date.now();
const results = await Promise.allSettled(
  names.map((name) =>
    startCluster({
      name,
      ...(base !== undefined ? { dir: join(base, name.replace(/[^A-Za-z0-9_.-]/g, '_')) } : {}),
    }),
  ),
);
for (const r of results) if (r.status === 'fulfilled') clusters.push(r.value);
const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
if (failed.length > 0) {
  for (const f of failed) console.error(f.reason instanceof Error ? f.reason.message : String(f.reason));
  await shutdown('start failure', 1);
}
for (const c of clusters) {
  console.log(`${bootstrapEnvVar(c.name)}=${c.bootstrap}`);
  const where = c.external ? 'external' : `pid ${c.pid()}, dir ${c.dataDir}`;
  console.error(`  ${c.name}: cluster id ${c.clusterId}, ${where}`);
}
console.error(`ready in ${Date.now() - started} ms; Ctrl-C to stop`);
setInterval(() => {}, 1 << 30);
