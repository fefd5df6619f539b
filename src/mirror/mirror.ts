/**
 * The mirror in this thread: one ClusterLink per configured cluster, the checkpoint rounds, and the
 * exact offset index they share. The service runs it in its own thread (worker/), or here.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/index.ts';
import type { PartitionedLog } from '../log/index.ts';
import { scheduleCheckpoints } from './checkpoints.ts';
import { mirrorMetrics } from './metrics.ts';
import { type IndexDb, OffsetIndex } from './offsets/offset-index.ts';
import { OffsetTranslator } from './offsets/translate.ts';
import { ClusterLink } from './session/cluster-link.ts';
import { stopIncomplete } from './session/stopping.ts';
import type { Mirror, MirrorHooks } from './types.ts';

export const INDEX_STORE = 'mirror.index';

/**
 * Opens the exact offset index (LMDB store `mirror.index` in the log's environment). Works with a
 * log opened as role "reader" (CLI, while the service runs) as well as the owner.
 */
export function openOffsetIndex(log: PartitionedLog): OffsetTranslator {
  const db = log.openStore(INDEX_STORE, {
    keyEncoding: 'ordered-binary',
    encoding: 'msgpack',
  }) as unknown as IndexDb;
  return new OffsetTranslator(new OffsetIndex(db));
}

export async function startMirror(deps: {
  config: Config;
  log: PartitionedLog;
  logger: Logger;
  metrics: Registry;
  /** Test-only seams; never set in production. */
  hooks?: MirrorHooks;
}): Promise<Mirror> {
  const { log } = deps;
  let config = deps.config;
  const logger = deps.logger.child({ module: 'mirror' });
  const translator = openOffsetIndex(log);
  const links: ClusterLink[] = [];
  const metrics = mirrorMetrics(deps.metrics, () =>
    links.flatMap((l) =>
      l.status().map((s) => ({
        cluster: l.alias,
        topic: s.topic,
        partition: s.partition,
        lag: s.lagRecords,
        up: s.state === 'streaming',
      })),
    ),
  );
  for (const [alias, cluster] of Object.entries(config.mirror.clusters)) {
    const link = new ClusterLink({
      alias,
      config: cluster,
      edgeId: config.edgeId,
      log,
      index: translator.index,
      logger,
      metrics,
      priority: (topic) => config.log.topics[topic]?.priority ?? 0,
      hooks: deps.hooks,
    });
    await link.start();
    links.push(link);
  }
  const checkpoints = scheduleCheckpoints({
    config: () => config,
    translator,
    logger,
    metrics,
    isUp: (alias) => ['streaming', 'throttled'].includes(links.find((l) => l.alias === alias)?.state ?? ''),
  });
  logger.info({ clusters: links.map((l) => l.alias) }, 'mirror started');
  return {
    translator,
    status: () => ({
      edgeId: config.edgeId,
      clusters: links.map((l) => ({
        cluster: l.alias,
        state: l.state,
        required: config.mirror.clusters[l.alias]?.required ?? true,
        partitions: l.status(),
      })),
    }),
    reload(next: Config) {
      config = next;
      for (const l of links) {
        const c = next.mirror.clusters[l.alias];
        if (c) l.reload(c);
      }
    },
    holds: () => [...links.flatMap((l) => l.holds()), ...checkpoints.holds()],
    async stop({ timeoutMs }) {
      // Rounds and links stop side by side, each by the same deadline.
      const results = await Promise.allSettled([
        checkpoints.stop(timeoutMs),
        ...links.map((l) => l.stop(timeoutMs)),
      ]);
      const late = results.filter((r) => r.status === 'rejected');
      if (late.length > 0) {
        const holds = [...links.flatMap((l) => l.holds()), ...checkpoints.holds()];
        throw stopIncomplete('mirror', holds, timeoutMs);
      }
      logger.info('mirror stopped: every link and checkpoint round closed its connections');
    },
  };
}
