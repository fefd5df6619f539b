/**
 * One produce request of a partition link (single writer of the remote partition), bounded by
 * produceTimeoutMs, with its errors mapped to what the link does next:
 *   - MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE would fail the same way forever: the partition is
 *     blocked (state stopped, error logged and counted) so the rest of the link keeps flowing; the
 *     operator raises the broker's message.max.bytes (or lowers batch.maxBytes) and restarts;
 *   - anything else is MIRROR_PRODUCE_FAILED (retriable): the session is torn down and resumes from
 *     the remote tail.
 */
import type { Logger } from 'pino';
import { isOutpostError, OutpostError } from '../../errors.ts';
import type { MirrorMetrics } from '../metrics.ts';
import type { WireBatch } from './forward.ts';
import { kafkaErrorText, type RemoteSession } from './remote.ts';
import type { Part } from './session-setup.ts';
import { timed } from './timed.ts';

/**
 * The baseSequence of the batch starting at edge offset `offset`: the offset modulo 2^31, so
 * sequences follow edge offsets (int32, wrapping to 0 after 2^31 - 1 exactly as Kafka's
 * DefaultRecordBatch.incrementSequence does). The same edge records always carry the same
 * sequences under the link's producer id: a repeat of them (a torn-down session's late request, or
 * a new session's batch after that request landed) is refused by the broker as a duplicate or out
 * of order, never appended twice (KIP-98: the broker takes only lastSequence + 1).
 */
export function sequenceOf(offset: number): number {
  return offset % 2 ** 31;
}

export function produceBatch(
  ctx: { alias: string; logger: Logger; metrics: MirrorMetrics; timeoutMs: number },
  p: Part,
  session: RemoteSession,
  out: WireBatch,
): Promise<number> {
  const { alias } = ctx;
  const what = `produce ${p.remote}/${p.partition}`;
  const sent = session.produceBatch(
    p.remote,
    p.partition,
    out.batch,
    out.offsets.length,
    sequenceOf(out.offsets[0] as number),
  );
  return timed(sent, ctx.timeoutMs, what, alias).catch((err: unknown) => {
    if (isOutpostError(err)) throw err;
    const text = kafkaErrorText(err);
    const fields = {
      cluster: alias,
      topic: p.topic,
      partition: p.partition,
      offset: out.offsets[0] as number,
      cause: err,
    };
    if (/MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/.test(text)) {
      p.blocked =
        out.offsets.length === 1
          ? `edge record ${p.topic}/${p.partition}@${out.offsets[0]} (${out.encoded} B encoded) is larger than ${alias} accepts: raise the broker's message.max.bytes (and the topic's max.message.bytes)`
          : `a ${out.encoded} B batch is larger than ${alias} accepts: lower mirror.clusters.${alias}.batch.maxBytes below the broker's message.max.bytes`;
      ctx.metrics.refused.inc({ cluster: alias, topic: p.topic });
      ctx.logger.error({ ...fields, cause: undefined, err: text }, `mirror partition blocked: ${p.blocked}`);
      throw new OutpostError('RECORD_TOO_LARGE', `${what}: ${p.blocked}`, fields);
    }
    throw new OutpostError('MIRROR_PRODUCE_FAILED', `${what} failed: ${text}`, {
      ...fields,
      retriable: true,
    });
  });
}
