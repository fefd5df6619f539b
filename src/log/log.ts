/**
 * The owner/reader implementation of PartitionedLog on one LMDB environment.
 *
 * Append pipeline (all steps before `commit` run synchronously, in the caller's event turn):
 *   route     → topic and partition per record (explicit, murmur2(key), or round-robin)
 *   size      → record-v2 size per record; RECORD_TOO_LARGE before anything is assigned
 *   admit     → disk budget: LOG_FULL ("reject") or drop the oldest records ("drop-oldest")
 *   assign    → offsets from the in-memory next offset, in call order; records join their
 *               partition's open batch
 *   seal      → a microtask after the turn's first append: one record-v2 batch per partition,
 *               compressed once, all put in one lmdb-js batch (one write transaction: group commit)
 *   commit    → await the batch (committed) and `flushed` (fsynced: overlappingSync, never noSync)
 *   publish   → advance durableEnd and wake tails: nothing is ever read before it is durable
 */
import cron from 'node-cron';
import { isOutpostError, OutpostError } from '../errors.ts';
import { type Pending, prepare, publish, Sealer, validateRecord } from './append.ts';
import { Budget } from './budget.ts';
import { deleteCursor, getCursor, listCursors, setCursor } from './cursors.ts';
import { watchDurable } from './durable-feed.ts';
import { entryStep, follow, recordStep, type Waiting } from './follow.ts';
import { commitPolicy } from './options.ts';
import { OwnerView } from './owner-view.ts';
import { ReaderView } from './reader.ts';
import { dropOldest, runRetention } from './retention.ts';
import { type Core, getPart, queueCheckpoints, syncTopics } from './state.ts';
import { DROPPED_KEY, type LogDbs, openNamedStore, type StoreOptions } from './store.ts';
import type {
  AppendRecord,
  AppendResult,
  CursorInfo,
  DurableEnd,
  EntryReadOptions,
  EntryTailOptions,
  LogOptions,
  LogRecord,
  LogStats,
  LogTopicSpec,
  PartitionedLog,
  PartitionInfo,
  ReadOptions,
  RetentionReport,
  StoredEntry,
  TailOptions,
} from './types.ts';

const DEFAULT_MAX_RECORD_BYTES = 1024 ** 2;
const CHECKPOINT_INTERVAL_MS = 5_000;

/** The log over one opened environment: `core` is the owner's state, null for a reader (open.ts). */
export class Log implements PartitionedLog {
  #dbs: LogDbs;
  #core: Core | null;
  #reader: ReaderView;
  /** The reads: from the owner's partition state, or (role reader) from disk. */
  #view: OwnerView | ReaderView;
  #budget: Budget | null;
  #sealer: Sealer | null;
  #maxRecordBytes: number;
  #closed = false;
  #closing: Promise<void> | null = null;
  #failure: OutpostError | null = null;
  #inflight = new Set<Promise<unknown>>();
  /** The latest append's completion (never rejects): each append completes after the one before. */
  #previous: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #closeSignal = new AbortController();
  #schedules = new Set<() => void>();
  #retention: Promise<unknown> | null = null;

