/**
 * In-place upgrade of a gateway with a backlog: 0.1.0's own code (test/log/v1-code.ts) appends
 * record-v1 records, mirrors part of them to a real Kafka cluster and stops with a backlog left.
 * This code then opens the same data dir, appends record-v2 batches after the backlog and mirrors:
 * every edge offset lands on the remote partition exactly once, in order, with its value intact,
 * and nothing the old mirror already sent is sent again.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { HEADER_EDGE_OFFSET } from '../../src/mirror/index.ts';
import { consumePartition } from '../kafka/client.ts';
import { sharedClusters } from '../kafka/shared.ts';
import { tempDir } from '../log/helpers.ts';
import { runV1Code } from '../log/v1-code.ts';
import { openTestLog, startTestMirror, uniqueEdgeId, waitMirrored } from './helpers.ts';

const PARTITIONS = 2;
const MIRRORED = 40;
const BACKLOG = 25;
const AFTER = 15;

/** Runs in 0.1.0's tree: append, mirror everything, stop the mirror, append the backlog, close. */
const OLD_GATEWAY = `
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseConfig } from './src/config/index.ts';
import { logOptionsFromConfig, openLog } from './src/log/index.ts';
import { startMirror } from './src/mirror/index.ts';
const [json, mirrored, backlog] = process.argv.slice(2).map((a, i) => (i === 0 ? a : Number(a)));
const config = parseConfig(JSON.parse(json));
const log = await openLog(logOptionsFromConfig(config));
const append = async (tag, from, n) => {
  for (let p = 0; p < ${PARTITIONS}; p++) {
    await log.append(Array.from({ length: n }, (_, i) => ({ topic: 't', partition: p,
      key: (from + i) % 3 === 0 ? null : Buffer.from('k' + (from + i)),
      value: Buffer.from(tag + '-' + p + '-' + (from + i)), headers: { 'mqtt.qos': Buffer.from('1') } })));
  }
};
await append('v1', 0, mirrored);
const mirror = await startMirror({ config, log, logger: pino({ level: 'silent' }), metrics: new Registry() });
const deadline = Date.now() + 60000;
for (;;) {
  const lag = mirror.status().clusters.flatMap((c) => c.partitions).reduce((n, p) => n + p.lagRecords, 0);
  if (lag === 0) break;
  if (Date.now() > deadline) throw new Error('old mirror did not catch up');
  await new Promise((r) => setTimeout(r, 100));
}
await mirror.stop({ timeoutMs: 10000 });
await append('v1-backlog', mirrored, backlog);
await log.close();
process.stdout.write('done\\n');
`;

describe('mirror › upgrade', () => {
  it('mirrors a record-v1 backlog left by 0.1.0 and the record-v2 batches after it exactly once', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const input = {
      edgeId: uniqueEdgeId(),
      dataDir: tempDir('outpost-mirror-upgrade-'),
      log: { topics: { t: { partitions: PARTITIONS } }, minFreeBytes: 0 },
      mqtt: { listeners: [{ type: 'tcp', port: 0 }] },
      mirror: {
        clusters: {
          'dc-east': { bootstrap: east.bootstrap, heartbeatIntervalMs: 500, produceTimeoutMs: 10_000 },
        },
      },
    };
    expect(runV1Code(OLD_GATEWAY, [JSON.stringify(input), String(MIRRORED), String(BACKLOG)], 120_000)).toBe(
      'done\n',
    );
    const remote = `${input.edgeId}.t`;
    for (let p = 0; p < PARTITIONS; p++) {
      expect((await consumePartition(east.bootstrap, remote, p)).length, 'mirrored by 0.1.0').toBe(MIRRORED);
    }

    const config = parseConfig(input);
    const log = await openTestLog(config);
    for (let p = 0; p < PARTITIONS; p++) {
      await log.append(
        Array.from({ length: AFTER }, (_, i) => ({
          topic: 't',
          partition: p,
          value: Buffer.from(`v2-${p}-${MIRRORED + BACKLOG + i}`),
        })),
      );
    }
    const mirror = await startTestMirror(config, log);
    await waitMirrored(mirror, ['dc-east']);
    const total = MIRRORED + BACKLOG + AFTER;
    for (let p = 0; p < PARTITIONS; p++) {
      const got = await consumePartition(east.bootstrap, remote, p);
      expect(got.map((r) => Number(Object.fromEntries(r.headers)[HEADER_EDGE_OFFSET]?.toString()))).toEqual(
        Array.from({ length: total }, (_, i) => i),
      );
      const want = (i: number) =>
        i < MIRRORED ? `v1-${p}-${i}` : i < MIRRORED + BACKLOG ? `v1-backlog-${p}-${i}` : `v2-${p}-${i}`;
      expect(got.map((r) => r.value?.toString())).toEqual(Array.from({ length: total }, (_, i) => want(i)));
      const edge = log.read('t', p, 0, { maxRecords: total });
      expect(edge.map((r) => r.value.toString())).toEqual(got.map((r) => r.value?.toString()));
    }
  }, 180_000);
});
