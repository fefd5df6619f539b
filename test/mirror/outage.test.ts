import { createServer } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startMirror } from '../../src/mirror/index.ts';
import { consumePartition } from '../kafka/client.ts';
import { sharedClusters } from '../kafka/shared.ts';
import {
  appendRecords,
  mirrorConfig,
  openTestLog,
  quietLogger,
  startTestMirror,
  waitMirrored,
} from './helpers.ts';

/** A loopback port nothing listens on (bound, read, released). */
function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

describe('mirror outages and pacing', () => {
  it('keeps mirroring to dc-east while dc-west is down for the whole test, and retention keeps what required dc-west lacks', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const dead = `127.0.0.1:${await deadPort()}`; // nothing listens: connection refused throughout
    const config = mirrorConfig({
      topics: { t: { partitions: 2 } },
      clusters: {
        'dc-east': { bootstrap: east.bootstrap },
        'dc-west': { bootstrap: dead, required: true, produceTimeoutMs: 2000 },
      },
    });
    const log = await openTestLog(config);
    await appendRecords(log, 't', 2, 400);
    const mirror = await startTestMirror(config, log);
    await waitMirrored(mirror, ['dc-east']);
    for (const p of [0, 1]) {
      expect((await consumePartition(east.bootstrap, `${config.edgeId}.t`, p)).length).toBe(400);
    }
    const west = mirror.status().clusters.find((c) => c.cluster === 'dc-west');
    expect(['connecting', 'backing-off']).toContain(west?.state);
    expect(west?.partitions.every((p) => p.lagRecords === 400 && p.lastAckedAt === null)).toBe(true);
    expect(mirror.status().clusters.find((c) => c.cluster === 'dc-east')?.state).toBe('streaming');

    // Everything is past retentionMs a week from now, but dc-west (required) has received nothing.
    const report = await log.runRetention(Date.now() + 30 * 24 * 3600 * 1000);
    expect(report.heldByCursor.sort()).toEqual(['t/0', 't/1']);
    for (const p of [0, 1]) expect(log.offsets('t', p).startOffset).toBe(0);
  });

  it('lets retention delete what every required cluster acknowledged when the down cluster is not required', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const dead = `127.0.0.1:${await deadPort()}`;
    const config = mirrorConfig({
      topics: { t: { partitions: 1 } },
      clusters: {
        'dc-east': { bootstrap: east.bootstrap },
        'dc-west': { bootstrap: dead, required: false, produceTimeoutMs: 2000 },
      },
    });
    const log = await openTestLog(config);
    await appendRecords(log, 't', 1, 300);
    const mirror = await startTestMirror(config, log);
    await waitMirrored(mirror, ['dc-east']);
    await mirror.stop({ timeoutMs: 10_000 }); // the cursor commit trails the ack by at most one batch
    await log.runRetention(Date.now() + 30 * 24 * 3600 * 1000);
    expect(log.offsets('t', 0).startOffset).toBe(300);
  });

  it('keeps the mirrored byte rate under maxBytesPerSecond', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const cap = 60_000;
    const config = mirrorConfig({
      topics: { t: { partitions: 2 } },
      clusters: {
        'dc-east': { bootstrap: east.bootstrap, maxBytesPerSecond: cap, batch: { maxRecords: 40 } },
      },
    });
    const log = await openTestLog(config);
    await appendRecords(log, 't', 2, 3000);
    const registry = new Registry();
    const mirror = await startMirror({ config, log, logger: quietLogger, metrics: registry });
    onTestFinished(() => mirror.stop({ timeoutMs: 5000 }));
    const bytes = async () =>
      (await registry.getSingleMetric('outpost_mirror_bytes_total')?.get())?.values.reduce(
        (s, v) => s + v.value,
        0,
      ) ?? 0;
    // Start the window once the link is throttled: the initial burst (one second of tokens) is spent.
    for (let i = 0; i < 1500 && mirror.status().clusters[0]?.state !== 'throttled'; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(mirror.status().clusters[0]?.state).toBe('throttled');
    const b0 = await bytes();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 4000));
    const b1 = await bytes();
    const seconds = (performance.now() - t0) / 1000;
    // Bound: a token bucket grants at most rate x window, plus whatever tokens were left at the start
    // (about zero: throttled) plus one batch let through into debt (40 records of < 200 B here).
    // 5% slack covers timer granularity and that bytes are counted at the ack, not at the grant.
    const batchBytes = 40 * 200;
    expect(b1 - b0).toBeGreaterThan(0);
    expect(b1 - b0).toBeLessThanOrEqual(cap * seconds * 1.05 + batchBytes);
  });
});
