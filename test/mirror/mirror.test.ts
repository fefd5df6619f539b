import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decodeHeartbeat,
  decodeOffsetSync,
  HEADER_EDGE_ID,
  HEADER_EDGE_OFFSET,
} from '../../src/mirror/index.ts';
import { consumePartition, createTopic, listTopics, produce } from '../kafka/client.ts';
import { sharedClusters } from '../kafka/shared.ts';
import { appendRecords, mirrorConfig, openTestLog, startTestMirror, waitMirrored } from './helpers.ts';

describe('mirror', () => {
  it('mirrors several topics to both clusters with every record, key, header, partition and order intact', async () => {
    const { 'dc-east': east, 'dc-west': west } = await sharedClusters();
    const config = mirrorConfig({
      topics: { telemetry: { partitions: 3 }, events: { partitions: 1 } },
      clusters: { 'dc-east': { bootstrap: east.bootstrap }, 'dc-west': { bootstrap: west.bootstrap } },
    });
    const log = await openTestLog(config);
    await appendRecords(log, 'telemetry', 3, 300);
    const mirror = await startTestMirror(config, log);
    await appendRecords(log, 'events', 1, 250, 'live');
    await waitMirrored(mirror, ['dc-east', 'dc-west']);

    for (const [alias, cluster] of [
      ['dc-east', east],
      ['dc-west', west],
    ] as const) {
      for (const [topic, parts] of [
        ['telemetry', 3],
        ['events', 1],
      ] as const) {
        for (let p = 0; p < parts; p++) {
          const edge = log.read(topic, p, 0, { maxRecords: 10_000, maxBytes: 64 * 1024 ** 2 });
          const remote = await consumePartition(cluster.bootstrap, `${config.edgeId}.${topic}`, p);
          expect(remote.length).toBe(edge.length);
          edge.forEach((e, i) => {
            const r = remote[i];
            if (!r) throw new Error('missing');
            expect(r.partition).toBe(p);
            expect(r.key ?? null).toEqual(e.key);
            expect(r.value).toEqual(e.value);
            expect(r.timestamp).toBe(BigInt(e.timestamp));
            const headers = Object.fromEntries(r.headers);
            expect(headers[HEADER_EDGE_ID]?.toString()).toBe(config.edgeId);
            expect(headers[HEADER_EDGE_OFFSET]?.toString()).toBe(String(e.offset));
            const userHeaders = r.headers.filter(([k]) => !k.startsWith('outpost.edge.'));
            expect(userHeaders).toEqual(Object.entries(e.headers));
            // exactness: edge -> cluster, cluster -> edge
            expect(mirror.translator.toCluster(alias, topic, p, e.offset)).toBe(Number(r.offset));
            expect(mirror.translator.toEdge(alias, topic, p, Number(r.offset))).toBe(e.offset);
          });
        }
      }
    }
    // cross-cluster through the edge
    const eastT = await consumePartition(east.bootstrap, `${config.edgeId}.telemetry`, 1);
    const westT = await consumePartition(west.bootstrap, `${config.edgeId}.telemetry`, 1);
    eastT.forEach((r, i) => {
      expect(mirror.translator.between('dc-east', 'dc-west', 'telemetry', 1, Number(r.offset))).toBe(
        Number(westT[i]?.offset),
      );
    });
  });

  it('writes MM2 heartbeats, the mirrored edge heartbeat stream and sparse offset syncs', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const config = mirrorConfig({
      topics: { t: { partitions: 1 } },
      clusters: { 'dc-east': { bootstrap: east.bootstrap, offsetLagMax: 100 } },
    });
    const log = await openTestLog(config);
    await appendRecords(log, 't', 1, 1000);
    const mirror = await startTestMirror(config, log);
    await waitMirrored(mirror, ['dc-east']);
    const topics = await listTopics(east.bootstrap);
    expect(topics).toContain('heartbeats');
    expect(topics).toContain(`${config.edgeId}.heartbeats`);
    expect(topics).toContain(`mm2-offset-syncs.${config.edgeId}.internal`);
    const hbs = (await consumePartition(east.bootstrap, `${config.edgeId}.heartbeats`, 0)).map((r) =>
      decodeHeartbeat(r.key as Buffer, r.value as Buffer),
    );
    expect(hbs.length).toBeGreaterThan(0);
    expect(hbs[0]).toMatchObject({ sourceClusterAlias: config.edgeId, targetClusterAlias: 'dc-east' });
    const syncs = (
      await consumePartition(east.bootstrap, `mm2-offset-syncs.${config.edgeId}.internal`, 0)
    ).map((r) => decodeOffsetSync(r.key as Buffer, r.value as Buffer));
    expect(syncs[0]).toEqual({ topic: 't', partition: 0, upstreamOffset: 0, downstreamOffset: 0 });
    for (const s of syncs) {
      expect(mirror.translator.toCluster('dc-east', 't', 0, s.upstreamOffset)).toBe(s.downstreamOffset);
    }
    // Sparse: about one sync per offset.lag.max records, far fewer than records.
    expect(syncs.length).toBeGreaterThanOrEqual(9);
    expect(syncs.length).toBeLessThan(50);
  });

  it('resumes after records that landed remotely without their ack reaching the edge, without duplicates', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const config = mirrorConfig({
      topics: { t: { partitions: 1 } },
      clusters: { 'dc-east': { bootstrap: east.bootstrap } },
    });
    const log = await openTestLog(config);
    await appendRecords(log, 't', 1, 300);
    // A previous run sent edge records 0..119 and died before recording the ack (cursor still 0,
    // index empty): put exactly what it would have written on the remote partition.
    const remote = `${config.edgeId}.t`;
    await createTopic(east.bootstrap, remote, { partitions: 1 });
    const sent = log.read('t', 0, 0, { maxRecords: 120 });
    await produce(
      east.bootstrap,
      remote,
      sent.map((r) => ({
        partition: 0,
        ...(r.key ? { key: r.key } : {}),
        value: r.value,
        timestamp: BigInt(r.timestamp),
        headers: { ...r.headers, [HEADER_EDGE_ID]: config.edgeId, [HEADER_EDGE_OFFSET]: String(r.offset) },
      })),
    );
    const mirror = await startTestMirror(config, log);
    await waitMirrored(mirror, ['dc-east']);
    const got = await consumePartition(east.bootstrap, remote, 0);
    expect(got.map((r) => Number(Object.fromEntries(r.headers)[HEADER_EDGE_OFFSET]?.toString()))).toEqual(
      Array.from({ length: 300 }, (_, i) => i),
    );
    // The recovered part is indexed exactly too.
    expect(mirror.translator.toCluster('dc-east', 't', 0, 50)).toBe(50);
    expect(mirror.translator.toCluster('dc-east', 't', 0, 250)).toBe(250);
    await mirror.stop({ timeoutMs: 10_000 }); // waits for the last index/cursor commit
    expect(log.getCursor('mirror.dc-east', 't', 0)?.offset).toBe(300);
  });

  it('refuses, loudly, a topic whose remote topic has fewer partitions, and mirrors the others', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const config = mirrorConfig({
      topics: { wide: { partitions: 3 }, ok: { partitions: 1 } },
      clusters: { 'dc-east': { bootstrap: east.bootstrap } },
    });
    await createTopic(east.bootstrap, `${config.edgeId}.wide`, { partitions: 2 });
    const log = await openTestLog(config);
    await appendRecords(log, 'wide', 3, 10);
    await appendRecords(log, 'ok', 1, 10);
    const mirror = await startTestMirror(config, log);
    const deadline = Date.now() + 30_000;
    const ok = () => mirror.status().clusters[0]?.partitions.find((p) => p.topic === 'ok');
    while ((ok()?.lagRecords ?? 1) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(ok()?.lagRecords).toBe(0);
    const wide = mirror.status().clusters[0]?.partitions.filter((p) => p.topic === 'wide') ?? [];
    expect(wide.map((p) => p.state)).toEqual(['stopped', 'stopped', 'stopped']);
    expect(wide[0]?.error).toMatch(/has 2 partitions, the edge topic has 3: refusing it/);
    expect(wide.every((p) => p.lagRecords === 10)).toBe(true);
    expect((await consumePartition(east.bootstrap, `${config.edgeId}.wide`, 0)).length).toBe(0);
  });

  it('blocks only the partition holding a record larger than the broker accepts, and says why', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const config = mirrorConfig({
      topics: { t: { partitions: 2 } },
      clusters: { 'dc-east': { bootstrap: east.bootstrap } },
    });
    const log = await openTestLog({ ...config, log: { ...config.log, maxRecordBytes: 4 * 1024 ** 2 } });
    await appendRecords(log, 't', 2, 5);
    // 1.5 MB that no codec shrinks: over Kafka's default message.max.bytes (1 MiB + 12) as stored.
    await log.append([{ topic: 't', partition: 0, value: randomBytes(1_500_000) }]);
    await appendRecords(log, 't', 2, 5, 'after');
    const mirror = await startTestMirror(config, log);
    const part = (n: number) => mirror.status().clusters[0]?.partitions.find((p) => p.partition === n);
    const deadline = Date.now() + 30_000;
    while ((part(1)?.lagRecords !== 0 || part(0)?.state !== 'stopped') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(part(1)?.lagRecords).toBe(0);
    expect(part(0)?.state).toBe('stopped');
    expect(part(0)?.error).toMatch(
      /edge record t\/0@5 .* is larger than dc-east accepts: raise the broker's message.max.bytes/,
    );
    // Everything before the big record went; nothing after it (order is kept).
    expect(part(0)?.nextOffset).toBe(5);
    expect((await consumePartition(east.bootstrap, `${config.edgeId}.t`, 0)).length).toBe(5);
  });
});
