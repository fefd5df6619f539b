/**
 * The named parts of ingest's lifecycle (ingest.ts composes them): the refusal bookkeeping every
 * step reports to, the listener startup, and the stop sequence.
 */
import type { Logger } from 'pino';
import type { ListenerConfig } from '../config/index.ts';
import type { PartitionedLog } from '../log/index.ts';
import type { Accept, Listener } from './listeners/common.ts';
import { listenTcp } from './listeners/tcp.ts';
import { type HandshakeError, listenTls } from './listeners/tls.ts';
import { listenWs } from './listeners/ws.ts';
import type { IngestMetrics, RefusalReason } from './metrics.ts';

const LOG_FULL_RECHECK_MS = 1000;

export type Refuse = (reason: RefusalReason, fields: Record<string, unknown>, log?: boolean) => void;

export interface Refusals {
  /** Every refusal: counted by reason and logged once with its context (unless `log` is false). */
  refuse: Refuse;
  /** Refusals by reason since start (status()). */
  counts: Partial<Record<RefusalReason, number>>;
  /** The log's full flag, re-read at most once a second (a log-full refusal sets it at once). */
  logFull: () => boolean;
}

export function refusalBook(log: PartitionedLog, metrics: IngestMetrics, logger: Logger): Refusals {
  const counts: Partial<Record<RefusalReason, number>> = {};
  let fullCache = { full: false, at: 0 };
  const refuse: Refuse = (reason, fields, doLog = true) => {
    metrics.refusals.inc({ reason });
    counts[reason] = (counts[reason] ?? 0) + 1;
    if (reason === 'log-full') fullCache = { full: true, at: Date.now() };
    if (doLog) logger.warn({ reason, ...fields }, `refused: ${reason}`);
  };
  const logFull = (): boolean => {
    const now = Date.now();
    if (now - fullCache.at >= LOG_FULL_RECHECK_MS) fullCache = { full: log.stats().full, at: now };
    return fullCache.full;
  };
  return { refuse, counts, logFull };
}

/** Opens every configured listener; on a failure closes those already open and runs `undo`. */
export async function openListeners(
  configs: readonly ListenerConfig[],
  accept: Accept,
  onHandshakeError: HandshakeError,
  undo: () => Promise<void>,
): Promise<Listener[]> {
  const listeners: Listener[] = [];
  try {
    for (const l of configs) listeners.push(await openListener(l, accept, onHandshakeError));
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    await undo();
    throw err;
  }
  return listeners;
}

function openListener(
  l: ListenerConfig,
  accept: Accept,
  onHandshakeError: HandshakeError,
): Promise<Listener> {
  switch (l.type) {
    case 'tcp':
      return listenTcp(l, accept);
    case 'tls':
      return listenTls(l, accept, onHandshakeError);
    case 'ws':
      return listenWs(l, accept);
  }
}

type Writable = { writableLength?: number; once(e: 'drain' | 'close', f: () => void): void };

export interface StopParts {
  logger: Logger;
  listeners: readonly Listener[];
  /** Holds new publishes (never acknowledged) and resolves when in-flight appends are done. */
  hold: () => void;
  drained: () => Promise<void>;
  liveStreams: () => Writable[];
  /** Closes MQTT 5 connections, then the broker. */
  closeClients: () => Promise<void>;
  /** After the broker: the pipeline's timers. */
  closeRest: () => void;
}

/**
 * The stop sequence: stop accepting (new CONNECTs on already-accepted sockets get CONNACK 3) →
 * hold new publishes (never acknowledged; devices resend after reconnecting elsewhere or later) →
 * wait for in-flight appends to be durable and acknowledged (bounded by timeoutMs) → let the last
 * acknowledgements reach the sockets → close clients → close broker.
 */
export async function stopSequence(parts: StopParts, timeoutMs: number): Promise<void> {
  await Promise.all(parts.listeners.map((l) => l.close()));
  parts.hold();
  const timedOut = await Promise.race([
    parts.drained().then(() => false),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(true), timeoutMs).unref()),
  ]);
  if (timedOut)
    parts.logger.warn({ timeoutMs }, 'ingest stop: in-flight appends did not finish in time; closing anyway');
  // Let the last acknowledgements reach the sockets before closing them (destroy drops buffered bytes).
  await new Promise((resolve) => setImmediate(resolve));
  await flushWrites(parts.liveStreams(), 1000);
  await parts.closeClients();
  parts.closeRest();
}

async function flushWrites(streams: Writable[], timeoutMs: number): Promise<void> {
  const pending = streams.filter((s) => (s.writableLength ?? 0) > 0);
  if (pending.length === 0) return;
  await Promise.race([
    Promise.all(
      pending.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.once('drain', resolve);
            s.once('close', resolve);
          }),
      ),
    ),
    new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
  ]);
}
