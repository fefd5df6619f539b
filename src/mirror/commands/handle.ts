/**
 * One command record, as named steps; the position moves only after the step that decided it is on
 * disk:
 *
 *   parse      record.ts: ours? id, expiry, device, MQTT topic, QoS
 *   dedup      an id already handled (on any cluster) is skipped: counted, no second delivery
 *   uncertain  an id whose delivery began but was never recorded: commands.onUncertain
 *   check      the devices face (when given): unknown or disabled device → rejected
 *   begin      durable 'u' entry (store.ts), so a crash in the next step is known on restart
 *   deliver    Downlink.deliver; a rejection is retried with backoff (order: nothing after it moves).
 *              With persistent subscribers, the downlink calls inTransaction inside the LMDB
 *              transaction that stores their copies: position + id + outcome record (as 'queued')
 *              commit with them (store.handledInTransaction), so that crash window is closed
 *   record     position + id + outcome record in one LMDB transaction, fsynced (store.handled);
 *              after an atomic delivery it rewrites the same keys with the final counts
 */
import type { Logger } from 'pino';
import type { CommandsConfig } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import type { CommandMetrics } from './metrics.ts';
import { parseCommand } from './record.ts';
import type { CommandStore } from './store.ts';
import type {
  CommandRecord,
  DeliveryOutcome,
  DeviceLookup,
  Downlink,
  OutcomeKind,
  OutcomeRecord,
  RejectReason,
} from './types.ts';

