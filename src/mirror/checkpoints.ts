/**
 * Periodic MM2 checkpoints for datacenter failover, every `checkpointIntervalMs` of the source cluster:
 *
 *   for each ordered pair (A, B) of clusters: listGroups(A) → committed offsets on `<edgeId>.*`
 *   → exact position translation A → edge → B → Checkpoint records into `<A>.checkpoints.internal`
 *   on B (partition 0, compacted).
 *
 * So `RemoteClusterUtils.translateOffsets(BProps, "A", group)` answers for every group that consumes
 * this edge's topics on A, without an operator command. Groups are never committed here (that needs
 * `outpost offsets failover --commit`, an explicit operator decision).
 */
import { Admin, Producer } from '@platformatic/kafka';
import type { Logger } from 'pino';
import type { ClusterConfig, Config } from '../config/index.ts';
import { type Checkpoint, encodeCheckpoint } from './formats/checkpoint.ts';
import { checkpointsTopic, SEPARATOR } from './naming.ts';
import { COMPACTED, clientOptions, RemoteSession } from './remote.ts';
import type { OffsetTranslator } from './translate.ts';

const RETRY = { retries: 3, retryDelay: 500 };

/**
 * writeCheckpoints: Checkpoint records into `topic` (`<from>.checkpoints.internal`) on cluster `to`,
 * partition 0, acks=all; the topic is created (one partition, compacted) when missing.
 */
export async function writeCheckpoints(opts: {
  to: string;
  toCfg: ClusterConfig;
  topic: string;
  checkpoints: readonly Checkpoint[];
  timeoutMs: number;
  retry: { retries: number; retryDelay: number };
}): Promise<void> {
  const { to, toCfg, topic, timeoutMs } = opts;
  const session = new RemoteSession(to, toCfg, timeoutMs);
  const producer = new Producer({
    ...clientOptions(to, toCfg, 'checkpoints', timeoutMs),
    ...opts.retry,
    acks: -1,
  });
  try {
    await session.ensureTopic(topic, 1, COMPACTED);
    await producer.send({
      messages: opts.checkpoints.map((c) => ({ topic, partition: 0, ...encodeCheckpoint(c) })),
    });
  } finally {
    await producer.close(true);
    await session.close();
  }
}

/** Writes checkpoints for every group on `from` that committed offsets on this edge's topics; returns how many. */
export async function emitCheckpoints(opts: {
  config: Config;
  translator: OffsetTranslator;
  from: string;
  to: string;
  timeoutMs?: number;
}): Promise<number> {
  const { config, translator, from, to } = opts;
  const fromCfg = config.mirror.clusters[from];
  const toCfg = config.mirror.clusters[to];
  if (!fromCfg || !toCfg) return 0;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const prefix = `${config.edgeId}${SEPARATOR}`;
  const checkpoints: Checkpoint[] = [];
  const topic = checkpointsTopic(from);
  const fromAdmin = new Admin({ ...clientOptions(from, fromCfg, 'checkpoints', timeoutMs), ...RETRY });
  try {
    const groups = [...(await fromAdmin.listGroups()).keys()];
    if (groups.length === 0) return 0;
    for (const g of await fromAdmin.listConsumerGroupOffsets({ groups })) {
      for (const t of g.topics) {
        if (!t.name.startsWith(prefix)) continue;
        for (const p of t.partitions) {
          const upstreamOffset = Number(p.committedOffset);
          if (upstreamOffset < 0) continue;
          let downstreamOffset: number;
          try {
            downstreamOffset = translator.positionBetween(
              from,
              to,
              t.name.slice(prefix.length),
              p.partitionIndex,
              upstreamOffset,
            );
          } catch {
            continue; // not translatable yet (B has not received that far): next round
          }
          checkpoints.push({
            group: g.groupId,
            topic: t.name,
            partition: p.partitionIndex,
            upstreamOffset,
            downstreamOffset,
            metadata: '',
          });
        }
      }
    }
  } finally {
    await fromAdmin.close();
  }
  if (checkpoints.length === 0) return 0;
  await writeCheckpoints({ to, toCfg, topic, checkpoints, timeoutMs, retry: RETRY });
  return checkpoints.length;
}

/** Runs emitCheckpoints for every ordered cluster pair on each source's interval; returns a stop function. */
export function scheduleCheckpoints(opts: {
  config: () => Config;
  translator: OffsetTranslator;
  logger: Logger;
  isUp: (alias: string) => boolean;
}): () => void {
  const timers: NodeJS.Timeout[] = [];
  const aliases = Object.keys(opts.config().mirror.clusters);
  for (const from of aliases) {
    for (const to of aliases) {
      if (from === to) continue;
      let running = false;
      const tick = () => {
        if (running || !opts.isUp(from) || !opts.isUp(to)) return;
        running = true;
        emitCheckpoints({ config: opts.config(), translator: opts.translator, from, to })
          .then((n) => {
            if (n > 0) opts.logger.debug({ from, to, checkpoints: n }, 'mirror checkpoints written');
          })
          .catch((err: unknown) =>
            opts.logger.warn(
              { from, to, err: (err as Error).message },
              'mirror checkpoints failed; next round retries',
            ),
          )
          .finally(() => {
            running = false;
          });
      };
      const every = opts.config().mirror.clusters[from]?.checkpointIntervalMs ?? 60_000;
      const t = setInterval(tick, every);
      t.unref();
      timers.push(t);
    }
  }
  return () => {
    for (const t of timers) clearInterval(t);
  };
}
