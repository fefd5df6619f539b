import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { consumePartition } from '../kafka/client.ts';
import { sharedClusters } from '../kafka/shared.ts';
import {
  baseConfig,
  connectMqtt,
  metricValue,
  readTopic,
  startOutpost,
  tempDir,
  uniq,
  writeConfig,
} from './helpers.ts';

interface LinkPartition {
  topic: string;
  partition: number;
  state: string;
  lagRecords: number;
  lastAckedAt: number | null;
}
interface Status {
  mirror: { clusters: { cluster: string; state: string; partitions: LinkPartition[] }[] };
}

describe('service with a real Kafka datacenter', () => {
  test('service › mirrors to Kafka, reports the link as streaming with zero lag, and translates offsets exactly', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const dir = tempDir('e2e');
    const dataDir = join(dir, 'data');
    const cfg = join(dir, 'c.json');
    const edgeId = uniq('svc');
    writeConfig(cfg, {
      ...baseConfig(dataDir, edgeId),
      mirror: { clusters: { 'dc-east': { bootstrap: east.bootstrap, topics: { include: ['a'] } } } },
    });
    const svc = await startOutpost(cfg);
    const devs = [uniq('dev'), uniq('dev'), uniq('dev')];
    const clients = await Promise.all(devs.map((d) => connectMqtt(svc.mqttPort, d)));
    const N = 30;
    for (let i = 0; i < N; i++) {
      const d = i % devs.length;
      await clients[d]?.publishAsync(`a/${devs[d]}/t`, `m${i}`, { qos: 1 });
    }

    // Wait (bounded) until the link has every record acknowledged.
    let status: Status | undefined;
    for (let i = 0; i < 300; i++) {
      status = (await (await fetch(`${svc.http}v1/status`)).json()) as Status;
      const parts = status.mirror.clusters[0]?.partitions ?? [];
      if (parts.length === 2 && parts.every((p) => p.lagRecords === 0 && p.state === 'streaming')) {
        const acked = parts.filter((p) => p.lastAckedAt !== null).length;
        if (acked > 0) break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const link = status?.mirror.clusters[0];
    expect(link?.cluster).toBe('dc-east');
    expect(link?.state).toBe('streaming');
    expect(link?.partitions.map((p) => p.lagRecords)).toEqual([0, 0]);

    const metrics = await (await fetch(`${svc.http}metrics`)).text();
    expect(
      metricValue(metrics, 'outpost_mirror_link_state', { cluster: 'dc-east', state: 'streaming' }),
    ).toBe(1);
    expect(metricValue(metrics, 'outpost_mirror_lag_records', { cluster: 'dc-east' })).toBe(0);
    expect(
      metricValue(metrics, 'outpost_mirror_last_ack_timestamp_seconds', { cluster: 'dc-east' }),
    ).toBeGreaterThan(0);

    // Every edge record of topic a translates to the remote offset holding the same value.
    for (const c of clients) c.end(true);
    // A reader handle beside the running owner (the CLI's way in).
    const edge = await readTopic(dataDir, { a: { partitions: 2 }, b: { partitions: 1 } }, 'a');
    expect(edge.length).toBe(N);
    for (const p of [0, 1]) {
      const remote = await consumePartition(east.bootstrap, `${edgeId}.a`, p);
      for (const r of edge.filter((e) => e.partition === p)) {
        const res = await fetch(
          `${svc.http}v1/offsets/translate?cluster=dc-east&topic=a&partition=${p}&offset=${r.offset}`,
        );
        expect(res.status).toBe(200);
        const body = (await res.json()) as { remoteOffset: number; remoteTopic: string };
        expect(body.remoteTopic).toBe(`${edgeId}.a`);
        const landed = remote.find((x) => x.offset === BigInt(body.remoteOffset));
        expect(landed?.value?.toString()).toBe(r.value.toString());
        const back = (await (
          await fetch(
            `${svc.http}v1/offsets/translate?cluster=dc-east&topic=a&partition=${p}&offset=${body.remoteOffset}&reverse=true`,
          )
        ).json()) as { edgeOffset: number };
        expect(back.edgeOffset).toBe(r.offset);
      }
    }
    const missing = await fetch(
      `${svc.http}v1/offsets/translate?cluster=dc-east&topic=a&partition=0&offset=999999`,
    );
    expect(missing.status).toBe(404);

    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
  });
});
