/**
 * The log as a follower sees it: a thread of the owner's process (the mirror's worker thread) on
 * the same data dir. lmdb-js shares one LMDB environment among the threads of a process (one
 * MDB_env, reference-counted), so the follower opens it like any reader.
 *
 * Durability: LMDB shows every committed transaction, and a commit is fsynced a moment after
 * (overlappingSync). A follower therefore reads only below the durable ends the owner told it
 * (advance, fed by the owner's watchDurable after fsync), exactly what the owner's own tails see.
 * Every read starts from a fresh LMDB snapshot (ReaderView resets the read transaction), so an end
 * it was told is always visible. Tails wake on advance, not by polling.
 *
 * Writes: its own cursors and stores, through LMDB's single writer lock like the owner's. A cursor
 * only moves forward (after its records were acknowledged), so the owner's retention, reading the
 * protected cursors in a snapshot a moment old, holds back more, never less. A protected cursor
 * created beside a retention run may be missed by that run, as it may in one thread (the put is
 * queued, not yet committed); the next run honours it. The disk budget and LOG_FULL stay the owner's.
 */
import type { Database, Key } from 'lmdb';
import { OutpostError } from '../errors.ts';
import { deleteCursor, getCursor, listCursors, setCursor } from './cursors.ts';
import { entryStep, followSteps, recordStep, type Step, wakeOn } from './follow.ts';
import { ReaderView } from './reader.ts';
import { DROPPED_KEY, type LogDbs, openDbs, openNamedStore, type StoreOptions } from './store.ts';
import type {
  AppendResult,
  CursorInfo,
  DurableEnd,
  EntryReadOptions,
  EntryTailOptions,
  FollowerLog,
  FollowerOptions,
  LogRecord,
  LogStats,
  PartitionInfo,
  ReadOptions,
  RetentionReport,
  StoredEntry,
  TailOptions,
} from './types.ts';

const key = (topic: string, partition: number) => `${partition}/${topic}`;

export async function openFollower(options: FollowerOptions): Promise<FollowerLog> {
  const follower = new Follower(openDbs(options.dataDir));
  follower.advance(options.ends);
  return follower;
}

class Follower implements FollowerLog {
  #dbs: LogDbs;
  #view: ReaderView;
  /** Durable end per partition, as the owner told it. */
  #ends = new Map<string, number>();
  #waiters = new Map<string, Set<() => void>>();
  #closed = false;
  #closeSignal = new AbortController();

  constructor(dbs: LogDbs) {
    this.#dbs = dbs;
    this.#view = new ReaderView(dbs);
  }

  advance(ends: readonly DurableEnd[]): void {
    for (const { topic, partition, end } of ends) {
      const k = key(topic, partition);
      if (end <= (this.#ends.get(k) ?? -1)) continue;
      this.#ends.set(k, end);
      const woken = this.#waiters.get(k);
      if (woken === undefined) continue;
      this.#waiters.delete(k);
      for (const wake of woken) wake();
    }
  }

  #open(op: string): void {
    if (this.#closed) throw new OutpostError('LOG_CLOSED', `log is closed (${op})`);
  }

  #readOnly(op: string): OutpostError {
    this.#open(op);
    return new OutpostError('LOG_READ_ONLY', `${op} needs the owner thread; this log is a follower`);
  }

  /** The told end, never below the start (retention deletes only durable records); the start before any. */
  #end(topic: string, partition: number, start: number): number {
    const told = this.#ends.get(key(topic, partition));
    return told === undefined ? start : Math.max(told, start);
  }