  constructor(dbs: LogDbs, options: LogOptions, core: Core | null) {
    this.#dbs = dbs;
    this.#core = core;
    this.#reader = new ReaderView(dbs);
    this.#view = core === null ? this.#reader : new OwnerView(dbs, core);
    this.#maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    this.#budget = core === null ? null : new Budget(core);
    this.#sealer =
      core === null
        ? null
        : new Sealer(core, commitPolicy(options), (cause) => {
            this.#failure ??= new OutpostError(
              'LOG_WRITE_FAILED',
              `sealing a batch failed: ${String(cause)}; restart to recover`,
              { cause },
            );
          });
    if (core !== null) {
      this.#timer = setInterval(() => {
        queueCheckpoints(core);
      }, CHECKPOINT_INTERVAL_MS);
      this.#timer.unref();
    }
  }

  #owner(op: string): Core {
    if (this.#closed) throw new OutpostError('LOG_CLOSED', `log is closed (${op})`);
    if (this.#core === null) {
      throw new OutpostError(
        'LOG_READ_ONLY',
        `${op} needs the owner process; this log was opened as a reader`,
      );
    }
    if (this.#failure !== null) throw this.#failure;
    return this.#core;
  }

  #open(op: string): void {
    if (this.#closed) throw new OutpostError('LOG_CLOSED', `log is closed (${op})`);
  }

  // ── append ──────────────────────────────────────────────────────────────────────────────────
  append(records: readonly AppendRecord[]): Promise<AppendResult[]> {
    try {
      const core = this.#owner('append');
      if (records.length === 0) return Promise.resolve([]);
      const prepared = prepare(core, records, this.#maxRecordBytes);
      this.#admit(core, prepared.bytes);
      const written = (this.#sealer as Sealer).assign(prepared);
      this.#budget?.noteAppended(prepared.bytes);
      const done = this.#commit(prepared.pending, written, this.#previous);
      this.#inflight.add(done);
      const forget = () => this.#inflight.delete(done);
      this.#previous = done.then(forget, forget);
      return done;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  validate(record: AppendRecord): OutpostError | null {
    return validateRecord(this.#owner('validate'), record, this.#maxRecordBytes);
  }

  #admit(core: Core, bytes: number): void {
    const budget = this.#budget as Budget;
    const over = budget.overBy(bytes);
    if (over === 0) return;
    if (core.onFull === 'drop-oldest') {
      // `over` is in page bytes; dropOldest counts record bytes.
      const freed = dropOldest(core, Math.ceil(over / budget.overhead));
      budget.noteDeleted(freed.bytes);
      if (freed.bytes * budget.overhead >= over) return;
    }
    budget.noteRefused(bytes);
    const s = budget.snapshot();
    throw new OutpostError(
      'LOG_FULL',
      `log is full: ${s.usedBytes} of log.maxBytes ${core.maxBytes} bytes in use, ${s.diskFreeBytes} bytes free on disk (log.minFreeBytes ${core.minFreeBytes}); retention or more disk frees space`,
      { retriable: true, path: core.dataDir },
    );
  }

  async #commit(
    pending: Pending[],
    written: Promise<boolean>,
    previous: Promise<unknown>,
  ): Promise<AppendResult[]> {
    try {
      if ((await written) === false)
        throw new OutpostError('LOG_WRITE_FAILED', 'lmdb-js skipped the append batch');
      await this.#dbs.records.flushed;
      // lmdb-js commits the puts in order, but may resolve the promises of one transaction out of
      // order (a large put after the small ones behind it): appends complete in offset order.
      await previous;
    } catch (cause) {
      // Offsets were handed out for records that are not on disk: appending further would leave
      // a gap. The log refuses appends until the process restarts and recovers from disk.
      this.#failure ??= new OutpostError(
        'LOG_WRITE_FAILED',
        `log write failed: ${String(cause)}; restart to recover`,
        {
          cause,
        },
      );
      throw this.#failure;
    }
    // Commits complete in queue order: once an earlier batch failed, a later one that did reach the
    // disk sits behind a gap. Never acknowledge or publish it (devices resend; nothing acked is lost).
    if (this.#failure !== null) throw this.#failure;
    return publish(pending);
  }

  // ── read (owner-view.ts / reader.ts) ────────────────────────────────────────────────────────
  offsets(topic: string, partition: number): { startOffset: number; endOffset: number } {
    this.#open('offsets');
    return this.#view.offsets(topic, partition);
  }

  read(topic: string, partition: number, offset: number, options: ReadOptions = {}): LogRecord[] {
    this.#open('read');
    return this.#view.read(topic, partition, offset, options);
  }

  entries(topic: string, partition: number, offset: number, options: EntryReadOptions = {}): StoredEntry[] {
    this.#open('entries');
    return this.#view.entries(topic, partition, offset, options);
  }

  #waiting(): Waiting {
    return { core: this.#core, closed: () => this.#closed, closeSignal: this.#closeSignal.signal };
  }

  tail(
    topic: string,
    partition: number,
    offset: number,
    options: TailOptions = {},
  ): AsyncIterable<LogRecord[]> {
    const step = recordStep((next) => this.read(topic, partition, next, options));
    return follow(this.#waiting(), topic, partition, offset, options.signal, step);
  }

  tailEntries(
    topic: string,
    partition: number,
    offset: number,
    options: EntryTailOptions = {},
  ): AsyncIterable<StoredEntry[]> {
    const step = entryStep((next) => this.entries(topic, partition, next, options));
    return follow(this.#waiting(), topic, partition, offset, options.signal, step);
  }

  partitions(): PartitionInfo[] {
    this.#open('partitions');
    return this.#view.partitions();
  }

  topicNames(): string[] {
    this.#open('topicNames');
    return this.#view.topicNames();
  }

  partitionCount(topic: string): number {
    this.#open('partitionCount');
    return this.#view.partitionCount(topic);
  }

  // ── cursors ─────────────────────────────────────────────────────────────────────────────────
  getCursor(name: string, topic: string, partition: number): CursorInfo | undefined {
    this.#open('getCursor');
    return getCursor(this.#dbs, name, topic, partition);
  }

  setCursor(
    name: string,
    topic: string,
    partition: number,
    offset: number,
    opts: { protected?: boolean } = {},
  ): Promise<void> {
    try {
      getPart(this.#owner('setCursor'), topic, partition);
      return setCursor(this.#dbs, name, topic, partition, offset, opts.protected ?? false);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async deleteCursor(name: string, topic: string, partition: number): Promise<void> {
    this.#owner('deleteCursor');
    await deleteCursor(this.#dbs, name, topic, partition);
  }

  cursors(): CursorInfo[] {
    this.#open('cursors');
    return listCursors(this.#dbs);
  }

  // ── retention and budget ────────────────────────────────────────────────────────────────────
  async runRetention(now: number = Date.now()): Promise<RetentionReport> {
    const core = this.#owner('runRetention');
    const run = runRetention(
      core,
      now,
      (bytes) => this.#budget?.noteDeleted(bytes),
      () => this.#closed,
    );
    this.#retention = run;
    try {
      const report = await run;
      this.#budget?.refresh();
      return report;
    } finally {
      if (this.#retention === run) this.#retention = null;
    }
  }

  scheduleRetention(
    expression: string,
    onReport?: (r: RetentionReport) => void,
    onError?: (err: unknown) => void,
  ): () => void {
    this.#owner('scheduleRetention');
    let running = false;
    const task = cron.schedule(expression, async () => {
      if (running || this.#closed) return;
      running = true;
      try {
        const report = await this.runRetention();
        onReport?.(report);
      } catch (err) {
        if (isOutpostError(err, 'LOG_CLOSED')) return;
        if (onError === undefined) throw err;
        onError(err);
      } finally {
        running = false;
      }
    });
    const stop = () => {
      this.#schedules.delete(stop);
      void task.destroy();
    };
    this.#schedules.add(stop);
    return stop;
  }

  stats(): LogStats {
    this.#open('stats');
    const dropped =
      this.#core?.droppedRecords ?? (this.#dbs.meta.get(DROPPED_KEY) as number | undefined) ?? 0;
    const counts = this.#sealer?.counts() ?? { commits: 0, records: 0 };
    const committed = { commits: counts.commits, appendedRecords: counts.records };
    if (this.#budget === null) return { ...this.#reader.stats(), droppedRecords: dropped, ...committed };
    return { ...this.#budget.snapshot(), droppedRecords: dropped, ...committed };
  }

  async reconfigure(
    topics: Record<string, LogTopicSpec>,
    limits: { maxBytes?: number; onFull?: 'reject' | 'drop-oldest' } = {},
  ): Promise<void> {
    const core = this.#owner('reconfigure');
    core.topics = syncTopics(this.#dbs, topics, core.topics);
    if (limits.maxBytes !== undefined) core.maxBytes = limits.maxBytes;
    if (limits.onFull !== undefined) core.onFull = limits.onFull;
    await this.#dbs.topics.flushed;
  }

  setCommitPolicy(policy: { windowMs: number; maxBytes: number }): void {
    this.#owner('setCommitPolicy');
    const next = commitPolicy({ commitWindowMs: policy.windowMs, commitMaxBytes: policy.maxBytes });
    (this.#sealer as Sealer).setPolicy(next);
  }

  // ── stores and lifecycle ────────────────────────────────────────────────────────────────────
  openStore<K extends import('lmdb').Key = import('lmdb').Key, V = unknown>(
    name: string,
    options: StoreOptions = {},
  ): import('lmdb').Database<V, K> {
    this.#open('openStore');
    const db = openNamedStore<K, V>(this.#dbs, name, options);
    this.#core?.stores.set(name, db as unknown as import('lmdb').Database<unknown, never>);
    return db;
  }

  flushed(): Promise<void> {
    return Promise.resolve(this.#dbs.env.flushed).then(() => undefined);
  }

  watchDurable(listener: (ends: DurableEnd[]) => void): () => void {
    const unwatch = watchDurable(this.#owner('watchDurable'), listener);
    const stop = () => {
      this.#schedules.delete(stop);
      unwatch();
    };
    this.#schedules.add(stop);
    return stop;
  }

  /** Every call, also one made while an earlier close still commits, resolves once the log is closed. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#closeSignal.abort();
    for (const stop of [...this.#schedules]) stop();
    this.#sealer?.seal();
    await Promise.allSettled([...this.#inflight, this.#retention]);
    if (this.#core !== null && this.#failure === null) queueCheckpoints(this.#core);
    await this.#dbs.env.flushed;
    await this.#dbs.env.close();
  }
}
