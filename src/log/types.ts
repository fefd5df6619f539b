/**
 * The public contract of the partitioned log. Nothing here knows about MQTT or Kafka.
 *
 * Offsets are dense per partition and start at 0. `endOffset` is the durable end (Kafka's high
 * watermark): every offset below it is committed and fsynced, and it is the offset the next append
 * gets once no append is in flight (appends in flight hold offsets ≥ endOffset and are invisible
 * until they resolve). `startOffset` is the first offset still stored. A partition holds
 * [startOffset, endOffset). In role "reader" both come from disk (committed records, see reader.ts).
 */
import type { Database } from 'lmdb';
import type { OutpostError } from '../errors.ts';
import type { Compression } from './codec/compression.ts';

export type Headers = Record<string, Buffer>;

export interface AppendRecord {
  topic: string;
  /** Explicit partition. Without it: murmur2(key) like Kafka, or spread evenly when there is no key. */
  partition?: number;
  key?: Buffer | null;
  value: Buffer;
  headers?: Headers;
  /** Epoch ms; defaults to Date.now() at append. */
  timestamp?: number;
}

export interface AppendResult {
  topic: string;
  partition: number;
  offset: number;
}

export interface LogRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: Buffer | null;
  headers: Headers;
  value: Buffer;
}

export interface ReadOptions {
  /** Default 500. */
  maxRecords?: number;
  /** Soft cap on summed value+key bytes; at least one record is returned if available. Default 1 MiB. */
  maxBytes?: number;
}

export interface TailOptions extends ReadOptions {
  signal?: AbortSignal;
}

export interface PartitionInfo {
  topic: string;
  partition: number;
  startOffset: number;
  endOffset: number;
  /** endOffset - startOffset */
  records: number;
  /** Bytes stored for the partition (record-v2 batches as written, compressed). */
  bytes: number;
  /** The same batches' size uncompressed: bytes / rawBytes is what compression saves on disk and link. */
  rawBytes: number;
  /** Timestamp of the oldest stored record, or null when empty. */
  oldestTimestamp: number | null;
}

export interface CursorInfo {
  name: string;
  topic: string;
  partition: number;
  /** Next offset the cursor's owner will read (everything below it is done). */
  offset: number;
  /** Protected cursors stop retention from deleting records at or after `offset`. */
  protected: boolean;
}

export interface LogStats {
  /** Size of the LMDB data file on disk (bytes). */
  fileBytes: number;
  /** Bytes in use by pages inside the file. */
  usedBytes: number;
  /** Free bytes on the filesystem holding the data dir. */
  diskFreeBytes: number;
  /** Records deleted by onFull "drop-oldest" since the log was created (durable). */
  droppedRecords: number;
  /** True when appends would fail with LOG_FULL right now. */
  full: boolean;
  /** Since the log was opened (owner role; 0 for a reader): LMDB commits that stored batches. */
  commits: number;
  /** Since the log was opened (owner role; 0 for a reader): records stored by those commits. */
  appendedRecords: number;
}

export interface RetentionReport {
  /** Records deleted, by "topic/partition". */
  deleted: Record<string, number>;
  /** Partitions where a protected cursor held retention back. */
  heldByCursor: string[];
}

/** A partition's durable end as the owner tells a follower (every offset below it is fsynced). */
export interface DurableEnd {
  topic: string;
  partition: number;
  end: number;
}

export interface LogTopicSpec {
  partitions: number;
  retentionMs: number;
  /**
   * Size retention keeps at least this many stored bytes per partition: it deletes a whole batch
   * only if what remains is still this large (like Kafka's retention.bytes with segments).
   */
  retentionBytes: number;
  /** Codec of the record-v2 batches sealed from now on (stored and sent as they are). Default "none". */
  compression?: Compression;
}

export interface LogOptions {
  dataDir: string;
  topics: Record<string, LogTopicSpec>;
  maxBytes: number;
  onFull: 'reject' | 'drop-oldest';
  minFreeBytes?: number;
  maxRecordBytes?: number;
  /**
   * Group-commit window: 0 (default) commits once per event turn; > 0 holds the first record of a
   * commit up to this many ms so more records share it (fewer flash pages written per record, at
   * up to this much more append latency). Appends still resolve only after the fsynced commit.
   */
  commitWindowMs?: number;
  /**
   * A commit closes early once this many uncompressed record bytes wait. Default 1 MiB when the log
   * is opened directly; the service passes log.commitMaxBytes (64 KiB by default).
   */
  commitMaxBytes?: number;
  /**
   * "owner" (default): the one process that appends, moves cursors and runs retention (the service;
   * it holds the data-dir lock). "reader": any other process (CLI): reads the log and may write its
   * own stores (openStore), but append/setCursor/deleteCursor/runRetention throw LOG_READ_ONLY.
   * Both are safe at the same time on the same data dir.
   */
  role?: 'owner' | 'reader';
  /**
   * Provenance headers sealed into every record from now on (after its own headers):
   * `outpost.edge.id` = id and `outpost.edge.offset` = the record's offset. A mirror then sends
   * stored batches as they are. Reads leave these headers out. Owner only.
   */
  stamp?: { id: string };
}

/** One stored entry as it is on disk, for a reader that forwards bytes (the mirror). */
export interface StoredEntry {
  /** Offset of the entry's first record; it holds [baseOffset, baseOffset + count). */
  baseOffset: number;
  count: number;
  /** 2: a record-v2 batch; 1: one record-v1 record (0.1.0 logs). */
  format: 1 | 2;
  /** The stored bytes (a copy). */
  value: Buffer;
  /** The stamp id sealed into its records (LogOptions.stamp), null when unstamped. */
  stampId: string | null;
}

