/**
 * The window a torn-down session leaves, closed: a produce request of an earlier session that the
 * broker appends late carries the same producer id and the same edge-offset sequences as the new
 * session's batches (producer-ids.ts, produce.ts sequenceOf). Whichever copy reaches the broker
 * second is refused (KIP-98), so no edge record lands twice. Provoked against a real broker with the
 * link's own producer id, at the two moments such a request can land.
 */
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Config } from '../../src/config/index.ts';
import { encodeBatch, type PartitionedLog } from '../../src/log/index.ts';
import { HEADER_EDGE_OFFSET, type MirrorHooks, startMirror } from '../../src/mirror/index.ts';
import { sequenceOf } from '../../src/mirror/session/produce.ts';
import { ProducerIds } from '../../src/mirror/session/producer-ids.ts';
import { kafkaErrorText } from '../../src/mirror/session/remote.ts';
import { RawProducer } from '../../src/mirror/wire/raw-producer.ts';
import { consumePartition } from '../kafka/client.ts';
import { sharedClusters } from '../kafka/shared.ts';
import { appendRecords, mirrorConfig, openTestLog, waitMirrored } from './helpers.ts';

/** What the earlier session's request held: edge records [from, to) of t/0, sealed as the link seals them. */
async function lateRequest(config: Config, log: PartitionedLog, from: number, to: number): Promise<number> {
  const cfg = config.mirror.clusters['dc-east'];
  const id = new ProducerIds(log).get('dc-east');
  if (!cfg || !id) throw new Error('the link has no producer id yet');
  const records = log.read('t', 0, from, { maxRecords: to - from });
  const batch = encodeBatch(from, records, 'none', { id: Buffer.from(config.edgeId) });
  const p = new RawProducer({ alias: 'dc-east', cfg, timeoutMs: 10_000, id });
  try {
    await p.init();
    return await p.produce(`${config.edgeId}.t`, 0, batch, records.length, sequenceOf(from));
  } finally {
    await p.close();
  }
}

async function start(config: Config, log: PartitionedLog, hooks?: MirrorHooks) {
  const registry = new Registry();
  const logger = pino({ level: 'silent' });
  const mirror = await startMirror({ config, log, logger, metrics: registry, ...(hooks ? { hooks } : {}) });
  onTestFinished(() => mirror.stop({ timeoutMs: 10_000 }));
  const total = async (name: string) =>
    (await registry.getSingleMetric(name)?.get())?.values.reduce((n, v) => n + v.value, 0) ?? 0;
  return { mirror, total };
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

async function remoteEdgeOffsets(config: Config): Promise<number[]> {
  const { 'dc-east': east } = await sharedClusters();
  const got = await consumePartition(east.bootstrap, `${config.edgeId}.t`, 0);
  return got.map((r) => Number(Object.fromEntries(r.headers)[HEADER_EDGE_OFFSET]?.toString()));
}

describe('mirror late requests', () => {
  for (const [what, to] of [
    ['the same batch boundaries (answered as a duplicate)', 100],
    ['other batch boundaries (refused as out of sequence)', 150],
  ] as const) {
    it(`lands once when it is appended after the tail read and before the first batch: ${what}`, async () => {
      const { 'dc-east': east } = await sharedClusters();
      const config = mirrorConfig({
        topics: { t: { partitions: 1 } },
        clusters: { 'dc-east': { bootstrap: east.bootstrap, batch: { maxRecords: 100 } } },
      });
      const log = await openTestLog(config);
      await appendRecords(log, 't', 1, 300);
      let provoked = false;
      const { mirror, total } = await start(config, log, {
        afterResume: async () => {
          if (provoked) return;
          provoked = true;
          expect(await lateRequest(config, log, 0, to)).toBe(0);
        },
      });
      await waitMirrored(mirror, ['dc-east']);
      await mirror.stop({ timeoutMs: 10_000 });
      expect(provoked).toBe(true);
      expect(await remoteEdgeOffsets(config)).toEqual(range(0, 300));
      expect(await total('outpost_mirror_duplicates_total')).toBe(0);
      // Every edge offset translates to where it landed (once).
      for (const e of [0, 99, 100, 299]) expect(mirror.translator.toCluster('dc-east', 't', 0, e)).toBe(e);
      expect(log.getCursor('mirror.dc-east', 't', 0)?.offset).toBe(300);
    });
  }

  it('is refused when it is appended after the new session already sent the same records', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const config = mirrorConfig({
      topics: { t: { partitions: 1 } },
      clusters: { 'dc-east': { bootstrap: east.bootstrap, batch: { maxRecords: 100 } } },
    });
    const log = await openTestLog(config);
    await appendRecords(log, 't', 1, 300);
    const { mirror } = await start(config, log);
    await waitMirrored(mirror, ['dc-east']);
    await mirror.stop({ timeoutMs: 10_000 });
    // The earlier session's request for 0..49 (or 0..149) arrives now, under the same producer id.
    const refusal = (p: Promise<number>) => p.then(String, (err: unknown) => kafkaErrorText(err));
    expect(await refusal(lateRequest(config, log, 0, 50))).toMatch(/OUT_OF_ORDER_SEQUENCE_NUMBER/);
    expect(await refusal(lateRequest(config, log, 0, 150))).toMatch(/OUT_OF_ORDER_SEQUENCE_NUMBER/);
    expect(await remoteEdgeOffsets(config)).toEqual(range(0, 300));
  });
});
