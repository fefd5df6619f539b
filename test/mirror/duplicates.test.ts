/**
 * "Never a silent duplicate": records of ours that land on the remote partition outside this
 * session's own batches (a torn-down session's produce appended after the new session read the
 * tail) are found, counted in outpost_mirror_duplicates_total, logged as errors, and the offset index
 * keeps the first copies. Provoked against a real broker: a second producer writes records with our
 * provenance headers into the partition at a precise point of the session (test hook), exactly what
 * a late produce request of the previous session would have appended.
 */
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Config } from '../../src/config/index.ts';
import type { PartitionedLog } from '../../src/log/index.ts';
import { HEADER_EDGE_ID, HEADER_EDGE_OFFSET, type MirrorHooks, startMirror } from '../../src/mirror/index.ts';
import { consumePartition, createTopic, produce } from '../kafka/client.ts';
import { sharedClusters } from '../kafka/shared.ts';
import { appendRecords, mirrorConfig, openTestLog, waitMirrored } from './helpers.ts';

/** Writes edge records [from, to) of t/0 to the remote partition the way the mirror writes them. */
async function writeAsOurs(bootstrap: string, config: Config, log: PartitionedLog, from: number, to: number) {
  const recs = log.read('t', 0, from, { maxRecords: to - from });
  await produce(
    bootstrap,
    `${config.edgeId}.t`,
    recs.map((r) => ({
      partition: 0,
      ...(r.key ? { key: r.key } : {}),
      value: r.value,
      timestamp: BigInt(r.timestamp),
      headers: { ...r.headers, [HEADER_EDGE_ID]: config.edgeId, [HEADER_EDGE_OFFSET]: String(r.offset) },
    })),
  );
}

async function start(config: Config, log: PartitionedLog, hooks?: MirrorHooks) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  const registry = new Registry();
  const mirror = await startMirror({ config, log, logger, metrics: registry, ...(hooks ? { hooks } : {}) });
  onTestFinished(() => mirror.stop({ timeoutMs: 10_000 }));
  const duplicates = async () =>
    (await registry.getSingleMetric('outpost_mirror_duplicates_total')?.get())?.values.reduce(
      (n, v) => n + v.value,
      0,
    ) ?? 0;
  return { mirror, lines, duplicates };
}

const edgeOffsets = (records: Awaited<ReturnType<typeof consumePartition>>) =>
  records.map((r) => Number(Object.fromEntries(r.headers)[HEADER_EDGE_OFFSET]?.toString()));

describe('mirror duplicates', () => {
  it('counts, logs and indexes the first copy when a late batch of the previous session lands after the new session read the tail, and does not resend what it holds', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const config = mirrorConfig({
      topics: { t: { partitions: 1 } },
      clusters: { 'dc-east': { bootstrap: east.bootstrap, batch: { maxRecords: 100 } } },
    });
    const log = await openTestLog(config);
    await appendRecords(log, 't', 1, 300);
    let provoked = false;
    const { mirror, lines, duplicates } = await start(config, log, {
      // Between the tail read (remote empty: resume at edge 0) and the first produce, the "previous
      // session's" request lands: edge records 0..149 with our headers.
      afterResume: async () => {
        if (provoked) return;
        provoked = true;
        await writeAsOurs(east.bootstrap, config, log, 0, 150);
      },
    });
    await waitMirrored(mirror, ['dc-east']);
    await mirror.stop({ timeoutMs: 10_000 });
    expect(provoked).toBe(true);

    const remote = edgeOffsets(await consumePartition(east.bootstrap, `${config.edgeId}.t`, 0));
    const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
    // The late 0..149, then our first batch 0..99 (the duplicates: its ack starts at 150, not 0),
    // then 150..299: edge 100..149 were already there, so they were not sent again.
    expect(remote).toEqual([...range(0, 150), ...range(0, 100), ...range(150, 300)]);
    expect(await duplicates()).toBe(100);
    const err = lines.find((l) => l['code'] === 'MIRROR_DUPLICATE');
    expect(err).toMatchObject({ level: 50, cluster: 'dc-east', topic: 't', partition: 0, duplicates: 100 });
    expect(String(err?.['err'])).toMatch(/edge 0-99 @ remote 150/);
    // The index maps every edge record to its first copy (what a consumer meets first) and keeps the
    // duplicate run apart.
    const tr = mirror.translator;
    for (const e of [0, 99, 100, 149]) expect(tr.toCluster('dc-east', 't', 0, e)).toBe(e);
    for (const e of [150, 299]) expect(tr.toCluster('dc-east', 't', 0, e)).toBe(e + 100);
    expect(tr.toEdge('dc-east', 't', 0, 120)).toBe(120);
    expect(() => tr.toEdge('dc-east', 't', 0, 160)).toThrow(/no edge record/); // a duplicate copy
    expect(tr.index.duplicates('dc-east', 't', 0)).toEqual([{ edgeStart: 0, remoteStart: 150, count: 100 }]);
    expect(tr.index.remoteEnd('dc-east', 't', 0)).toBe(400);
    expect(log.getCursor('mirror.dc-east', 't', 0)?.offset).toBe(300);
  });

  it('counts and logs duplicates found on the remote tail at resume, keeps the first copies and resumes after them', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const config = mirrorConfig({
      topics: { t: { partitions: 1 } },
      clusters: { 'dc-east': { bootstrap: east.bootstrap } },
    });
    const log = await openTestLog(config);
    await appendRecords(log, 't', 1, 200);
    // A previous run wrote 0..99, then a session resent 50..79 and died before any ack reached us.
    await createTopic(east.bootstrap, `${config.edgeId}.t`, { partitions: 1 });
    await writeAsOurs(east.bootstrap, config, log, 0, 100);
    await writeAsOurs(east.bootstrap, config, log, 50, 80);
    const { mirror, lines, duplicates } = await start(config, log);
    await waitMirrored(mirror, ['dc-east']);
    await mirror.stop({ timeoutMs: 10_000 });

    const remote = edgeOffsets(await consumePartition(east.bootstrap, `${config.edgeId}.t`, 0));
    expect(remote.length).toBe(230);
    expect(remote.slice(130)).toEqual(Array.from({ length: 100 }, (_, i) => 100 + i));
    expect(await duplicates()).toBe(30);
    expect(lines.find((l) => l['code'] === 'MIRROR_DUPLICATE')).toMatchObject({
      cluster: 'dc-east',
      topic: 't',
      partition: 0,
      offset: 50,
      duplicates: 30,
    });
    const tr = mirror.translator;
    expect(tr.toCluster('dc-east', 't', 0, 60)).toBe(60);
    expect(tr.toCluster('dc-east', 't', 0, 100)).toBe(130);
    expect(tr.index.duplicates('dc-east', 't', 0)).toEqual([{ edgeStart: 50, remoteStart: 100, count: 30 }]);
  });
});
