/**
 * What a link failure means for an operator, and so its log level (the rule is in docs/alerts.md):
 *
 *   transient  Kafka says a topic or a leader is moving: a topic created a moment ago and not yet
 *              known to every broker (UNKNOWN_TOPIC_OR_PARTITION, "Unknown topic"), a leader election
 *              (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, FENCED/UNKNOWN_LEADER_EPOCH), a
 *              coordinator loading, too few in-sync replicas for a moment, a batch refused as out of
 *              sequence (the same edge records landed first from a late request, or the remote
 *              partition was truncated: a new producer id follows, producer-ids.ts). Kafka marks these
 *              retriable (Kafka protocol error codes table, "Retriable" column). info + the retry,
 *              counted in outpost_mirror_retries_total. Still failing after TRANSIENT_PATIENCE
 *              sessions in a row, it is no longer a moment: warn.
 *   outage     The cluster does not answer (connection refused/closed/timed out, no answer within
 *              produceTimeoutMs): warn, counted in outpost_mirror_errors_total. The link heals when
 *              the cluster is back; the lag alerts say when an operator must look.
 *   fault      Anything else (authorization, a refusal, a local commit): error, counted.
 */
import type { Logger } from 'pino';
import { type ErrorCode, isOutpostError } from '../../errors.ts';
import type { MirrorMetrics } from '../metrics.ts';
import { kafkaErrorText } from './remote.ts';

export type FailureClass = 'transient' | 'outage' | 'fault';

/** Consecutive transient session failures before one is logged at warn. */
export const TRANSIENT_PATIENCE = 5;

const TRANSIENT =
  /OUT_OF_ORDER_SEQUENCE_NUMBER|UNKNOWN_TOPIC_OR_PARTITION|Unknown topic|NOT_LEADER_OR_FOLLOWER|LEADER_NOT_AVAILABLE|FENCED_LEADER_EPOCH|UNKNOWN_LEADER_EPOCH|NOT_COORDINATOR|COORDINATOR_LOAD_IN_PROGRESS|COORDINATOR_NOT_AVAILABLE|NOT_ENOUGH_REPLICAS|OFFSET_NOT_AVAILABLE|REQUEST_TIMED_OUT|no leader for |error code (3|5|6|74|76)\b/;
const OUTAGE =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|Connection .*(failed|closed|timed out)|Cannot connect to any broker|timed out|Client closed/i;

/** A short name for the transient condition (the retries counter's `reason` label). */
function transientReason(text: string): string {
  if (/OUT_OF_ORDER_SEQUENCE_NUMBER/.test(text)) return 'sequence';
  if (/UNKNOWN_TOPIC_OR_PARTITION|Unknown topic/.test(text)) return 'unknown-topic';
  if (/LEADER|EPOCH/.test(text)) return 'leader-moving';
  if (/COORDINATOR/.test(text)) return 'coordinator-moving';
  if (/REPLICAS/.test(text)) return 'replicas-catching-up';
  return 'retriable';
}

/**
 * The first Kafka protocol error in the chain that Kafka marks retriable (@platformatic/kafka
 * carries the protocol's flag as `canRetry` on each ProtocolError, with the error name as `apiId`).
 */
function retriableProtocolError(err: unknown, depth = 0): string | undefined {
  if (!(err instanceof Error) || depth > 4) return undefined;
  const e = err as Error & { apiId?: string; canRetry?: boolean; errors?: unknown[] };
  if (e.apiId && e.canRetry === true) return e.apiId;
  for (const inner of [...(e.errors ?? []), e.cause]) {
    const found = retriableProtocolError(inner, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** Codes that wrap what Kafka (or the wire) said: classified by that text, like Kafka's own errors. */
const TEXT_CLASSIFIED: readonly ErrorCode[] = [
  'MIRROR_PRODUCE_FAILED',
  'MIRROR_FETCH_FAILED',
  'MIRROR_STATE',
];

export function classifyFailure(err: unknown): { cls: FailureClass; text: string; reason?: string } {
  const text = isOutpostError(err) ? `${err.message} ${kafkaErrorText(err.cause)}` : kafkaErrorText(err);
  if (isOutpostError(err, 'MIRROR_NO_PROGRESS')) return { cls: 'outage', text };
  if (isOutpostError(err) && !TEXT_CLASSIFIED.includes(err.code)) return { cls: 'fault', text };
  const retriable = retriableProtocolError(isOutpostError(err) ? err.cause : err);
  if (TRANSIENT.test(text) || retriable)
    return { cls: 'transient', text, reason: transientReason(`${text} ${retriable ?? ''}`) };
  if (OUTAGE.test(text)) return { cls: 'outage', text };
  return { cls: 'fault', text };
}

/**
 * Logs and counts one session failure (once); returns the level used, which the link's backoff line
 * follows, and the text for the status page.
 */
export function reportFailure(
  ctx: { alias: string; logger: Logger; metrics: MirrorMetrics },
  err: unknown,
  attempt: number,
  retryInMs: number,
): { level: 'info' | 'warn' | 'error'; text: string } {
  const { cls, text, reason } = classifyFailure(err);
  const code = isOutpostError(err) ? err.code : 'MIRROR_PRODUCE_FAILED';
  const message = isOutpostError(err) ? err.message : text;
  const fields = {
    cluster: ctx.alias,
    code,
    err: message,
    attempt,
    retryInMs,
    ...(isOutpostError(err) ? err.fields : {}),
  };
  if (cls === 'transient') {
    ctx.metrics.retries.inc({ cluster: ctx.alias, reason: reason as string });
    const level = attempt < TRANSIENT_PATIENCE ? 'info' : 'warn';
    ctx.logger[level]({ ...fields, reason }, 'mirror link retries: the cluster is moving a topic or leader');
    return { level, text: message };
  }
  ctx.metrics.errors.inc({ cluster: ctx.alias, code });
  const level = cls === 'outage' ? 'warn' : 'error';
  ctx.logger[level](fields, 'mirror link failed; tearing the session down');
  return { level, text: message };
}
