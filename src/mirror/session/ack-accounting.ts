/**
 * Ack-time accounting of one acknowledged produce batch against what the session knows of the
 * remote partition (Part.remoteNext, Part.maxEdge, set by the resume and moved by every ack).
 *
 * Kafka gives one produce batch to one partition contiguous offsets from its base offset
 * (RecordBatch v2: baseOffset + offsetDelta), and we are the only writer of the partition, one batch
 * in flight. So normally base == remoteNext and every edge offset is new (fast path). Otherwise:
 *   - base > remoteNext: records landed between our batches that we did not write in this session
 *     (a torn-down session's produce appended after this session read the tail, or a foreign
 *     writer). Re-scan [remoteNext, base), read their `outpost.edge.offset` headers and classify them
 *     together with the batch (landed.ts): duplicates are counted and logged as errors, foreign
 *     records are logged, and the index keeps first copies only;
 *   - base < remoteNext: the remote partition went backwards (truncated, recreated): the session
 *     fails, and the next resume rescans the tail;
 *   - the batch holds edge offsets that already landed: the same classification, without a scan.
 */
import type { Logger } from 'pino';
import { isOutpostError, OutpostError } from '../../errors.ts';
import type { MirrorMetrics } from '../metrics.ts';
import { classifyLanded, type LandedRecord } from '../offsets/landed.ts';
import type { IndexRange, OffsetIndex } from '../offsets/offset-index.ts';
import { kafkaErrorText, type RemoteSession } from './remote.ts';
import { edgeOffsetOf } from './resume.ts';
import { type Part, reportDuplicates } from './session-setup.ts';
import { timed } from './timed.ts';

/** What to record for an ack outside the fast path: first copies (index) and duplicate copies. */
export interface AckPlan {
  first: IndexRange[];
  duplicates: IndexRange[];
}

export interface AckContext {
  session: RemoteSession;
  alias: string;
  edgeId: string;
  logger: Logger;
  metrics: MirrorMetrics;
  timeoutMs: number;
}

/**
 * Moves p.remoteNext/p.maxEdge past the batch. Returns undefined on the fast path (the batch is one
 * exact run: index it as is), or the plan to record.
 */
export async function accountAck(
  ctx: AckContext,
  p: Part,
  offsets: readonly number[],
  remoteBase: number,
): Promise<AckPlan | undefined> {
  const count = offsets.length;
  const firstEdge = offsets[0] as number;
  const lastEdge = offsets[count - 1] as number;
  const expected = p.remoteNext;
  if (remoteBase === expected && firstEdge > p.maxEdge) {
    p.remoteNext = remoteBase + count;
    p.maxEdge = lastEdge;
    return undefined;
  }
  const fields = { cluster: ctx.alias, topic: p.topic, partition: p.partition, offset: firstEdge };
  if (remoteBase < expected) {
    throw new OutpostError(
      'MIRROR_STATE',
      `${p.remote}/${p.partition} on ${ctx.alias}: batch acknowledged at remote offset ${remoteBase}, below the ${expected} this session already saw: the remote partition went backwards (truncated or recreated); resuming from its tail`,
      fields,
    );
  }
  const landed: LandedRecord[] = [];
  if (remoteBase > expected) {
    const what = `rescan ${p.remote}/${p.partition} [${expected}, ${remoteBase})`;
    const scan = async () => {
      for await (const records of ctx.session.read(p.remote, p.partition, expected, remoteBase)) {
        for (const r of records) landed.push({ remote: r.offset, edge: edgeOffsetOf(r, ctx.edgeId) });
      }
    };
    await timed(scan(), ctx.timeoutMs * 4, what, ctx.alias);
  }
  const gap = landed.length;
  for (let i = 0; i < count; i++) landed.push({ remote: remoteBase + i, edge: offsets[i] as number });
  const c = classifyLanded(landed, p.maxEdge);
  p.remoteNext = remoteBase + count;
  p.maxEdge = c.maxEdge;
  if (c.foreign > 0) {
    ctx.logger.warn(
      { ...fields, remoteTopic: p.remote, from: expected, to: remoteBase, foreign: c.foreign },
      'mirror: records without our provenance headers landed between our batches (another writer)',
    );
  }
  if (c.duplicates.length > 0) {
    reportDuplicates(
      ctx,
      p,
      c.duplicates,
      gap > 0
        ? `(${gap} record(s) landed in [${expected}, ${remoteBase}) between this session's batches)`
        : '(the batch repeated edge offsets that had already landed)',
    );
  }
  return { first: c.first, duplicates: c.duplicates };
}

/** Commits an ack to the index: the batch as one exact run (fast path), or the plan's runs. */
export async function recordAck(
  index: OffsetIndex,
  alias: string,
  p: Part,
  offsets: readonly number[],
  remoteBase: number,
  plan: AckPlan | undefined,
): Promise<void> {
  if (!plan) return index.recordBatch(alias, p.topic, p.partition, offsets, remoteBase);
  for (const run of plan.first) await index.record(alias, p.topic, p.partition, run);
  for (const run of plan.duplicates) await index.recordDuplicates(alias, p.topic, p.partition, run);
}

/**
 * Waits for every partition's index+cursor commit, then gives the next session a clean chain: a
 * failed LMDB commit must not fail every later ack of the partition (the next resume re-indexes
 * what landed from the remote tail and moves the cursor). A failure that was not already reported
 * as the session's own (`reported`) is logged and counted here, never dropped.
 */
export async function settleCommits(
  ctx: { alias: string; logger: Logger; metrics: MirrorMetrics },
  parts: Part[],
  reported: unknown,
): Promise<void> {
  const settled = await Promise.allSettled(parts.map((p) => p.acking));
  settled.forEach((r, i) => {
    const p = parts[i] as Part;
    p.acking = Promise.resolve();
    if (r.status === 'fulfilled' || r.reason === reported) return;
    const code = isOutpostError(r.reason) ? r.reason.code : 'MIRROR_STATE';
    ctx.metrics.errors.inc({ cluster: ctx.alias, code });
    ctx.logger.error(
      { cluster: ctx.alias, topic: p.topic, partition: p.partition, code, err: kafkaErrorText(r.reason) },
      'mirror index/cursor commit failed; the next session re-indexes from the remote tail',
    );
  });
}
