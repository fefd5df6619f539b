/**
 * Public face of the mirror: exactly-once, in-order mirroring of every selected log topic to each
 * configured central Kafka cluster, with an exact offset index and MM2-compatible internal records.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/index.ts';
import type { PartitionedLog } from '../log/index.ts';
import { scheduleCheckpoints } from './checkpoints.ts';
import { ClusterLink, type MirrorHooks, type PartitionStatus } from './cluster-link.ts';
import { mirrorMetrics } from './metrics.ts';
import { type IndexDb, OffsetIndex } from './offset-index.ts';
import { stopIncomplete } from './stopping.ts';
import { OffsetTranslator } from './translate.ts';

export { emitCheckpoints } from './checkpoints.ts';
export type { MirrorHooks, PartitionStatus } from './cluster-link.ts';
export { type FailoverResult, failover } from './failover.ts';
export { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from './formats/checkpoint.ts';
export { decodeHeartbeat, encodeHeartbeat, type Heartbeat } from './formats/heartbeat.ts';
export { decodeOffsetSync, encodeOffsetSync, type OffsetSync } from './formats/offset-sync.ts';
export {
  checkpointsTopic,
  HEADER_EDGE_ID,
  HEADER_EDGE_OFFSET,
  offsetSyncsTopic,
  remoteHeartbeatsTopic,
  remoteTopic,
} from './naming.ts';
export type { IndexRange } from './offset-index.ts';
export type { LinkState } from './state.ts';
export { OffsetTranslator } from './translate.ts';

export const INDEX_STORE = 'mirror.index';

export interface ClusterStatus {
  cluster: string;
  state: import('./state.ts').LinkState;
  required: boolean;
  partitions: PartitionStatus[];
}

export interface MirrorStatus {
  edgeId: string;
  clusters: ClusterStatus[];
}

export interface Mirror {
  status(): MirrorStatus;
  reload(config: Config): void;
  /**
   * Stops every link and checkpoint round, closing their Kafka clients; resolves once all are
   * closed, or rejects with SHUTDOWN_INCOMPLETE naming what is still open at the deadline.
   */
  stop(opts: { timeoutMs: number }): Promise<void>;
  /** What the mirror still holds open (links, sessions, checkpoint rounds); empty once stopped. */
  holds(): string[];
  /** Exact translation over this process's index. */
  readonly translator: OffsetTranslator;
}

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
