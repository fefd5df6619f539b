/**
 * vitest globalSetup: the suite's shared Kafka clusters dc-east and dc-west.
 *
 * They start lazily, once, in the vitest main process, the first time a test calls sharedClusters()
 * (test/kafka/shared.ts): runs that never touch Kafka start no JVM. Teardown stops them cleanly.
 * Test files run in parallel and share these clusters: never stop them from a test; a test that
 * needs an outage starts its own with startCluster({ name: <unique> }).
 * KAFKA_BOOTSTRAP_DC_EAST / KAFKA_BOOTSTRAP_DC_WEST point them at existing clusters instead.
 */
import { createServer, type Server } from 'node:http';
import type { TestProject } from 'vitest/node';
import { type KafkaCluster, startClusters } from './harness.ts';
import { SHARED_CLUSTER_NAMES, type SharedClusterInfo, type SharedClusters } from './shared-types.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the main process's cluster coordinator (see test/kafka/global-setup.ts). */
    outpostKafkaCoordinator: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let clusters: Promise<KafkaCluster[]> | null = null;
  const ensure = (): Promise<KafkaCluster[]> => {
    clusters ??= startClusters([...SHARED_CLUSTER_NAMES]);
    return clusters;
  };

  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/clusters') {
      res.writeHead(404).end();
      return;
    }
    ensure().then(
      (list) => {
        const body: Record<string, SharedClusterInfo> = {};
        for (const c of list) {
          body[c.name] = {
            name: c.name,
            bootstrap: c.bootstrap,
            clusterId: c.clusterId,
            external: c.external,
          };
        }
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify(body as SharedClusters));
      },
      (err: unknown) => {
        res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end(`shared Kafka clusters failed to start: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('coordinator: no TCP address');
  project.provide('outpostKafkaCoordinator', `http://127.0.0.1:${address.port}`);

  // Teardown: the shared clusters' data is thrown away, so SIGKILL (fast, well inside vitest's
  // teardownTimeout) rather than a clean stop; their temp dirs are removed.
  return async () => {
    server.closeAllConnections();
    server.close();
    if (clusters === null) return;
    const list = await clusters.catch(() => [] as KafkaCluster[]);
    await Promise.all(list.map((c) => c.destroy()));
  };
}
