/**
 * The mirror in its own thread (mirror.thread, the default), against a real `outpost run`, real
 * MQTT clients and the real dc-east Kafka cluster: records reach Kafka, /metrics and /v1/status
 * show the thread's links, a SIGHUP reaches the thread, and a thread that dies mid-stream is
 * restarted while ingest keeps acknowledging, every record landing exactly once.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MqttClient } from 'mqtt';
import { describe, expect, test } from 'vitest';
import { partitionFor } from '../../src/log/index.ts';
import { HEADER_EDGE_OFFSET } from '../../src/mirror/index.ts';
import { consumePartition } from '../kafka/client.ts';
import { sharedClusters } from '../kafka/shared.ts';
import {
  baseConfig,
  connectMqtt,
  type LogLine,
  metricValue,
  type Outpost,
  readTopic,
  startOutpost,
  tempDir,
  uniq,
  writeConfig,
} from './helpers.ts';

const TOPICS = { a: { partitions: 2 }, b: { partitions: 1 } };
const LAUNCHER = join(import.meta.dirname, 'fixtures/run-with-mirror-hooks.ts');
const HOOKS = join(import.meta.dirname, 'fixtures/mirror-thread-hooks.ts');

interface LinkPartition {
  topic: string;
  partition: number;
  state: string;
  lagRecords: number;
  nextOffset: number;
  lastAckedAt: number | null;
  error?: string;
}
interface Link {
  cluster: string;
  state: string;
  partitions: LinkPartition[];
}

async function link(svc: Outpost): Promise<Link | undefined> {
  const s = (await (await fetch(`${svc.http}v1/status`)).json()) as { mirror: { clusters: Link[] } };
  return s.mirror.clusters[0];
}

/** Polls /v1/status (bounded) until `pred` holds for the first link; returns that link. */
async function waitLink(svc: Outpost, pred: (l: Link) => boolean, what: string, ms = 60_000): Promise<Link> {
  const until = Date.now() + ms;
  for (;;) {
    const l = await link(svc);
    if (l && pred(l)) return l;
    if (Date.now() > until) throw new Error(`${what}: link is ${JSON.stringify(l)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const caughtUp = (l: Link) =>
  l.state === 'streaming' && l.partitions.every((p) => p.lagRecords === 0 && p.state === 'streaming');

/** Every edge record of topic a is on dc-east exactly once, in edge order, with its edge offset. */
async function expectExactlyOnce(bootstrap: string, edgeId: string, dataDir: string): Promise<number> {
  const edge = await readTopic(dataDir, TOPICS, 'a');
  for (const p of [0, 1]) {
    const local = edge.filter((r) => r.partition === p);
    const remote = await consumePartition(bootstrap, `${edgeId}.a`, p);
    expect(remote.map((r) => r.value?.toString())).toEqual(local.map((r) => r.value.toString()));
    const offsets = remote.map((r) =>
      Number(r.headers.find(([k]) => k === HEADER_EDGE_OFFSET)?.[1]?.toString()),
    );
    expect(offsets).toEqual(local.map((r) => r.offset));
  }
  return edge.length;
}

describe('service › mirror thread', () => {
  test('service › the threaded mirror carries MQTT publishes to Kafka, shows its links in /metrics and /v1/status, and takes a SIGHUP', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const dir = tempDir('thread');
    const dataDir = join(dir, 'data');
    const cfg = join(dir, 'c.json');
    const edgeId = uniq('thr');
    // 1 byte/s: the first batch goes, the next waits out its debt (minutes). Only the reload's new
    // rate, in force in the thread, lets the rest through within the test's bounds.
    const cluster = (maxBytesPerSecond: number) => ({
      bootstrap: east.bootstrap,
      topics: { include: ['a'] },
      maxBytesPerSecond,
    });
    const config = (rate: number) => ({
      ...baseConfig(dataDir, edgeId),
      mirror: { clusters: { 'dc-east': cluster(rate) } },
    });
    writeConfig(cfg, config(1));
    const svc = await startOutpost(cfg);
    const started = svc.lines.find((l) => l.msg === 'mirror started');
    // The thread's lines: same stdout, same fields, same process.
    expect(started).toMatchObject({ module: 'mirror', edgeId, pid: svc.pid, clusters: ['dc-east'] });

    const devs = [uniq('dev'), uniq('dev'), uniq('dev')];
    const clients = await Promise.all(devs.map((d) => connectMqtt(svc.mqttPort, d)));
    const N = 40;
    for (let i = 0; i < N; i++) {
      const d = i % devs.length;
      await clients[d]?.publishAsync(`a/${devs[d]}/t`, `m${i}-${'x'.repeat(40)}`, { qos: 1 });
    }
    const held = await waitLink(
      svc,
      (l) => l.partitions.some((p) => p.state === 'throttled'),
      'a partition throttled at 1 byte/s',
    );
    expect(held.partitions.reduce((n, p) => n + p.lagRecords, 0)).toBeGreaterThan(0);

    writeConfig(cfg, config(10_000_000));
    svc.proc.kill('SIGHUP');
    await svc.waitForLine((l) => l.msg === 'config reloaded');
    await waitLink(svc, caughtUp, 'caught up after the reload raised maxBytesPerSecond');

    const metrics = await (await fetch(`${svc.http}metrics`)).text();
    expect(metricValue(metrics, 'outpost_mirror_records_total', { cluster: 'dc-east', topic: 'a' })).toBe(N);
    // Batch bytes as sent (zstd-compressed as the log stored them).
    expect(metricValue(metrics, 'outpost_mirror_bytes_total', { cluster: 'dc-east' })).toBeGreaterThan(0);
    expect(metricValue(metrics, 'outpost_mirror_link_up', { cluster: 'dc-east' })).toBe(1);
    expect(metricValue(metrics, 'outpost_mirror_lag_records', { cluster: 'dc-east' })).toBe(0);
    expect(
      metricValue(metrics, 'outpost_mirror_link_state', { cluster: 'dc-east', state: 'streaming' }),
    ).toBe(1);
    expect(metricValue(metrics, 'outpost_mirror_thread_restarts_total')).toBe(0);

    for (const c of clients) c.end(true);
    expect(await expectExactlyOnce(east.bootstrap, edgeId, dataDir)).toBe(N);

    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
    const msgs = svc.lines.map((l) => l.msg);
    const stopped = msgs.indexOf('mirror stopped: every link and checkpoint round closed its connections');
    expect(stopped).toBeGreaterThan(0);
    expect(msgs.indexOf('stopped cleanly')).toBeGreaterThan(stopped);
    expect(svc.lines.filter((l) => l.level === 'error')).toEqual([]);
  }, 180_000);

  test('service › a mirror thread that dies mid-stream is restarted while ingest keeps acknowledging, and every record lands exactly once', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const dir = tempDir('thread-crash');
    const dataDir = join(dir, 'data');
    const cfg = join(dir, 'c.json');
    const edgeId = uniq('crash');
    writeConfig(cfg, {
      ...baseConfig(dataDir, edgeId),
      mirror: { clusters: { 'dc-east': { bootstrap: east.bootstrap, topics: { include: ['a'] } } } },
    });
    const hooks = pathToFileURL(HOOKS);
    hooks.searchParams.set('dir', dir);
    const svc = await startOutpost(cfg, {}, [LAUNCHER, cfg, hooks.href]);

    // Two devices publish QoS 1 every few ms throughout; every PUBACK is counted.
    const acked = new Set<string>();
    let publishing = true;
    const loop = async (client: MqttClient, dev: string) => {
      for (let i = 0; publishing; i++) {
        await client.publishAsync(`a/${dev}/t`, `${dev}:${i}`, { qos: 1 });
        acked.add(`${dev}:${i}`);
        await new Promise((r) => setTimeout(r, 3));
      }
    };
    // One device per partition (the route keys by device id: Kafka's murmur2 picks the partition).
    const devs: string[] = [];
    for (const p of [0, 1]) {
      let d = uniq('dev');
      while (partitionFor(Buffer.from(d), 2) !== p) d = uniq('dev');
      devs.push(d);
    }
    const clients = await Promise.all(devs.map((d) => connectMqtt(svc.mqttPort, d)));
    const loops = clients.map((c, i) => loop(c, devs[i] as string));
    for (const l of loops) l.catch(() => {}); // awaited below; a failed test closes the clients first
    await waitLink(svc, (l) => l.partitions.every((p) => p.lastAckedAt !== null), 'both partitions mirrored');

    // generation 0 dies now, records in flight.
    writeFileSync(join(dir, 'crash'), '');
    const died = await svc.waitForLine((l) => l['code'] === 'MIRROR_THREAD_EXITED');
    expect(died).toMatchObject({ level: 'error', generation: 0, reason: 'injected mirror thread crash' });
    const ackedAtCrash = acked.size;
    // generation 1 starts, resumes from the remote tails, and waits (hook) before producing.
    await svc.waitForLine((l) => l.msg === 'mirror thread restarted' && l['generation'] === 1);
    // Meanwhile devices keep getting PUBACKs and the lag grows: nothing waits on the mirror.
    const until = Date.now() + 30_000;
    while (acked.size < ackedAtCrash + 200) {
      if (Date.now() > until)
        throw new Error(`ingest stalled: ${acked.size - ackedAtCrash} acks since the crash`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const waiting = await link(svc);
    expect(waiting?.partitions.reduce((n, p) => n + p.lagRecords, 0)).toBeGreaterThan(0);
    let metrics = await (await fetch(`${svc.http}metrics`)).text();
    expect(metricValue(metrics, 'outpost_mirror_thread_restarts_total')).toBe(1);

    writeFileSync(join(dir, 'resume'), '');
    await waitLink(
      svc,
      (l) =>
        l.partitions.every(
          (p) =>
            (p.lastAckedAt ?? 0) > Date.parse(died.time as string) ||
            (p.nextOffset === 0 && p.lagRecords === 0),
        ),
      'mirroring resumed',
    );
    publishing = false;
    await Promise.all(loops);
    await waitLink(svc, caughtUp, 'caught up after the restart');
    metrics = await (await fetch(`${svc.http}metrics`)).text();
    expect(metricValue(metrics, 'outpost_mirror_link_up', { cluster: 'dc-east' })).toBe(1);
    expect(metricValue(metrics, 'outpost_mirror_thread_restarts_total')).toBe(1);

    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
    const stored = await readTopic(dataDir, TOPICS, 'a');
    const values = new Set(stored.map((r) => r.value.toString()));
    expect([...acked].filter((id) => !values.has(id))).toEqual([]);
    expect(await expectExactlyOnce(east.bootstrap, edgeId, dataDir)).toBe(stored.length);
    const errors = svc.lines.filter((l: LogLine) => l.level === 'error').map((l) => l['code']);
    expect(errors).toEqual(['MIRROR_THREAD_EXITED']);
    expect(svc.lines.some((l) => l.msg === 'MIRROR_DUPLICATE' || l['code'] === 'MIRROR_DUPLICATE')).toBe(
      false,
    );
  }, 240_000);

  test('service › a stuck mirror thread holds neither /metrics nor /v1/status, and the stop terminates it at its deadline naming it', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const dir = tempDir('thread-stuck');
    const dataDir = join(dir, 'data');
    const cfg = join(dir, 'c.json');
    writeConfig(cfg, {
      ...baseConfig(dataDir),
      service: { shutdownTimeoutMs: 6_000 },
      mirror: { clusters: { 'dc-east': { bootstrap: east.bootstrap, topics: { include: ['a'] } } } },
    });
    const hooks = pathToFileURL(HOOKS);
    hooks.searchParams.set('dir', dir);
    const svc = await startOutpost(cfg, {}, [LAUNCHER, cfg, hooks.href]);
    const dev = uniq('dev');
    const client = await connectMqtt(svc.mqttPort, dev);
    for (let i = 0; i < 10; i++) await client.publishAsync(`a/${dev}/t`, `m${i}`, { qos: 1 });
    await waitLink(svc, caughtUp, 'mirrored before the thread gets stuck');
    // A scrape while it answers (Prometheus scrapes all along): what a stuck thread's scrape serves.
    const fresh = await (await fetch(`${svc.http}metrics`)).text();
    expect(metricValue(fresh, 'outpost_mirror_records_total', { cluster: 'dc-east', topic: 'a' })).toBe(10);

    writeFileSync(join(dir, 'hang'), '');
    const until = Date.now() + 10_000;
    while (!existsSync(join(dir, 'hanging'))) {
      if (Date.now() > until) throw new Error('the thread never got stuck');
      await new Promise((r) => setTimeout(r, 20));
    }
    // The scrape answers with those last metrics (within its 1 s bound); status with the last snapshot.
    const metrics = await (await fetch(`${svc.http}metrics`)).text();
    expect(metricValue(metrics, 'outpost_mirror_records_total', { cluster: 'dc-east', topic: 'a' })).toBe(10);
    await svc.waitForLine(
      (l) => l.msg === 'mirror thread did not answer a scrape in time: serving its last metrics',
    );
    expect((await link(svc))?.cluster).toBe('dc-east');
    // Ingest does not notice.
    await client.publishAsync(`a/${dev}/t`, 'after', { qos: 1 });
    client.end(true);

    svc.proc.kill('SIGTERM');
    const exit = await svc.exited;
    expect(exit.code).toBe(1);
    const late = svc.lines.find((l) => l.msg.startsWith('stop step stopMirror missed its deadline'));
    expect(late?.['holds']).toContain('mirror thread (generation 0): terminated at the deadline');
    expect(String(late?.['err'])).toMatch(
      /^mirror did not stop within \d+ ms; still open: .*mirror thread \(generation 0\)/,
    );
    const msgs = svc.lines.map((l) => l.msg);
    expect(msgs.indexOf('log closed')).toBeGreaterThan(svc.lines.indexOf(late as LogLine));
    expect((await readTopic(dataDir, TOPICS, 'a')).map((r) => r.value.toString())).toContain('after');
  }, 120_000);

  test('service › with mirror.thread false the mirror runs in the main thread, with the same metrics and status', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const dir = tempDir('in-process');
    const dataDir = join(dir, 'data');
    const cfg = join(dir, 'c.json');
    const edgeId = uniq('inproc');
    writeConfig(cfg, {
      ...baseConfig(dataDir, edgeId),
      mirror: {
        thread: false,
        clusters: { 'dc-east': { bootstrap: east.bootstrap, topics: { include: ['a'] } } },
      },
    });
    const svc = await startOutpost(cfg);
    const dev = uniq('dev');
    const client = await connectMqtt(svc.mqttPort, dev);
    for (let i = 0; i < 12; i++) await client.publishAsync(`a/${dev}/t`, `m${i}`, { qos: 1 });
    client.end(true);
    await waitLink(svc, caughtUp, 'caught up in-process');
    const metrics = await (await fetch(`${svc.http}metrics`)).text();
    expect(metricValue(metrics, 'outpost_mirror_records_total', { cluster: 'dc-east', topic: 'a' })).toBe(12);
    expect(metricValue(metrics, 'outpost_mirror_link_up', { cluster: 'dc-east' })).toBe(1);
    expect(metrics).not.toContain('outpost_mirror_thread_restarts_total');
    expect(await expectExactlyOnce(east.bootstrap, edgeId, dataDir)).toBe(12);
    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
  }, 120_000);
});
