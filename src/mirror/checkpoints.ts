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
import { isOutpostError, OutpostError } from '../errors.ts';
import { type Checkpoint, encodeCheckpoint } from './formats/checkpoint.ts';
import type { MirrorMetrics } from './metrics.ts';
import { checkpointsTopic, SEPARATOR } from './naming.ts';
import type { OffsetTranslator } from './offsets/translate.ts';
import { COMPACTED, clientOptions, kafkaErrorText, RemoteSession } from './session/remote.ts';
import { settlesWithin, stopIncomplete } from './session/stopping.ts';

const RETRY = { retries: 3, retryDelay: 500 };

/**
 * Closes `close()`'s client when `signal` aborts (a stop cancels a round: its requests fail at once
 * instead of waiting out their timeouts and retries); returns the listener's removal.
 */
function closeOnAbort(signal: AbortSignal | undefined, close: () => Promise<unknown>): () => void {
  if (!signal) return () => {};
  const onAbort = () => void close().catch(() => {});
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

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
  /** Aborting closes both clients (their requests fail at once). */
  signal?: AbortSignal;
}): Promise<void> {
  const { to, toCfg, topic, timeoutMs, signal } = opts;
  signal?.throwIfAborted();
  const session = new RemoteSession(to, toCfg, timeoutMs);
  const producer = new Producer({
    ...clientOptions(to, toCfg, 'checkpoints', timeoutMs),
    ...opts.retry,
    acks: -1,
  });
  const release = closeOnAbort(signal, () => Promise.all([producer.close(true), session.close()]));
  try {
    await session.ensureTopic(topic, 1, COMPACTED);
    await producer.send({
      messages: opts.checkpoints.map((c) => ({ topic, partition: 0, ...encodeCheckpoint(c) })),
    });
  } finally {
    release();
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
  /** Aborting cancels the round: its clients close and it rejects with the signal's reason. */
  signal?: AbortSignal;
}): Promise<number> {
  const { config, translator, from, to, signal } = opts;
  const fromCfg = config.mirror.clusters[from];
  const toCfg = config.mirror.clusters[to];
  if (!fromCfg || !toCfg) return 0;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const prefix = `${config.edgeId}${SEPARATOR}`;
  const checkpoints: Checkpoint[] = [];
  const topic = checkpointsTopic(from);
  signal?.throwIfAborted();
  const fromAdmin = new Admin({ ...clientOptions(from, fromCfg, 'checkpoints', timeoutMs), ...RETRY });
  const release = closeOnAbort(signal, () => fromAdmin.close());
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
          } catch (err) {
            // Not translatable yet (B has not received that far): next round. Anything else fails the round.
            if (isOutpostError(err, 'MIRROR_NOT_TRANSLATABLE')) continue;
            throw err;
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
    release();
    await fromAdmin.close();
  }
  signal?.throwIfAborted();
  if (checkpoints.length === 0) return 0;
  await writeCheckpoints({
    to,
    toCfg,
    topic,
    checkpoints,
    timeoutMs,
    retry: RETRY,
    ...(signal ? { signal } : {}),
  });
  return checkpoints.length;
}

/** The scheduled checkpoint rounds: stop() cancels a running round and waits for its clients to close. */
export interface CheckpointRounds {
  stop(timeoutMs: number): Promise<void>;
  /** Rounds still running ("dc-east→dc-west"), each holding Kafka connections to both clusters. */
  holds(): string[];
}

/**
 * Runs emitCheckpoints for every ordered cluster pair on each source's interval, one round per pair
 * at a time. A failed round is an expected, self-healing condition (a cluster went away between the
 * up-check and the round): info, counted in outpost_mirror_retries_total, retried next interval.
 */
export function scheduleCheckpoints(opts: {
  config: () => Config;
  translator: OffsetTranslator;
  logger: Logger;
  metrics: MirrorMetrics;
  isUp: (alias: string) => boolean;
}): CheckpointRounds {
  const { logger } = opts;
  const timers: NodeJS.Timeout[] = [];
  const running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  let stopping = false;
  const aliases = Object.keys(opts.config().mirror.clusters);
  for (const from of aliases) {
    for (const to of aliases) {
      if (from === to) continue;
      const pair = `${from}→${to}`;
      const tick = () => {
        if (stopping || running.has(pair) || !opts.isUp(from) || !opts.isUp(to)) return;
        const abort = new AbortController();
        logger.debug({ from, to }, 'mirror checkpoint round started');
        const round = emitCheckpoints({
          config: opts.config(),
          translator: opts.translator,
          from,
          to,
          signal: abort.signal,
        });
        const done = round
          .then((n) => logger.debug({ from, to, checkpoints: n }, 'mirror checkpoint round ended'))
          .catch((err: unknown) => {
            if (abort.signal.aborted) {
              logger.info(
                { from, to },
                'mirror checkpoint round cancelled by stop; its connections are closed',
              );
              return;
            }
            opts.metrics.retries.inc({ cluster: from, reason: 'checkpoint-round' });
            logger.info(
              {
                from,
                to,
                err: kafkaErrorText(err),
                retryInMs: opts.config().mirror.clusters[from]?.checkpointIntervalMs,
              },
              'mirror checkpoint round failed; the next round retries',
            );
          })
          .finally(() => running.delete(pair));
        running.set(pair, { abort, done });
      };
      const every = opts.config().mirror.clusters[from]?.checkpointIntervalMs ?? 60_000;
      const t = setInterval(tick, every);
      t.unref();
      timers.push(t);
    }
  }
  const holds = () => [...running.keys()].map((pair) => `checkpoint round ${pair}`);
  return {
    holds,
    async stop(timeoutMs) {
      stopping = true;
      for (const t of timers) clearInterval(t);
      const rounds = [...running.values()];
      for (const r of rounds) r.abort.abort(new OutpostError('MIRROR_STOPPED', 'mirror stopping'));
      const ok = await settlesWithin(Promise.all(rounds.map((r) => r.done)), timeoutMs);
      if (!ok) throw stopIncomplete('mirror checkpoints', holds(), timeoutMs);
    },
  };
}
