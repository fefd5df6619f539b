import { describe, expect, it } from 'vitest';
import { logTopicSpecs } from '../../src/service/index.ts';

import { sharedClusters } from '../kafka/shared.ts';
import { appendRecords, mirrorConfig, openTestLog, startTestMirror, waitMirrored } from './helpers.ts';

describe('mirror reload', () => {
  it('protects partitions a reload adds from retention until a restart mirrors them to the required cluster', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const config = mirrorConfig({
      topics: { a: { partitions: 1 } },
      clusters: { 'dc-east': { bootstrap: east.bootstrap, required: true } },
    });
    const log = await openTestLog(config);
    const mirror = await startTestMirror(config, log);
    await appendRecords(log, 'a', 1, 10);
    await waitMirrored(mirror, ['dc-east']);

    // SIGHUP order (service/reload.ts): the log grows first, then the mirror reloads.
    const next = { ...config, log: { ...config.log, topics: { ...config.log.topics } } };
    next.log.topics['b'] = {
      partitions: 2,
      retentionMs: 1000,
      retentionBytes: 1024 ** 3,
      compression: 'zstd',
      priority: 0,
    };
    next.log.topics['a'] = {
      ...(config.log.topics['a'] as (typeof next.log.topics)['a'] & object),
      partitions: 2,
    };
    await log.reconfigure(logTopicSpecs(next));
    mirror.reload(next);

    const want = [
      ['a', 1],
      ['b', 0],
      ['b', 1],
    ] as const;
    for (let i = 0; i < 100; i++) {
      if (want.every(([t, p]) => log.getCursor('mirror.dc-east', t, p)?.protected)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const [t, p] of want) {
      expect(log.getCursor('mirror.dc-east', t, p)).toMatchObject({ offset: 0, protected: true });
    }
    await appendRecords(log, 'b', 2, 20);
    const report = await log.runRetention(Date.now() + 30 * 24 * 3600 * 1000);
    expect(report.heldByCursor).toEqual(expect.arrayContaining(['b/0', 'b/1']));
    for (const p of [0, 1]) expect(log.offsets('b', p).startOffset).toBe(0);
  });
});
