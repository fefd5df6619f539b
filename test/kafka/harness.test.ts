import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Producer } from '@platformatic/kafka';
import { describe, expect, onTestFinished, test } from 'vitest';
import { consumePartition, createTopic, endOffset, listTopics, produce, topicPartitions } from './client.ts';
import { bootstrapEnvVar, type KafkaCluster, startCluster } from './harness.ts';
import { runJava } from './java.ts';
import { parsePerfSummary, runProducerPerfTest } from './perf.ts';
import { sharedClusters } from './shared.ts';

const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

async function privateCluster(): Promise<KafkaCluster> {
  const cluster = await startCluster({ name: unique('harness') });
  onTestFinished(() => cluster.destroy());
  return cluster;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('kafka harness', () => {
  test('starts a private cluster that creates topics, takes idempotent acks=all writes and serves them read_committed', async () => {
    const cluster = await privateCluster();
    expect(cluster.external).toBe(false);
    expect(cluster.bootstrap).toMatch(/^127\.0\.0\.1:\d+$/);
    const topic = unique('t');
    await createTopic(cluster.bootstrap, topic, { partitions: 2 });
    expect(await listTopics(cluster.bootstrap)).toContain(topic);

    const sent = Array.from({ length: 20 }, (_, i) => ({
      partition: i % 2,
      key: `k${i}`,
      value: `v${i}`,
      headers: { 'device.id': `d${i}`, seq: String(i) },
      timestamp: 1_700_000_000_000n + BigInt(i),
    }));
    const offsets = await produce(cluster.bootstrap, topic, sent);
    expect(offsets.filter((_, i) => i % 2 === 1)).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i)));

    for (const partition of [0, 1]) {
      const got = await consumePartition(cluster.bootstrap, topic, partition);
      const want = sent.filter((r) => r.partition === partition);
      expect(got.map((r) => r.offset)).toEqual(want.map((_, i) => BigInt(i)));
      expect(got.map((r) => r.key?.toString())).toEqual(want.map((r) => r.key));
      expect(got.map((r) => r.value?.toString())).toEqual(want.map((r) => r.value));
      expect(got.map((r) => r.timestamp)).toEqual(want.map((r) => r.timestamp));
      expect(got.map((r) => r.headers.map(([k, v]) => `${k}=${v}`))).toEqual(
        want.map((r) => [`device.id=${r.headers['device.id']}`, `seq=${r.headers.seq}`]),
      );
    }
  });

  test('consumes read_committed without aborted records and past a trailing commit marker', async () => {
    const cluster = await privateCluster();
    const topic = unique('tx');
    await createTopic(cluster.bootstrap, topic, { partitions: 3 });
    expect(await topicPartitions(cluster.bootstrap, topic)).toBe(3);
    const producer = new Producer({
      clientId: 'harness-test',
      bootstrapBrokers: [cluster.bootstrap],
      idempotent: true,
      acks: -1,
      transactionalId: unique('txid'),
    });
    onTestFinished(() => producer.close());
    const send = (tx: Awaited<ReturnType<typeof producer.beginTransaction>>, values: string[]) =>
      tx.send({ messages: values.map((v) => ({ topic, partition: 1, value: Buffer.from(v) })) });

    const committed = await producer.beginTransaction();
    await send(committed, ['a', 'b', 'c']);
    await committed.commit();
    const aborted = await producer.beginTransaction();
    await send(aborted, ['x', 'y']);
    await aborted.abort();
    const last = await producer.beginTransaction();
    await send(last, ['d']);
    await last.commit();

    // Partition 1 holds a, b, c, marker, x, y, marker, d, marker: end offset 9, last data record at 7.
    expect(await endOffset(cluster.bootstrap, topic, 1)).toBe(9n);
    const visible = await consumePartition(cluster.bootstrap, topic, 1);
    expect(visible.map((r) => `${r.offset}:${r.value}`)).toEqual(['0:a', '1:b', '2:c', '7:d']);
    const all = await consumePartition(cluster.bootstrap, topic, 1, { isolation: 'read_uncommitted' });
    expect(all.map((r) => r.value?.toString())).toEqual(['a', 'b', 'c', 'x', 'y', 'd']);
    expect(await consumePartition(cluster.bootstrap, topic, 0)).toEqual([]);
  }, 120_000);

  test('restarts on its own port once another process releases it', async () => {
    const cluster = await privateCluster();
    await cluster.stop();
    const port = Number(cluster.bootstrap.split(':')[1]);
    const squatter = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => squatter.close(() => resolve())));

    const brokerLog = join(cluster.dataDir as string, 'broker.log');
    const before = readFileSync(brokerLog, 'utf8').length;
    const restarted = cluster.start();
    // Release the port only after the broker has failed to bind it at least once (bounded wait).
    for (
      let i = 0;
      i < 600 && !readFileSync(brokerLog, 'utf8').slice(before).includes('Address already in use');
      i++
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(readFileSync(brokerLog, 'utf8').slice(before)).toMatch(/Address already in use/);
    await new Promise<void>((resolve) => squatter.close(() => resolve()));

    await restarted;
    expect(cluster.bootstrap).toBe(`127.0.0.1:${port}`);
    const topic = unique('t');
    await createTopic(cluster.bootstrap, topic);
    expect(await listTopics(cluster.bootstrap)).toContain(topic);
  }, 180_000);

  test('keeps topics and records across a clean stop and a restart on the same bootstrap', async () => {
    const cluster = await privateCluster();
    const topic = unique('t');
    await createTopic(cluster.bootstrap, topic);
    await produce(cluster.bootstrap, topic, [{ value: 'a' }, { value: 'b' }]);
    const bootstrap = cluster.bootstrap;
    const pid = cluster.pid();

    await cluster.stop();
    expect(cluster.running()).toBe(false);
    expect(pid !== null && pidAlive(pid)).toBe(false);
    await cluster.start();

    expect(cluster.bootstrap).toBe(bootstrap);
    expect(cluster.pid()).not.toBe(pid);
    await produce(cluster.bootstrap, topic, [{ value: 'c' }]);
    const got = await consumePartition(cluster.bootstrap, topic, 0);
    expect(got.map((r) => `${r.offset}:${r.value}`)).toEqual(['0:a', '1:b', '2:c']);
  }, 120_000);

  test('keeps acknowledged records across SIGKILL and restart', async () => {
    const cluster = await privateCluster();
    const topic = unique('t');
    await createTopic(cluster.bootstrap, topic);
    const values = Array.from({ length: 50 }, (_, i) => ({ value: `r${i}` }));
    const offsets = await produce(cluster.bootstrap, topic, values);
    expect(offsets.at(-1)).toBe(49n);

    await cluster.kill();
    expect(cluster.running()).toBe(false);
    await cluster.start();

    expect(await endOffset(cluster.bootstrap, topic, 0)).toBe(50n);
    const got = await consumePartition(cluster.bootstrap, topic, 0);
    expect(got.map((r) => r.value?.toString())).toEqual(values.map((v) => v.value));
  }, 120_000);

  test('treats a name with KAFKA_BOOTSTRAP_<NAME> set as an existing cluster it may not stop', async () => {
    const cluster = await privateCluster();
    const name = unique('ext-cluster');
    const variable = bootstrapEnvVar(name);
    expect(variable).toMatch(/^KAFKA_BOOTSTRAP_EXT_CLUSTER_[A-Z0-9]{8}$/);
    process.env[variable] = cluster.bootstrap;
    onTestFinished(() => {
      delete process.env[variable];
    });

    const external = await startCluster({ name });
    expect(external.external).toBe(true);
    expect(external.bootstrap).toBe(cluster.bootstrap);
    expect(external.clusterId).toBe(cluster.clusterId);
    expect(external.dataDir).toBeNull();
    await expect(external.stop()).rejects.toThrow(/is external .* cannot stop/);
    await expect(external.kill()).rejects.toThrow(/cannot kill/);
    await expect(external.start()).rejects.toThrow(/cannot start/);
    expect(await listTopics(external.bootstrap, { includeInternals: true })).toBeInstanceOf(Array);
  });

  test('stops the broker when the process that started it is SIGKILLed', async () => {
    const script = fileURLToPath(new URL('./fixtures/start-and-wait.ts', import.meta.url));
    const child = spawn(process.execPath, [script, unique('orphan')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      child.once('exit', (code) => reject(new Error(`fixture exited with ${code} before printing`)));
    });
    const { pid, dataDir } = JSON.parse(line) as { pid: number; dataDir: string };
    onTestFinished(() => rmSync(dataDir, { recursive: true, force: true }));
    expect(pidAlive(pid)).toBe(true);

    child.kill('SIGKILL');
    // Bounded wait (not a timing assertion): the JVM polls its parent and shuts down cleanly.
    for (let i = 0; i < 300 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(pidAlive(pid)).toBe(false);
  }, 120_000);

  test('runs a Java program against the Kafka jars (Utils.murmur2 of known strings)', async () => {
    const source = fileURLToPath(new URL('./java/Murmur2.java', import.meta.url));
    const out = await runJava(source, ['21', 'foobar', 'abc']);
    // Expected values are the cases of Kafka's own UtilsTest.testMurmur2.
    expect(out.trim().split('\n')).toEqual(['21\t-973932308', 'foobar\t-790332482', 'abc\t479470107']);
  });

  test('runs kafka-producer-perf-test against a private cluster and parses its summary', async () => {
    const cluster = await privateCluster();
    const topic = unique('perf');
    await createTopic(cluster.bootstrap, topic);
    const result = await runProducerPerfTest({
      bootstrap: cluster.bootstrap,
      topic,
      records: 2000,
      recordSize: 200,
    });
    expect(result.records).toBe(2000);
    expect(result.recordsPerSec).toBeGreaterThan(0);
    expect(result.props).toMatchObject({ acks: 'all', 'enable.idempotence': 'true' });
    expect(result.p99Ms).toBeGreaterThanOrEqual(result.p50Ms);
    expect(await endOffset(cluster.bootstrap, topic, 0)).toBe(2000n);
  }, 120_000);

  test('parses the final summary line of kafka-producer-perf-test output', () => {
    const output = [
      '4999 records sent, 999.6 records/sec (0.19 MB/sec), 3.1 ms avg latency, 90.0 ms max latency.',
      '10000 records sent, 2188.183807 records/sec (0.42 MB/sec), 80.41 ms avg latency, 361.00 ms max latency, 77 ms 50th, 121 ms 95th, 139 ms 99th, 361 ms 99.9th.',
    ].join('\n');
    expect(parsePerfSummary(output)).toMatchObject({
      records: 10000,
      recordsPerSec: 2188.183807,
      mbPerSec: 0.42,
      avgLatencyMs: 80.41,
      maxLatencyMs: 361,
      p50Ms: 77,
      p95Ms: 121,
      p99Ms: 139,
      p999Ms: 361,
    });
    expect(() => parsePerfSummary('nothing here')).toThrow(/no summary line/);
  });

  test('says to run fetch.sh when the Kafka jars are missing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'outpost-nolibs-'));
    const previous = process.env['OUTPOST_KAFKA_LIBS'];
    process.env['OUTPOST_KAFKA_LIBS'] = empty;
    onTestFinished(() => {
      if (previous === undefined) delete process.env['OUTPOST_KAFKA_LIBS'];
      else process.env['OUTPOST_KAFKA_LIBS'] = previous;
      rmSync(empty, { recursive: true, force: true });
    });
    await expect(startCluster({ name: unique('nolibs') })).rejects.toThrow(/run test\/kafka\/fetch\.sh/);
  });

  test('says to install a JDK when java is not on PATH', async () => {
    const previous = process.env['PATH'];
    process.env['PATH'] = mkdtempSync(join(tmpdir(), 'outpost-nojava-'));
    onTestFinished(() => {
      rmSync(process.env['PATH'] as string, { recursive: true, force: true });
      process.env['PATH'] = previous;
    });
    await expect(startCluster({ name: unique('nojava') })).rejects.toThrow(
      /java not found on PATH: install a JDK/,
    );
  });
});

describe('kafka shared clusters', () => {
  test('provides dc-east and dc-west as two distinct running clusters', async () => {
    const clusters = await sharedClusters();
    expect(Object.keys(clusters).sort()).toEqual(['dc-east', 'dc-west']);
    expect(clusters['dc-east'].clusterId).not.toBe(clusters['dc-west'].clusterId);
    const topic = unique('shared');
    await createTopic(clusters['dc-east'].bootstrap, topic);
    expect(await listTopics(clusters['dc-east'].bootstrap)).toContain(topic);
    expect(await listTopics(clusters['dc-west'].bootstrap)).not.toContain(topic);
  });
});
