/**
 * The command consumer: reads the central command topic from one cluster at a time and hands each
 * record to the downlink (handle.ts), in partition order.
 *
 * Cluster choice: commands.clusters in order (default: mirror.clusters as declared). It starts on
 * the first; while the current one fails (metadata, fetch, a missing topic) it is retried, and once
 * it has failed for failoverAfterMs the next one is tried, round robin, so with every cluster down
 * it waits (backoff) and resumes on the first that answers. It stays on a working cluster (no
 * failback while it works): a switch costs a re-read, never a loss or a second delivery.
 *
 * Why position across clusters is carried by command identity, not by offset translation: the
 * topic's offsets differ between clusters, and what relates them here is not the edge's own mirror
 * (src/mirror/offsets maps edge offsets, which commands do not have), but whatever copied the topic
 * centrally: MM2's checkpoints are sparse, emitted every 60 s and lag behind, so a translated
 * position can only re-read (or, with an older MM2, skip). Re-reading is safe and skipping is not,
 * so the consumer never translates: on a cluster it never read it starts at the EARLIEST offset,
 * on one it read before at its own stored position there, and it skips every record whose id is
 * already handled (LMDB, kept dedupRetentionMs). Exactly once to the downlink then follows from:
 *   1. every command is on every listed cluster, with one id (idHeader, or an MM2 copy's identical
 *      key/value/timestamp/headers), in the same per-device (per-partition) order;
 *   2. a record is handed to the downlink only if its id is not recorded as handled, and the id is
 *      recorded in the same fsynced LMDB transaction that moves the position past it;
 *   3. ids are kept at least as long as the topic's retention on every cluster (dedupRetentionMs),
 *      so an earliest re-read never meets an unhandled-looking copy of a handled command.
 * For a copy stored in a persistent session, (2) commits inside the downlink's own transaction
 * (DeliverOptions.inTransaction, handle.ts), so that copy and the record are one. The window left
 * is a copy to an online clean session or a QoS 0 subscriber, which has no durable state: a crash
 * after deliver resolved and before (2) is known on restart by the 'u' entry (store.ts), counted
 * and logged (commands.onUncertain).
 */
import type { Logger } from 'pino';
import type { ClusterConfig, CommandsConfig } from '../../config/index.ts';
import { isOutpostError, OutpostError } from '../../errors.ts';
import { kafkaErrorText } from '../session/remote.ts';
import { CommandSource, OFFSET_OUT_OF_RANGE } from './fetch.ts';
import { type HandleContext, handleRecord } from './handle.ts';
import { type CommandMetrics, commandMetrics } from './metrics.ts';
import { commitGroup, drainOutbox } from './outcomes.ts';
import { CommandStore } from './store.ts';
import type { CommandConsumer, CommandRecord, CommandsDeps, CommandsStatus } from './types.ts';

const BACKOFF_MIN_MS = 200;
const BACKOFF_MAX_MS = 5_000;
const PRUNE_EVERY_MS = 60_000;

const fill = (template: string, edgeId: string) => template.replaceAll('{edgeId}', edgeId);

/** The clusters to consume from, in order of preference. */
export function commandClusters(deps: Pick<CommandsDeps, 'config'>): Array<[string, ClusterConfig]> {
  const { mirror, commands } = deps.config;
  const names = commands.clusters.length > 0 ? commands.clusters : Object.keys(mirror.clusters);
  return names.flatMap((n) => {
    const c = mirror.clusters[n];
    return c ? [[n, c] as [string, ClusterConfig]] : [];
  });
}

class Consumer implements CommandConsumer {
  readonly #deps: CommandsDeps;
  readonly #cfg: CommandsConfig;
  readonly #clusters: Array<[string, ClusterConfig]>;
  readonly #topic: string;
  readonly #store: CommandStore;
  readonly #metrics: CommandMetrics;
  readonly #logger: Logger;
  readonly #abort = new AbortController();
  readonly #positions = new Map<number, number>();
  #index = 0;
  #source: CommandSource | null = null;
  #state: CommandsStatus['state'] = 'connecting';
  #failingSince: number | null = null;
  #loop: Promise<void> = Promise.resolve();