export interface HandleContext {
  edgeId: string;
  cfg: CommandsConfig;
  /** The rendered command topic. */
  topic: string;
  cluster: string;
  store: CommandStore;
  downlink: Downlink;
  devices: DeviceLookup | undefined;
  metrics: CommandMetrics;
  logger: Logger;
  signal: AbortSignal;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

/** Handles one record; returns true when the position was recorded with it (false: skipped or duplicate). */
export async function handleRecord(ctx: HandleContext, rec: CommandRecord): Promise<boolean> {
  const p = parseCommand(rec, { edgeId: ctx.edgeId, cfg: ctx.cfg, now: Date.now() });
  if (p.kind === 'skip') {
    ctx.metrics.skipped.inc({ cluster: ctx.cluster });
    return false;
  }
  if (ctx.store.handledAs(p.id) !== undefined) {
    ctx.metrics.duplicates.inc({ cluster: ctx.cluster });
    ctx.logger.debug(
      { id: p.id, cluster: ctx.cluster, partition: rec.partition, offset: rec.offset },
      'command already handled: skipped',
    );
    return false;
  }
  const began = ctx.store.began(p.id);
  if (began !== undefined) {
    const action = ctx.cfg.onUncertain;
    ctx.metrics.uncertain.inc({ action });
    ctx.logger.warn(
      { id: p.id, cluster: ctx.cluster, partition: rec.partition, offset: rec.offset, began },
      `command ${p.id}: delivery began before a restart and its result was not recorded, so no persistent session stored it (that would have recorded it); ${action === 'redeliver' ? 'delivering again (a clean-session or QoS 0 subscriber may see it twice)' : 'skipped (it may have reached no device)'}`,
    );
    if (action === 'skip') {
      await ctx.store.handled(ctx.cluster, ctx.topic, rec.partition, rec.offset + 1, p.id, null, 'uncertain');
      return true;
    }
  }
  if (p.kind === 'expired') {
    ctx.logger.info(
      { id: p.id, deviceId: p.deviceId, expiredAt: new Date(p.expiredAt).toISOString() },
      `command ${p.id} expired before delivery: not delivered`,
    );
    return record(ctx, rec, p.id, p.deviceId, 'expired', null, null, undefined);
  }
  if (p.kind === 'rejected') return reject(ctx, rec, p.id, p.deviceId, p.reason, p.detail, null);
  const device = ctx.devices?.get(p.deviceId);
  if (ctx.devices && device === undefined)
    return reject(
      ctx,
      rec,
      p.id,
      p.deviceId,
      'unknown-device',
      `no device ${p.deviceId} in the registry`,
      p.topic,
    );
  if (device && !device.enabled)
    return reject(ctx, rec, p.id, p.deviceId, 'disabled-device', `device ${p.deviceId} is disabled`, p.topic);
  await ctx.store.begin(p.id, ctx.cluster, rec.partition, rec.offset);
  const { out, seq } = await deliverRecorded(ctx, rec, p.id, p.deviceId, {
    topic: p.topic,
    payload: p.payload,
    qos: p.qos,
    ...(p.expiresAt === null ? {} : { expiresAt: p.expiresAt }),
  });
  if (out.matched === 0)
    return reject(
      ctx,
      rec,
      p.id,
      p.deviceId,
      'no-subscriber',
      `no session subscribes to ${p.topic}`,
      p.topic,
      out,
    );
  const kind: OutcomeKind = out.queued > 0 ? 'queued' : 'delivered';
  ctx.logger.debug({ id: p.id, deviceId: p.deviceId, topic: p.topic, ...out }, `command ${p.id} ${kind}`);
  return record(ctx, rec, p.id, p.deviceId, kind, null, p.topic, out, seq);
}

type Msg = { topic: string; payload: Buffer; qos: 0 | 1 | 2; expiresAt?: number };

/**
 * Downlink.deliver with the command's record written inside the downlink's transaction when it
 * stores durable copies. Once that committed (the id reads as handled) the command is never handed
 * over again, also when deliver then rejects: it is in the sessions' queues.
 */
async function deliverRecorded(
  ctx: HandleContext,
  rec: CommandRecord,
  id: string,
  deviceId: string,
  msg: Msg,
): Promise<{ out: DeliveryOutcome; seq: number | null }> {
  let seq: number | null = null;
  let stored: DeliveryOutcome | null = null;
  const inTransaction = (s: { matched: number; queued: number }) => {
    stored = { matched: s.matched, delivered: 0, queued: s.queued, atomic: true };
    const row = outcomeRow(ctx, rec, id, deviceId, 'queued', null, msg.topic, stored);
    seq = ctx.store.handledInTransaction(
      ctx.cluster,
      ctx.topic,
      rec.partition,
      rec.offset + 1,
      id,
      ctx.cfg.outcomesTopic === null ? null : row,
      'queued',
    );
  };
  const committed = () => (stored !== null && ctx.store.handledAs(id) !== undefined ? stored : null);
  const out = await deliverRetrying(ctx, msg, id, inTransaction, committed);
  return { out, seq: out.atomic === true ? seq : null };
}

async function reject(
  ctx: HandleContext,
  rec: CommandRecord,
  id: string,
  deviceId: string | null,
  reason: RejectReason,
  detail: string,
  mqttTopic: string | null,
  out?: DeliveryOutcome,
): Promise<boolean> {
  ctx.logger.warn(
    { id, deviceId, reason, cluster: ctx.cluster, partition: rec.partition, offset: rec.offset },
    `command ${id} rejected (${reason}): ${detail}`,
  );
  return record(ctx, rec, id, deviceId, 'rejected', reason, mqttTopic, out);
}

async function record(
  ctx: HandleContext,
  rec: CommandRecord,
  id: string,
  deviceId: string | null,
  outcome: OutcomeKind,
  reason: RejectReason | null,
  mqttTopic: string | null,
  out: DeliveryOutcome | undefined,
  seq: number | null = null,
): Promise<boolean> {
  const row = outcomeRow(ctx, rec, id, deviceId, outcome, reason, mqttTopic, out);
  const keep = ctx.cfg.outcomesTopic === null ? null : row;
  await ctx.store.handled(ctx.cluster, ctx.topic, rec.partition, rec.offset + 1, id, keep, outcome, seq);
  ctx.metrics.outcomes.inc({ outcome, reason: reason ?? '' });
  if (out?.atomic === true) ctx.metrics.atomic.inc();
  return true;
}

function outcomeRow(
  ctx: HandleContext,
  rec: CommandRecord,
  id: string,
  deviceId: string | null,
  outcome: OutcomeKind,
  reason: RejectReason | null,
  mqttTopic: string | null,
  out: DeliveryOutcome | undefined,
): OutcomeRecord {
  return {
    id,
    edgeId: ctx.edgeId,
    deviceId,
    outcome,
    reason,
    mqttTopic,
    matched: out?.matched ?? 0,
    delivered: out?.delivered ?? 0,
    queued: out?.queued ?? 0,
    cluster: ctx.cluster,
    topic: ctx.topic,
    partition: rec.partition,
    offset: rec.offset,
    at: Date.now(),
  };
}

/** Downlink.deliver until it resolves; rejections are counted, logged and retried (never skipped). */
async function deliverRetrying(
  ctx: HandleContext,
  msg: Msg,
  id: string,
  inTransaction: (s: { matched: number; queued: number }) => void,
  committed: () => DeliveryOutcome | null,
): Promise<DeliveryOutcome> {
  let wait = RETRY_MIN_MS;
  for (;;) {
    try {
      return await ctx.downlink.deliver(msg, { inTransaction });
    } catch (err) {
      const done = committed();
      if (done !== null) {
        ctx.logger.warn(
          { id, topic: msg.topic, err: String(err) },
          `command ${id}: the downlink failed after its copies were stored; not delivered again`,
        );
        return done;
      }
      ctx.metrics.errors.inc({ cluster: ctx.cluster, code: 'COMMANDS_DELIVER_FAILED' });
      ctx.logger.warn(
        { id, topic: msg.topic, err: String(err) },
        `command ${id}: the downlink refused it; retrying`,
      );
      if (ctx.signal.aborted) {
        throw new OutpostError(
          'COMMANDS_DELIVER_FAILED',
          `command ${id}: stopped while the downlink refused it`,
          {
            cause: err,
            retriable: true,
            topic: msg.topic,
          },
        );
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(RETRY_MAX_MS, wait * 2);
    }
  }
}
