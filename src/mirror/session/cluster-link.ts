/**
 * One independent link from the edge log to one central cluster.
 *
 * Session pipeline (every start and every restart after ANY error or timeout):
 *   connect → ensureInternalTopics → ensureRemoteTopics (refuse fewer partitions) → resumePartitions
 *   (remote tail → index rebuild → next offset) → initProducer → stream (one single writer per remote
 *   partition, partition-writer.ts; + heartbeats/offset syncs) → on error: tear the whole session
 *   down, back off, repeat.
 *
 * Exactly once, in order: edge partition p → remote partition p, one batch in flight per partition,
 * an idempotent producer (KIP-98) for the session's lifetime, and a fresh resume from the remote tail
 * after every failure, so a batch whose ack was lost is found on the remote and never resent. The local
 * cursor `mirror.<alias>` moves only after Kafka acknowledged (acks=all) and the index recorded it.
 */

import type { Logger } from 'pino';
import type { ClusterConfig } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import type { PartitionedLog } from '../../log/index.ts';
import type { MirrorMetrics } from '../metrics.ts';
import { remoteTopic } from '../naming.ts';
import type { OffsetIndex } from '../offsets/offset-index.ts';
import { OffsetSyncQueue } from '../offsets/offset-syncs.ts';
import type { MirrorHooks, PartitionStatus } from '../types.ts';
import { settleCommits } from './ack-accounting.ts';
import { reportFailure } from './failures.ts';
import { heartbeatLoop } from './heartbeats.ts';
import { ensureLinkCursors, protectNewPartitions } from './link-cursors.ts';
import { backoffMs, type LinkState, LinkStateMachine } from './link-state.ts';
import { Pacer } from './pacer.ts';
import { PartitionWriter } from './partition-writer.ts';
import { PRODUCER_ID_STALE, ProducerIds } from './producer-ids.ts';
import { kafkaErrorText, RemoteSession } from './remote.ts';
import { newPart, type Part, partitionStatus, setupSession } from './session-setup.ts';
import { settlesWithin, stopIncomplete } from './stopping.ts';
import { timed } from './timed.ts';

/** On stop, how long a streaming link's in-flight batches may take to be acknowledged. */
const STOP_GRACE_MS = 3_000;

export interface ClusterLinkDeps {
  alias: string;
  config: ClusterConfig;
  edgeId: string;
  log: PartitionedLog;
  index: OffsetIndex;
  logger: Logger;
  metrics: MirrorMetrics;
  priority: (topic: string) => number;
  hooks?: MirrorHooks | undefined;
}

export class ClusterLink {
  readonly alias: string;
  #cfg: ClusterConfig;
  readonly #d: ClusterLinkDeps;
  readonly #sm: LinkStateMachine;
  readonly #parts = new Map<string, Part>();
  readonly #pacer: Pacer;
  readonly #syncs: OffsetSyncQueue;
  #stopping = false;
  #sessionAbort: AbortController | undefined;
  /** The session in use (its Kafka clients), until the loop has closed it. */
  #current: RemoteSession | undefined;
  #loop: Promise<void> | undefined;
  #attempt = 0;
  /** The error last reported as a session failure (so a commit chain carrying it is not logged twice). */
  #reported: unknown;
  #lastError: string | undefined;
  #wake: (() => void) | undefined;
  /** The session's writer (its offset-sync sends settle before the session is over). */
  #sessionWriter: PartitionWriter | undefined;
  readonly #producerIds: ProducerIds;
  #forgetting: Promise<void> = Promise.resolve();
  #setup: Promise<unknown> = Promise.resolve();
  #failSession: ((err: unknown) => void) | undefined;
  #loops: Array<Promise<void>> = [];

