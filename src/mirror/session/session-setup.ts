/**
 * The start of every link session, before anything is sent (run again after every failure):
 *
 *   ensureInternalTopics ‖ (ensureRemoteTopics → resumePartitions)      (‖: concurrently)
 *
 * - internal topics: `heartbeats`, `<edgeId>.heartbeats`, `mm2-offset-syncs.<edgeId>.internal`
 *   (one partition, compacted);
 * - remote topics `<edgeId>.<topic>`: created with the edge's partition count and the cluster's
 *   replicationFactor; a remote topic with FEWER partitions is refused (state stopped, error logged,
 *   counted), never silently remapped;
 * - each partition resumes after the last edge offset found on the remote tail (recovering records
 *   that landed without their ack reaching us), or at the local cursor when the remote is empty.
 * Steps run in parallel across topics and partitions.
 */
import type { Logger } from 'pino';
import { OutpostError } from '../../errors.ts';
import type { PartitionedLog } from '../../log/index.ts';
import type { MirrorMetrics } from '../metrics.ts';
import { HEARTBEATS_TOPIC, offsetSyncsTopic, remoteHeartbeatsTopic } from '../naming.ts';
import { countOf, describeRuns } from '../offsets/landed.ts';
import type { IndexRange, OffsetIndex } from '../offsets/offset-index.ts';
import type { PartitionStatus } from '../types.ts';
import type { LinkState } from './link-state.ts';
import { COMPACTED, type RemoteSession } from './remote.ts';
import { discoverResume } from './resume.ts';
import { timed } from './timed.ts';

/** One mirrored partition's state inside a cluster link. */
export interface Part {
  topic: string;
  partition: number;
  remote: string;
  /** Next edge offset to send. */
  next: number;
  refused: string | undefined;
  /** Set when a single record is too large for the broker: the partition stops until a restart. */
  blocked?: string;
  throttled: boolean;
  /** The latest index+cursor commit (LMDB) of this partition. */
  acking: Promise<void>;
  lastAckedAt: number | null;
  remoteEnd: number | null;
  /**
   * This session's accounting of the remote partition (set by the resume, moved by every ack): the
   * remote offset the next acknowledged batch must start at, and the highest edge offset landed.
   */
  remoteNext: number;
  maxEdge: number;
}

/** A partition's state before its first session (resume sets remoteNext/maxEdge). */
export function newPart(topic: string, partition: number, remote: string, next: number): Part {
  return {
    topic,
    partition,
    remote,
    next,
    refused: undefined,
    throttled: false,
    acking: Promise.resolve(),
    lastAckedAt: null,
    remoteEnd: null,
    remoteNext: 0,
    maxEdge: -1,
  };
}

/** A partition's status: its link's state, except stopped (refused/blocked) and throttled only while it waits. */
export function partitionStatus(
  p: Part,
  log: PartitionedLog,
  linkState: LinkState,
  lastError: string | undefined,
  now: number,
): PartitionStatus {
  const end = log.offsets(p.topic, p.partition).endOffset;
  const lag = Math.max(0, end - p.next);
  const oldest = lag > 0 ? log.read(p.topic, p.partition, p.next, { maxRecords: 1 })[0] : undefined;
  let state = linkState;
  if (p.refused || p.blocked) state = 'stopped';
  else if (state === 'throttled' && !p.throttled) state = 'streaming';
  const s: PartitionStatus = {
    topic: p.topic,
    partition: p.partition,
    remoteTopic: p.remote,
    state,
    nextOffset: p.next,
    lagRecords: lag,
    lagSeconds: oldest ? Math.max(0, (now - oldest.timestamp) / 1000) : 0,
    lastAckedAt: p.lastAckedAt,
    remoteEndOffset: p.remoteEnd,
  };
  const error = p.refused ?? p.blocked ?? lastError;
  if (error !== undefined) s.error = error;
  return s;
}

/** Counts and logs (error) duplicate copies of edge records on a remote partition: never silent. */
export function reportDuplicates(
  ctx: { alias: string; logger: Logger; metrics: MirrorMetrics },
  p: Part,
  runs: readonly IndexRange[],
  where: string,
): void {
  const n = countOf(runs);
  ctx.metrics.duplicates.inc({ cluster: ctx.alias, topic: p.topic }, n);
  const first = runs[0];
  const err = new OutpostError(
    'MIRROR_DUPLICATE',
    `${n} duplicate record(s) on ${ctx.alias} ${p.remote}/${p.partition} ${where}: ${describeRuns(runs)}; the offset index keeps the first copies`,
    {
      cluster: ctx.alias,
      topic: p.topic,
      partition: p.partition,
      ...(first ? { offset: first.edgeStart } : {}),
    },
  );
  ctx.logger.error(
    { ...err.toLog(), remoteTopic: p.remote, duplicates: n, runs: runs.slice(0, 20) },
    'mirror duplicates on the cluster',
  );
}