  constructor(deps: CommandsDeps) {
    this.#deps = deps;
    this.#cfg = deps.config.commands;
    this.#clusters = commandClusters(deps);
    if (this.#clusters.length === 0)
      throw new OutpostError(
        'COMMANDS_NO_CLUSTER',
        'commands are enabled but no mirror cluster is configured',
      );
    this.#topic = fill(this.#cfg.topic, deps.config.edgeId);
    this.#store = new CommandStore(deps.log);
    this.#metrics = commandMetrics(deps.metrics);
    this.#logger = deps.logger.child({ module: 'commands' });
  }

  start(): void {
    for (const [alias] of this.#clusters) this.#metrics.up.set({ cluster: alias }, 0);
    this.#loop = this.#run();
  }

  get #alias(): string {
    return (this.#clusters[this.#index] as [string, ClusterConfig])[0];
  }

  async #run(): Promise<void> {
    let wait = BACKOFF_MIN_MS;
    while (!this.#abort.signal.aborted) {
      const [alias, cluster] = this.#clusters[this.#index] as [string, ClusterConfig];
      try {
        await this.#session(alias, cluster);
      } catch (err) {
        if (this.#abort.signal.aborted) break;
        this.#failed(alias, err);
        await this.#sleep(wait);
        wait = Math.min(BACKOFF_MAX_MS, wait * 2);
        continue;
      } finally {
        this.#metrics.up.set({ cluster: alias }, 0);
        await this.#source?.close();
        this.#source = null;
      }
      wait = BACKOFF_MIN_MS;
    }
    this.#state = 'stopped';
  }

  /** Logs and counts a session failure; fails over once the current cluster failed for failoverAfterMs. */
  #failed(alias: string, err: unknown): void {
    const code = isOutpostError(err) ? err.code : 'COMMANDS_FETCH_FAILED';
    this.#metrics.errors.inc({ cluster: alias, code });
    this.#state = 'waiting';
    const now = Date.now();
    this.#failingSince ??= now;
    this.#logger.warn(
      { cluster: alias, code, err: kafkaErrorText(err) },
      `commands: ${alias} failed; retrying`,
    );
    if (this.#clusters.length > 1 && now - this.#failingSince >= this.#cfg.failoverAfterMs) {
      this.#index = (this.#index + 1) % this.#clusters.length;
      this.#failingSince = now;
      this.#metrics.failovers.inc({ from: alias, to: this.#alias });
      this.#logger.warn(
        { from: alias, to: this.#alias },
        `commands: failing over from ${alias} to ${this.#alias}`,
      );
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.#abort.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** One session on one cluster: positions, then fetch rounds until an error or stop. */
  async #session(alias: string, cluster: ClusterConfig): Promise<void> {
    this.#state = 'connecting';
    const source = new CommandSource(alias, cluster, this.#cfg.requestTimeoutMs);
    this.#source = source;
    const partitions = await source.remote.partitionCount(this.#topic);
    if (partitions === undefined) {
      throw new OutpostError(
        'COMMANDS_NO_CLUSTER',
        `command topic ${this.#topic} does not exist on ${alias}`,
        {
          cluster: alias,
          topic: this.#topic,
          retriable: true,
        },
      );
    }
    await this.#initPositions(source, partitions);
    this.#state = 'consuming';
    this.#failingSince = null;
    this.#metrics.up.set({ cluster: alias }, 1);
    this.#logger.info(
      { cluster: alias, topic: this.#topic, positions: Object.fromEntries(this.#positions) },
      `commands: consuming ${this.#topic} on ${alias}`,
    );
    const ctx = this.#context(alias);
    let lastCommit = 0;
    let lastPrune = 0;
    while (!this.#abort.signal.aborted) {
      const parts = await source.fetch(this.#topic, this.#positions, this.#cfg.fetchMaxWaitMs);
      this.#failingSince = null;
      // Partitions in parallel, each in order; every one settles before the session may end.
      const settled = await Promise.allSettled(parts.map((p) => this.#partition(ctx, p)));
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      await this.#publishOutcomes(source);
      const now = Date.now();
      if (this.#cfg.groupId !== null && now - lastCommit >= this.#cfg.groupCommitIntervalMs) {
        lastCommit = now;
        await this.#commitGroup(source, fill(this.#cfg.groupId, this.#deps.config.edgeId));
      }
      if (now - lastPrune >= PRUNE_EVERY_MS) {
        lastPrune = now;
        await this.#store.prune(now - this.#cfg.dedupRetentionMs);
      }
    }
  }

  #context(alias: string): HandleContext {
    return {
      edgeId: this.#deps.config.edgeId,
      cfg: this.#cfg,
      topic: this.#topic,
      cluster: alias,
      store: this.#store,
      downlink: this.#deps.downlink,
      devices: this.#deps.devices,
      metrics: this.#metrics,
      logger: this.#logger,
      signal: this.#abort.signal,
    };
  }

  /**
   * Where each partition starts on this cluster: the position stored for it; else the earliest
   * offset (or, for a gateway that never consumed the topic anywhere, initialPosition). New
   * positions are stored before the first fetch, so a restart starts at the same place.
   */
  async #initPositions(source: CommandSource, partitions: number): Promise<void> {
    const alias = source.alias;
    const all = Array.from({ length: partitions }, (_, i) => i);
    const offsets = await source.remote.offsets(this.#topic, all);
    const fresh = !this.#store.hasAnyPosition(
      this.#topic,
      this.#clusters.map(([a]) => a),
    );
    this.#positions.clear();
    for (const p of all) {
      const { start, end } = offsets.get(p) ?? { start: 0, end: 0 };
      const stored = this.#store.position(alias, this.#topic, p);
      let pos = stored ?? (fresh && this.#cfg.initialPosition === 'latest' ? end : start);
      if (pos < start) pos = this.#gap(alias, p, pos, start);
      if (pos > end) {
        this.#logger.warn(
          { cluster: alias, topic: this.#topic, partition: p, stored: pos, end },
          'commands: stored position is past the end (topic recreated?): reading from the start; handled ids are skipped',
        );
        pos = start;
      }
      this.#positions.set(p, pos);
      if (pos !== stored) await this.#store.advance(alias, this.#topic, p, pos);
    }
  }

  #gap(alias: string, partition: number, from: number, start: number): number {
    this.#metrics.gaps.inc({ cluster: alias }, start - from);
    const err = new OutpostError(
      'COMMANDS_POSITION_GAP',
      `${this.#topic}/${partition} on ${alias}: records ${from}..${start - 1} were deleted by retention before the gateway read them`,
      {
        cluster: alias,
        topic: this.#topic,
        partition,
        offset: from,
      },
    );
    this.#logger.error(err.toLog(), err.message);
    return start;
  }

  async #partition(
    ctx: HandleContext,
    part: Awaited<ReturnType<CommandSource['fetch']>>[number],
  ): Promise<void> {
    const { partition } = part;
    const from = this.#positions.get(partition) ?? 0;
    if (part.errorCode === OFFSET_OUT_OF_RANGE) {
      const pos =
        from < part.logStartOffset
          ? this.#gap(ctx.cluster, partition, from, part.logStartOffset)
          : part.logStartOffset;
      this.#positions.set(partition, pos);
      await this.#store.advance(ctx.cluster, this.#topic, partition, pos);
      return;
    }
    if (part.errorCode !== 0) {
      throw new OutpostError(
        'COMMANDS_FETCH_FAILED',
        `fetch ${this.#topic}/${partition}@${from} on ${ctx.cluster}: error code ${part.errorCode}`,
        {
          cluster: ctx.cluster,
          topic: this.#topic,
          partition,
          offset: from,
          retriable: true,
        },
      );
    }
    await this.#records(ctx, partition, part.records, part.next);
  }

  /** In offset order; the position is stored with each command, and once at the end for skipped ones. */
  async #records(
    ctx: HandleContext,
    partition: number,
    records: CommandRecord[],
    next: number,
  ): Promise<void> {
    let stored = true;
    for (const rec of records) {
      if (this.#abort.signal.aborted) return;
      stored = await handleRecord(ctx, rec);
      this.#positions.set(partition, rec.offset + 1);
    }
    if (this.#abort.signal.aborted) return;
    const at = this.#positions.get(partition) ?? 0;
    if (!stored || next > at) {
      this.#positions.set(partition, Math.max(at, next));
      await this.#store.advance(ctx.cluster, this.#topic, partition, Math.max(at, next));
    }
  }

  async #publishOutcomes(source: CommandSource): Promise<void> {
    this.#metrics.outbox.set(this.#store.outboxSize());
    if (this.#cfg.outcomesTopic === null || this.#store.outboxSize() === 0) return;
    try {
      const n = await drainOutbox(
        source,
        this.#store,
        fill(this.#cfg.outcomesTopic, this.#deps.config.edgeId),
      );
      this.#metrics.outcomesPublished.inc({ cluster: source.alias }, n);
      this.#metrics.outbox.set(this.#store.outboxSize());
    } catch (err) {
      // Kept in the outbox; the next round retries. Delivery does not wait for outcome records.
      this.#metrics.errors.inc({ cluster: source.alias, code: 'COMMANDS_OUTCOME_FAILED' });
      this.#logger.warn(
        { cluster: source.alias, err: kafkaErrorText(err) },
        'commands: outcome records not produced; kept in the outbox',
      );
    }
  }

  async #commitGroup(source: CommandSource, groupId: string): Promise<void> {
    try {
      await commitGroup(source, groupId, this.#topic, this.#positions);
    } catch (err) {
      this.#metrics.errors.inc({ cluster: source.alias, code: 'COMMANDS_GROUP_COMMIT_FAILED' });
      this.#logger.warn(
        { cluster: source.alias, groupId, err: kafkaErrorText(err) },
        'commands: group offsets not committed (visibility only)',
      );
    }
  }

  status(): CommandsStatus {
    return {
      cluster: this.#state === 'consuming' ? this.#alias : null,
      state: this.#state,
      topic: this.#topic,
      positions: Object.fromEntries(this.#positions),
      outboxPending: this.#store.outboxSize(),
    };
  }

  async stop(opts: { timeoutMs?: number } = {}): Promise<void> {
    this.#abort.abort();
    const timeoutMs = opts.timeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#loop,
      new Promise((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    await this.#source?.close();
    this.#state = 'stopped';
  }
}

/** Starts the command consumer (commands.enabled, a downlink present: the service checks both). */
export function startCommands(deps: CommandsDeps): CommandConsumer {
  const c = new Consumer(deps);
  c.start();
  return c;
}
