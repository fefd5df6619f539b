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
import type { Config } from '../config/index.ts';
import { encodeCheckpoint } from './formats/checkpoint.ts';
import { checkpointsTopic, SEPARATOR } from './naming.ts';
import { COMPACTED, clientOptions, RemoteSession } from './remote.ts';
import type { OffsetTranslator } from './translate.ts';

const RETRY = { retries: 3, retryDelay: 500 };

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
  const messages: Array<{ topic: string; partition: number; key: Buffer; value: Buffer }> = [];
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
          const rec = encodeCheckpoint({
            group: g.groupId,
            topic: t.name,
            partition: p.partitionIndex,
            upstreamOffset,
            downstreamOffset,
            metadata: '',
          });
          messages.push({ topic, partition: 0, ...rec });
        }
      }
    }
  } finally {
    await fromAdmin.close();
  }
  if (messages.length === 0) return 0;
  const session = new RemoteSession(to, toCfg, timeoutMs);
  const producer = new Producer({
    ...clientOptions(to, toCfg, 'checkpoints', timeoutMs),
    ...RETRY,
    acks: -1,
  });
  try {
    await session.ensureTopic(topic, 1, COMPACTED);
    await producer.send({ messages });
  } finally {
    await producer.close(true);
    await session.close();
  }
  return messages.length;
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
