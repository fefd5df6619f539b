/**
 * Invariant: across kill -9 of `outpost run` at random moments during mirroring, and a stop/start of
 * a central broker, every edge record appears exactly once in its remote partition, in edge-offset
 * order, in every cluster (read_committed).
 *
 * The test preloads the edge log, then repeatedly starts `node src/cli/main.ts run --config F` (the
 * real service, with the mirror wired in), waits until the remote topics grew (mirroring is under
 * way), waits a random moment more and SIGKILLs it. Between runs it appends more records directly
 * (the service is dead, so the test may own the log). A paced link (maxBytesPerSecond) and small
 * batches keep mirroring spread over all the kills. Midway the private "east" cluster is stopped for a
 * few runs and restarted, and twice it is stopped and restarted while the service streams to it.
 * Finally the service runs until both clusters hold everything, and each
 * remote partition is compared with the edge partition record by record.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, onTestFinished, test } from 'vitest';
import { openLog } from '../../src/log/index.ts';
import { HEADER_EDGE_OFFSET } from '../../src/mirror/index.ts';
import { logOptionsFromConfig } from '../../src/service/index.ts';
import { consumePartition, endOffset } from '../kafka/client.ts';
import { startCluster } from '../kafka/harness.ts';
import { sharedClusters } from '../kafka/shared.ts';
import { appendRecords, mirrorConfig } from '../mirror/helpers.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const KILLS = 12;
const TOPICS = { a: 2, b: 1 } as const;

async function remoteTotal(bootstrap: string, edgeId: string): Promise<number> {
  let total = 0;
  for (const [topic, parts] of Object.entries(TOPICS)) {
    for (let p = 0; p < parts; p++) {
      total += Number(await endOffset(bootstrap, `${edgeId}.${topic}`, p).catch(() => 0n));
    }
  }
  return total;
}

test('mirror › each edge record lands exactly once, in order, across 12 kill -9 of outpost run and broker outages (also mid-stream)', async () => {
  const east = await startCluster({ name: `dup-east-${process.pid}-${Date.now()}`, heap: '384m' });
  onTestFinished(() => east.destroy());
  const { 'dc-west': west } = await sharedClusters();
  const dir = mkdtempSync(join(tmpdir(), 'outpost-nodup-'));
  // OUTPOST_KEEP_TEST_DIRS=1 keeps the data dir and service.log for a post-mortem.
  onTestFinished(() => {
    if (!process.env['OUTPOST_KEEP_TEST_DIRS']) rmSync(dir, { recursive: true, force: true });
  });
  console.log(`no-duplicates: dir ${dir}`);
  const config = mirrorConfig({
    dataDir: join(dir, 'data'),
    topics: { a: { partitions: TOPICS.a }, b: { partitions: TOPICS.b } },
    clusters: {
      east: {
        bootstrap: east.bootstrap,
        maxBytesPerSecond: 50_000,
        batch: { maxRecords: 150 },
        produceTimeoutMs: 5000,
      },
      west: {
        bootstrap: west.bootstrap,
        maxBytesPerSecond: 50_000,
        batch: { maxRecords: 150 },
        produceTimeoutMs: 5000,
      },
    },
  });
  const raw = { ...config, http: { host: '127.0.0.1', port: 0 }, logging: { level: 'info' } };
  const cfgPath = join(dir, 'config.json');
  writeFileSync(cfgPath, JSON.stringify(raw));

  const appendSome = async (n: number, tag: string) => {
    const log = await openLog(logOptionsFromConfig(config));
    try {
      for (const [topic, parts] of Object.entries(TOPICS)) await appendRecords(log, topic, parts, n, tag);
    } finally {
      await log.close();
    }
  };
  await appendSome(2000, 'pre');

  const runService = () => {
    const out = openSync(join(dir, 'service.log'), 'a');
    const child = spawn(process.execPath, ['src/cli/main.ts', 'run', '--config', cfgPath], {
      cwd: root,
      stdio: ['ignore', out, out],
    });
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    return { child, exited };
  };

  let kills = 0;
  for (let i = 0; i < KILLS; i++) {
    if (i === 5) await east.stop(); // east is down for runs 5..7
    if (i === 8) await east.start();
    const before = await remoteTotal(west.bootstrap, config.edgeId);
    const { child, exited } = runService();
    // Wait until mirroring is under way (west grew), bounded; then a random moment more.
    const deadline = Date.now() + 30_000;
    while ((await remoteTotal(west.bootstrap, config.edgeId)) === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (i === 2 || i === 10) {
      // Broker outage while the service is streaming to it: stop east mid-run, restart it, then kill.
      await east.stop();
      await new Promise((r) => setTimeout(r, 2000));
      await east.start();
      const grew = await remoteTotal(east.bootstrap, config.edgeId);
      const until = Date.now() + 30_000;
      while ((await remoteTotal(east.bootstrap, config.edgeId)) === grew && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 1500)));
    child.kill('SIGKILL');
    await exited;
    kills++;
    if (i % 3 === 1) await appendSome(300, `mid${i}`);
  }
  expect(kills).toBe(KILLS);

  // Final run: until both clusters hold at least every edge record (more would be a duplicate).
  const log = await openLog(logOptionsFromConfig(config, 'reader'));
  const edgeTotal = log.partitions().reduce((s, p) => s + p.endOffset, 0);
  const edge = new Map<string, ReturnType<typeof log.read>>();
  for (const [topic, parts] of Object.entries(TOPICS)) {
    for (let p = 0; p < parts; p++)
      edge.set(`${topic}/${p}`, log.read(topic, p, 0, { maxRecords: 1e6, maxBytes: 1e9 }));
  }
  await log.close();
  const { child, exited } = runService();
  const deadline = Date.now() + 240_000;
  while (Date.now() < deadline) {
    const [e, w] = await Promise.all([
      remoteTotal(east.bootstrap, config.edgeId),
      remoteTotal(west.bootstrap, config.edgeId),
    ]);
    if (e >= edgeTotal && w >= edgeTotal) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  child.kill('SIGKILL');
  await exited;

  for (const cluster of [east.bootstrap, west.bootstrap]) {
    for (const [topic, parts] of Object.entries(TOPICS)) {
      for (let p = 0; p < parts; p++) {
        const want = edge.get(`${topic}/${p}`) ?? [];
        const remote = `${config.edgeId}.${topic}`;
        const got = await consumePartition(cluster, remote, p, { timeoutMs: 60_000 });
        const end = await endOffset(cluster, remote, p);
        expect(got.length, `${cluster} ${remote}/${p}: end offset ${end}, edge has ${want.length}`).toBe(
          want.length,
        );
        const offsets = got.map((r) => Number(Object.fromEntries(r.headers)[HEADER_EDGE_OFFSET]?.toString()));
        expect(offsets).toEqual(want.map((r) => r.offset));
        for (const [i, r] of got.entries()) expect(r.value).toEqual(want[i]?.value);
      }
    }
  }
  // The service's own duplicate detection (ack-time and resume-time) never fired either.
  const serviceLog = readFileSync(join(dir, 'service.log'), 'utf8');
  expect(serviceLog).toContain('mirror partition resumes');
  expect(serviceLog).not.toContain('MIRROR_DUPLICATE');
}, 600_000);