export const cursorName = (alias: string): string => `mirror.${alias}`;

export async function setupSession(ctx: {
  session: RemoteSession;
  alias: string;
  edgeId: string;
  index: OffsetIndex;
  log: PartitionedLog;
  logger: Logger;
  metrics: MirrorMetrics;
  parts: Part[];
  required: boolean;
  timeoutMs: number;
}): Promise<void> {
  const { session, alias, edgeId, timeoutMs: t } = ctx;
  const bound = <T>(p: Promise<T>, what: string, ms = t) => timed(p, ms, what, alias);

  // ensureInternalTopics, concurrently with the data topics below (nothing depends on them before
  // streaming); setupSession resolves once both are done.
  const internal = Promise.all(
    [HEARTBEATS_TOPIC, remoteHeartbeatsTopic(edgeId), offsetSyncsTopic(edgeId)].map((name) =>
      bound(session.ensureTopic(name, 1, COMPACTED), `create ${name}`),
    ),
  );
  await Promise.all([internal, dataPartitions(ctx, bound)]);
}

/** ensureRemoteTopics → resumePartitions. */
async function dataPartitions(
  ctx: Parameters<typeof setupSession>[0],
  bound: <T>(p: Promise<T>, what: string, ms?: number) => Promise<T>,
): Promise<void> {
  const { session, alias, edgeId, index, log, logger, metrics, timeoutMs: t } = ctx;
  // ensureRemoteTopics
  const byTopic = new Map<string, Part[]>();
  for (const p of ctx.parts) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p]);
  await Promise.all(
    [...byTopic].map(async ([topic, parts]) => {
      const want = parts.length;
      const remote = parts[0]?.remote as string;
      const have = await bound(session.ensureTopic(remote, want), `create ${remote}`);
      const refused =
        have < want
          ? `remote topic ${remote} has ${have} partitions, the edge topic has ${want}: refusing it`
          : undefined;
      for (const p of parts) p.refused = refused;
      if (refused) {
        const err = new OutpostError('MIRROR_REMOTE_PARTITIONS', refused, { cluster: alias, topic });
        metrics.refused.inc({ cluster: alias, topic });
        logger.error(err.toLog(), 'mirror topic refused; add partitions to the remote topic or rename it');
      }
    }),
  );

  // resumePartitions
  await Promise.all(
    ctx.parts
      .filter((p) => !p.refused && !p.blocked)
      .map(async (p) => {
        const { topic, partition } = p;
        const r = await bound(
          discoverResume({ session, index, cluster: alias, edgeId, topic, remoteTopic: p.remote, partition }),
          `resume ${p.remote}/${partition}`,
          t * 4,
        );
        const cursor = log.getCursor(cursorName(alias), topic, partition)?.offset ?? 0;
        const start = log.offsets(topic, partition).startOffset;
        p.next = Math.max(r.edgeNext ?? cursor, start);
        p.remoteEnd = r.remoteEnd;
        p.remoteNext = r.remoteEnd;
        // Records below the cursor were acknowledged earlier (they may since be deleted remotely).
        p.maxEdge = Math.max(r.maxEdge, p.next - 1);
        if (r.duplicates.length > 0)
          reportDuplicates(ctx, p, r.duplicates, 'found on the remote tail at resume');
        if (r.recovered > 0) metrics.recovered.inc({ cluster: alias }, r.recovered);
        if (r.edgeNext !== undefined && r.edgeNext > cursor) {
          await log.setCursor(cursorName(alias), topic, partition, r.edgeNext, { protected: ctx.required });
        }
        if ((r.edgeNext ?? cursor) < start) {
          logger.warn(
            { cluster: alias, topic, partition, from: r.edgeNext ?? cursor, start },
            'mirror gap: retention deleted records this cluster never received (it is not required)',
          );
        }
        logger.info(
          { cluster: alias, topic, partition, offset: p.next, recovered: r.recovered, foreign: r.foreign },
          'mirror partition resumes',
        );
      }),
  );
}