  constructor(deps: ClusterLinkDeps) {
    this.#d = deps;
    this.alias = deps.alias;
    this.#cfg = deps.config;
    this.#pacer = new Pacer(this.#cfg.maxBytesPerSecond);
    this.#syncs = new OffsetSyncQueue(this.#cfg.offsetLagMax);
    this.#producerIds = new ProducerIds(deps.log);
    this.#sm = new LinkStateMachine(deps.alias, (from, to) => {
      // Throttling flips often under a cap: debug; every other transition: info.
      const level = from === 'throttled' || to === 'throttled' ? 'debug' : 'info';
      deps.logger[level]({ cluster: this.alias, from, to }, 'mirror link state');
      deps.metrics.up.set({ cluster: this.alias }, to === 'streaming' || to === 'throttled' ? 1 : 0);
    });
    deps.metrics.up.set({ cluster: this.alias }, 0);
  }

  get state(): LinkState {
    return this.#sm.state;
  }

  /** Creates missing cursors (protected when the cluster is `required`) and starts the session loop. */
  async start(): Promise<void> {
    const parts = await ensureLinkCursors(this.#d.log, this.alias, this.#cfg.topics, this.#cfg.required);
    for (const { topic, partition, next } of parts) {
      this.#parts.set(
        `${topic}/${partition}`,
        newPart(topic, partition, remoteTopic(this.#d.edgeId, topic), next),
      );
    }
    this.#loop = this.#run();
  }

  /**
   * New settings in force from the next batch, tick or session; `required` and `topics` (cursor
   * protection and the partition set, fixed at start) keep their running values, as service/reload.ts
   * keeps the cluster's reach (bootstrap, tls, sasl).
   */
  reload(cfg: ClusterConfig): void {
    this.#cfg = { ...cfg, required: this.#cfg.required, topics: this.#cfg.topics };
    this.#pacer.setRate(cfg.maxBytesPerSecond);
    if (this.#cfg.required) {
      const { log, logger } = this.#d;
      void protectNewPartitions(log, this.alias, this.#cfg.topics, (k) => this.#parts.has(k), logger);
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      if (this.#sm.state === 'backing-off') this.#sm.to('connecting');
      await this.#forgetting;
      const id = this.#producerIds.get(this.alias);
      const session = new RemoteSession(this.alias, this.#cfg, this.#cfg.produceTimeoutMs, id);
      this.#current = session;
      const abort = new AbortController();
      this.#sessionAbort = abort;
      let wait = backoffMs(this.#attempt);
      let level: 'info' | 'warn' | 'error' = 'warn';
      try {
        await this.#session(session, abort.signal);
      } catch (err) {
        if (!this.#stopping) {
          wait = backoffMs(this.#attempt);
          level = this.#failed(err, wait);
        }
      } finally {
        abort.abort(new OutpostError('MIRROR_STOPPED', 'session over', { cluster: this.alias }));
        this.#failSession = undefined;
        await session.close();
        this.#current = undefined;
        await Promise.allSettled([...this.#loops, this.#sessionWriter?.syncs, this.#setup]);
        await this.#sessionWriter?.flushCommits();
        await settleCommits(this.#d, [...this.#parts.values()], this.#reported);
        this.#loops = [];
        this.#sessionWriter = undefined;
        for (const p of this.#parts.values()) p.throttled = false;
      }
      if (this.#stopping) break;
      this.#sm.to('backing-off');
      this.#attempt++;
      // The backoff line has its failure's level: a retry of a moving leader is no warning.
      this.#d.logger[level === 'error' ? 'warn' : level](
        { cluster: this.alias, attempt: this.#attempt, backoffMs: wait },
        'mirror link backing off',
      );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    if (this.#sm.state !== 'stopped') this.#sm.to('stopped');
  }

  /** Logs and counts a session failure by what it means (failures.ts); returns the level used. */
  #failed(err: unknown, retryInMs: number): 'info' | 'warn' | 'error' {
    this.#reported = err;
    if (PRODUCER_ID_STALE.test(kafkaErrorText(err))) {
      // The next session asks for a new producer id (producer-ids.ts).
      this.#d.logger.info(
        { cluster: this.alias, err: kafkaErrorText(err) },
        'mirror: the cluster refused the producer id or its sequence; the next session takes a new producer id',
      );
      this.#forgetting = this.#producerIds.forget(this.alias);
    }
    const { level, text } = reportFailure(this.#d, err, this.#attempt, retryInMs);
    this.#lastError = text;
    return level;
  }

  async #session(session: RemoteSession, signal: AbortSignal): Promise<void> {
    const { edgeId, index, logger } = this.#d;
    // connect → ensureInternalTopics → ensureRemoteTopics → resumePartitions (session-setup.ts)
    const t = this.#cfg.produceTimeoutMs;
    // The idempotent producer's InitProducerId runs alongside (nothing is produced before both end).
    const setup = [
      setupSession({
        session,
        alias: this.alias,
        edgeId,
        index,
        log: this.#d.log,
        logger,
        metrics: this.#d.metrics,
        parts: [...this.#parts.values()],
        required: this.#cfg.required,
        timeoutMs: t,
      }),
      this.#t(session.producer(), t, 'init producer'),
    ];
    // Both settle before the session is over (#run), also when one fails first: a call left
    // running would keep its timers and retries past the session's close, and past a stop.
    this.#setup = Promise.allSettled(setup);
    await Promise.all(setup);
    const id = (await session.producer()).producer;
    if (id !== undefined && this.#producerIds.get(this.alias)?.producerId !== id.producerId) {
      await this.#producerIds.set(this.alias, id);
    }
    await this.#d.hooks?.afterResume?.(this.alias);
    this.#syncs.reset(this.#cfg.offsetLagMax);
    this.#sm.to('streaming');
    this.#attempt = 0;
    this.#lastError = undefined;
    const failed = new Promise<never>((_, reject) => {
      this.#failSession = reject;
    });
    const writer = this.#writer(session, signal);
    const loops = [...this.#parts.values()].filter((p) => !p.refused && !p.blocked).map((p) => writer.run(p));
    loops.push(this.#heartbeats(session, writer, signal));
    this.#loops = loops;
    // First failure wins; the caller aborts the rest and waits for them to settle.
    await Promise.race([
      Promise.all(loops),
      failed,
      new Promise<void>((_, reject) => {
        for (const l of loops) l.catch(reject);
      }),
    ]);
  }

  /** This session's single writer of every partition (partition-writer.ts). */
  #writer(session: RemoteSession, signal: AbortSignal): PartitionWriter {
    const { edgeId, log, index, logger, metrics, priority } = this.#d;
    const writer = new PartitionWriter({
      alias: this.alias,
      edgeId,
      log,
      index,
      logger,
      metrics,
      priority,
      config: () => this.#cfg,
      pacer: this.#pacer,
      syncs: this.#syncs,
      sm: this.#sm,
      session,
      signal,
      fail: (err) => this.#failSession?.(err),
    });
    this.#sessionWriter = writer;
    return writer;
  }

  #t<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    return timed(p, ms, what, this.alias);
  }

  #heartbeats(session: RemoteSession, writer: PartitionWriter, signal: AbortSignal): Promise<void> {
    return heartbeatLoop({
      session,
      edgeId: this.#d.edgeId,
      alias: this.alias,
      intervalMs: () => this.#cfg.heartbeatIntervalMs,
      timeoutMs: this.#cfg.produceTimeoutMs,
      signal,
      onTick: async () => {
        // MM2 promotes delayed offset syncs on its periodic commit; ours is the heartbeat tick.
        this.#syncs.promoteDelayed();
        await writer.flushSyncs();
        await this.#prune();
      },
    });
  }

  /** Drops index ranges below the edge start offset (retention moved on). */
  async #prune(): Promise<void> {
    for (const p of this.#parts.values()) {
      await this.#d.index.prune(
        this.alias,
        p.topic,
        p.partition,
        this.#d.log.offsets(p.topic, p.partition).startOffset,
      );
    }
  }

  status(now = Date.now()): PartitionStatus[] {
    return [...this.#parts.values()].map((p) =>
      partitionStatus(p, this.#d.log, this.#sm.state, this.#lastError, now),
    );
  }

  /** What the link still holds open (empty once its loop has ended). */
  holds(): string[] {
    if (this.#sm.state === 'stopped' && !this.#current) return [];
    return [`link ${this.alias} (${this.#sm.state})`, ...(this.#current?.holds() ?? [])];
  }

  /**
   * No new batches; what a streaming link has in flight gets STOP_GRACE_MS (at most half the
   * budget) to be acknowledged (its ack moves the cursor); a link that is not streaming has nothing
   * to wait for. Then the session's clients are closed (their requests fail; the next start resumes
   * from the remote tail, so nothing is lost or sent twice). The loop must end by the deadline, or
   * SHUTDOWN_INCOMPLETE names what it still holds.
   */
  async stop(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.#stopping = true;
    this.#pacer.close();
    this.#sessionAbort?.abort(new OutpostError('MIRROR_STOPPED', 'mirror stopping', { cluster: this.alias }));
    this.#wake?.();
    const loop = this.#loop ?? Promise.resolve();
    const grace = ['streaming', 'throttled'].includes(this.state)
      ? Math.min(STOP_GRACE_MS, timeoutMs / 2)
      : 0;
    if (!(await settlesWithin(loop, grace))) {
      const session = this.#current;
      if (session) await settlesWithin(session.close(), deadline - Date.now());
      if (!(await settlesWithin(loop, deadline - Date.now())))
        throw stopIncomplete(`mirror link ${this.alias}`, this.holds(), timeoutMs, this.alias);
    }
    if (this.#sm.state !== 'stopped') this.#sm.to('stopped');
  }
}
