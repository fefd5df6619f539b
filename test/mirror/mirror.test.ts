import { describe, expect, it } from 'vitest';
import {
  decodeHeartbeat,
  decodeOffsetSync,
  HEADER_EDGE_ID,
  HEADER_EDGE_OFFSET,
} from '../../src/mirror/index.ts';
import { consumePartition, listTopics } from '../kafka/client.ts';
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
});