  // ── read ────────────────────────────────────────────────────────────────────────────────────
  offsets(topic: string, partition: number): { startOffset: number; endOffset: number } {
    this.#open('offsets');
    const startOffset = this.#view.startOffset(topic, partition);
    return { startOffset, endOffset: this.#end(topic, partition, startOffset) };
  }

  read(topic: string, partition: number, offset: number, options: ReadOptions = {}): LogRecord[] {
    this.#open('read');
    const upTo = this.#ends.get(key(topic, partition)) ?? 0;
    return this.#view.read(topic, partition, offset, options, upTo);
  }

  entries(topic: string, partition: number, offset: number, options: EntryReadOptions = {}): StoredEntry[] {
    this.#open('entries');
    const upTo = this.#ends.get(key(topic, partition)) ?? 0;
    return this.#view.entries(topic, partition, offset, options, upTo);
  }

  tail(
    topic: string,
    partition: number,
    offset: number,
    options: TailOptions = {},
  ): AsyncIterable<LogRecord[]> {
    const step = recordStep((next) => this.read(topic, partition, next, options));
    return this.#follow(topic, partition, offset, options.signal, step);
  }

  tailEntries(
    topic: string,
    partition: number,
    offset: number,
    options: EntryTailOptions = {},
  ): AsyncIterable<StoredEntry[]> {
    const step = entryStep((next) => this.entries(topic, partition, next, options));
    return this.#follow(topic, partition, offset, options.signal, step);
  }

  /** The shared read-and-wait loop (follow.ts), woken by advance. */
  #follow<T>(
    topic: string,
    partition: number,
    offset: number,
    signal: AbortSignal | undefined,
    step: Step<T>,
  ): AsyncIterable<T> {
    return followSteps(
      () => this.#closed,
      signal,
      offset,
      step,
      async (from) => {
        const { startOffset, endOffset } = this.offsets(topic, partition);
        const next = Math.max(from, startOffset);
        // Records below the end that a read did not return: never spin on them in microtasks.
        if (endOffset > next) await new Promise((r) => setImmediate(r));
        else await this.#waitFor(topic, partition, next, signal);
        return next;
      },
    );
  }

  #waitFor(topic: string, partition: number, next: number, signal: AbortSignal | undefined): Promise<void> {
    return wakeOn([signal, this.#closeSignal.signal], (wake) => {
      const k = key(topic, partition);
      if ((this.#ends.get(k) ?? -1) > next || signal?.aborted === true || this.#closed) {
        wake();
        return undefined;
      }
      const waiters = this.#waiters.get(k) ?? new Set<() => void>();
      this.#waiters.set(k, waiters);
      waiters.add(wake);
      return () => waiters.delete(wake);
    });
  }

  partitions(): PartitionInfo[] {
    this.#open('partitions');
    return this.#view.partitions().map((p) => {
      const endOffset = this.#end(p.topic, p.partition, p.startOffset);
      return { ...p, endOffset, records: endOffset - p.startOffset };
    });
  }

  topicNames(): string[] {
    this.#open('topicNames');
    return this.#view.topicNames();
  }

  partitionCount(topic: string): number {
    this.#open('partitionCount');
    return this.#view.partitionCount(topic);
  }

  // ── cursors (the follower's own) ────────────────────────────────────────────────────────────
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
      this.offsets(topic, partition); // UNKNOWN_TOPIC / UNKNOWN_PARTITION
      return setCursor(this.#dbs, name, topic, partition, offset, opts.protected ?? false);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  deleteCursor(name: string, topic: string, partition: number): Promise<void> {
    try {
      this.#open('deleteCursor');
      return deleteCursor(this.#dbs, name, topic, partition);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  cursors(): CursorInfo[] {
    this.#open('cursors');
    return listCursors(this.#dbs);
  }

  // ── the owner's ─────────────────────────────────────────────────────────────────────────────
  setCommitPolicy(): void {
    throw this.#readOnly('setCommitPolicy');
  }

  append(): Promise<AppendResult[]> {
    return Promise.reject(this.#readOnly('append'));
  }

  validate(): OutpostError | null {
    throw this.#readOnly('validate');
  }

  runRetention(): Promise<RetentionReport> {
    return Promise.reject(this.#readOnly('runRetention'));
  }

  scheduleRetention(): () => void {
    throw this.#readOnly('scheduleRetention');
  }

  reconfigure(): Promise<void> {
    return Promise.reject(this.#readOnly('reconfigure'));
  }

  watchDurable(): () => void {
    throw this.#readOnly('watchDurable');
  }

  stats(): LogStats {
    this.#open('stats');
    const dropped = (this.#dbs.meta.get(DROPPED_KEY) as number | undefined) ?? 0;
    return { ...this.#view.stats(), droppedRecords: dropped, commits: 0, appendedRecords: 0 };
  }

  // ── stores and lifecycle ────────────────────────────────────────────────────────────────────
  openStore<K extends Key = Key, V = unknown>(name: string, options: StoreOptions = {}): Database<V, K> {
    this.#open('openStore');
    return openNamedStore<K, V>(this.#dbs, name, options);
  }

  flushed(): Promise<void> {
    return Promise.resolve(this.#dbs.env.flushed).then(() => undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeSignal.abort();
    await this.#dbs.env.flushed;
    await this.#dbs.env.close();
  }
}