export interface EntryReadOptions {
  /** Default 64. */
  maxEntries?: number;
  /** Stop before this many stored bytes (the first entry always comes). Default 1 MiB. */
  maxBytes?: number;
}

export interface EntryTailOptions extends EntryReadOptions {
  signal?: AbortSignal;
}

export interface PartitionedLog {
  /**
   * Durable append: resolves only once every record is committed and fsynced. Offsets follow call order.
   * All or nothing: one record that cannot be stored rejects the call before any offset is handed out.
   */
  append(records: readonly AppendRecord[]): Promise<AppendResult[]>;
  /**
   * The checks `append` makes on one record (topic, partition, field types, encoded size), without
   * appending it: null when `append` would take it, else the error it would reject with. Callers that
   * share one append among many producers refuse a bad record alone with this (owner role).
   */
  validate(record: AppendRecord): OutpostError | null;
  /** Durable records from `offset` (clamped up to startOffset). Empty array at the end. */
  read(topic: string, partition: number, offset: number, options?: ReadOptions): LogRecord[];
  /**
   * Batches from `offset` on; waits for new appends (owner: woken after fsync; reader: polls every
   * 100 ms). Yields only durable records. Ends when the signal aborts or the log closes.
   */
  tail(topic: string, partition: number, offset: number, options?: TailOptions): AsyncIterable<LogRecord[]>;
  /**
   * Durable stored entries holding offsets ≥ `offset` (clamped up to startOffset), as on disk; the
   * first may start below `offset`. Empty at the end.
   */
  entries(topic: string, partition: number, offset: number, options?: EntryReadOptions): StoredEntry[];
  /** Like tail(), with stored entries: what a mirror forwards without decoding. */
  tailEntries(
    topic: string,
    partition: number,
    offset: number,
    options?: EntryTailOptions,
  ): AsyncIterable<StoredEntry[]>;
  offsets(topic: string, partition: number): { startOffset: number; endOffset: number };
  partitions(): PartitionInfo[];
  topicNames(): string[];
  partitionCount(topic: string): number;

  getCursor(name: string, topic: string, partition: number): CursorInfo | undefined;
  /** Durable. */
  setCursor(
    name: string,
    topic: string,
    partition: number,
    offset: number,
    opts?: { protected?: boolean },
  ): Promise<void>;
  deleteCursor(name: string, topic: string, partition: number): Promise<void>;
  cursors(): CursorInfo[];

  runRetention(now?: number): Promise<RetentionReport>;
  /**
   * Starts the node-cron retention schedule; returns a stop function. A run never overlaps the
   * previous one. A failed run calls `onError` (pass one: without it node-cron only emits
   * "execution:failed" on its task).
   */
  scheduleRetention(
    cron: string,
    onReport?: (r: RetentionReport) => void,
    onError?: (err: unknown) => void,
  ): () => void;
  stats(): LogStats;
  /** Updates retention/size settings and grows partitions (never shrinks: PARTITION_SHRINK). */
  reconfigure(
    topics: Record<string, LogTopicSpec>,
    limits?: { maxBytes?: number; onFull?: 'reject' | 'drop-oldest' },
  ): Promise<void>;

  /**
   * Changes the group commit of a running owner (LogOptions.commitWindowMs and commitMaxBytes; both
   * required): the commit open now keeps the window it started with, later commits use the new one,
   * and the new maxBytes applies from the next append. Appends still resolve only after their fsynced
   * commit. Throws CONFIG_INVALID for a negative or fractional window or a maxBytes below 1.
   */
  setCommitPolicy(policy: { windowMs: number; maxBytes: number }): void;

  /**
   * A named sub-database in the same LMDB environment, for other modules' durable state
   * (device registry, mirror offset index). Names starting with "log." are reserved.
   */
  openStore<K extends import('lmdb').Key = import('lmdb').Key, V = unknown>(
    name: string,
    options?: {
      encoding?: 'msgpack' | 'json' | 'binary' | 'ordered-binary';
      keyEncoding?: 'ordered-binary' | 'uint32' | 'binary';
    },
  ): Database<V, K>;
  /** Resolves when everything written so far to any store is durable. */
  flushed(): Promise<void>;
  /**
   * Owner role: feeds a follower (openFollower). Calls `listener` at once with every partition's
   * durable end, then, at most once per event-loop turn, with the partitions whose end moved (after
   * fsync, when tails wake). Returns the unsubscribe; close() ends it too. Other roles: LOG_READ_ONLY.
   */
  watchDurable(listener: (ends: DurableEnd[]) => void): () => void;

  close(): Promise<void>;
}

/**
 * The log as a thread of the owner's process sees it (openFollower): reads stop at the durable ends
 * the owner told it (advance), never at what LMDB merely committed; tails wake on advance. It may
 * write its own cursors (setCursor, deleteCursor) and stores; append, retention and reconfigure
 * stay the owner's (LOG_READ_ONLY), and so does the disk budget.
 */
export interface FollowerLog extends PartitionedLog {
  /** Durable ends from the owner's watchDurable; an end never moves back. */
  advance(ends: readonly DurableEnd[]): void;
}

export interface FollowerOptions {
  dataDir: string;
  /** The owner's ends at the start (its watchDurable's first call); until told, a partition reads as empty. */
  ends: readonly DurableEnd[];
}

/** Opens (creating if needed) the log in `options.dataDir`. Exported from src/log/index.ts as `openLog`. */
export type OpenLog = (options: LogOptions) => Promise<PartitionedLog>;
