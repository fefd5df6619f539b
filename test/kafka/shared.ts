/**
 * For test files: the suite's shared clusters dc-east and dc-west, started once by the vitest
 * globalSetup (test/kafka/global-setup.ts) on the first call. Read-only for tests: never stop them;
 * use unique topic names. For outages start a private cluster with startCluster().
 *
 *   const { 'dc-east': east, 'dc-west': west } = await sharedClusters();
 *   await createTopic(east.bootstrap, `t-${randomUUID()}`);
 */
import { inject } from 'vitest';
import type { SharedClusters } from './shared-types.ts';

export type { SharedClusterInfo, SharedClusterName, SharedClusters } from './shared-types.ts';

let cached: Promise<SharedClusters> | null = null;

export function sharedClusters(): Promise<SharedClusters> {
  cached ??= (async () => {
    const url = inject('outpostKafkaCoordinator');
    if (url === undefined) {
      throw new Error('sharedClusters(): test/kafka/global-setup.ts is not in vitest.config.ts globalSetup');
    }
    const res = await fetch(`${url}/clusters`, { signal: AbortSignal.timeout(300_000) });
    const text = await res.text();
    if (!res.ok) throw new Error(text);
    return JSON.parse(text) as SharedClusters;
  })();
  return cached;
}
