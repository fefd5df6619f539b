/**
 * The log as seen from a process that is not the owner (role "reader", e.g. the CLI while the
 * service runs). LMDB gives every read a consistent snapshot across processes; each call starts
 * from a fresh snapshot (resetReadTxn) and derives offsets from disk, like recovery does.
 *
 * A reader sees records once they are committed. With overlappingSync a commit is fsynced a moment
 * later; a process crash (kill -9) keeps committed transactions, only a power loss in that moment
 * could take back a record a reader has already seen. Tails that must only ever see fsynced
 * records run in the owner process.
 */
import { statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { OutpostError } from '../errors.ts';
import { readEntries, readRange } from './read.ts';
import { loadStampEpochs } from './stamps.ts';
import {
  diskOffsets,
  diskStart,
  entryAt,
  type LogDbs,
  partitionBytes,
  type TopicEntry,
  usedPages,
} from './store.ts';
import type { EntryReadOptions, PartitionInfo, ReadOptions, StoredEntry } from './types.ts';

export class ReaderView {
  #dbs: LogDbs;
  constructor(dbs: LogDbs) {
    this.#dbs = dbs;
  }

  #topic(topic: string, partition?: number): TopicEntry {
    this.#dbs.env.resetReadTxn();
    const t = this.#dbs.topics.get(topic);
    if (t === undefined) throw new OutpostError('UNKNOWN_TOPIC', `unknown log topic "${topic}"`, { topic });
    if (
      partition !== undefined &&
      (partition < 0 || partition >= t.partitions || !Number.isInteger(partition))
    ) {
      throw new OutpostError(
        'UNKNOWN_PARTITION',
        `topic "${topic}" has ${t.partitions} partitions; ${partition} does not exist`,
        {
          topic,
          partition,
        },
      );
    }
    return t;
  }

  /**
   * Where a read from `upTo`'s caller may start and must stop: a follower passes the owner's durable
   * end, which the stored end never trails (records are stored before they are durable, and
   * retention deletes from the start), so only the start is read from disk.
   */
  #bounds(tid: number, partition: number, upTo: number): { start: number; stop: number } {
    if (Number.isFinite(upTo)) return { start: diskStart(this.#dbs, tid, partition), stop: upTo };
    const { start, end } = diskOffsets(this.#dbs, tid, partition);
    return { start, stop: end };
  }

  /** The first offset still stored (the floor when none is). */
  startOffset(topic: string, partition: number): number {
    const t = this.#topic(topic, partition);
    return diskStart(this.#dbs, t.id, partition);
  }

  offsets(topic: string, partition: number): { startOffset: number; endOffset: number } {
    const t = this.#topic(topic, partition);
    const { start, end } = diskOffsets(this.#dbs, t.id, partition);
    return { startOffset: start, endOffset: end };
  }

  /** Committed records from `offset`, stopping before `upTo` too (a follower's durable end). */
  read(
    topic: string,
    partition: number,
    offset: number,
    options: ReadOptions,
    upTo = Number.POSITIVE_INFINITY,
  ) {
    const t = this.#topic(topic, partition);
    const { start, stop } = this.#bounds(t.id, partition, upTo);
    return readRange(this.#dbs, topic, t.id, partition, Math.max(start, offset), stop, options);
  }

  /** Stored entries from `offset`, stopping before `upTo` too (a follower's durable end). */
  entries(
    topic: string,
    partition: number,
    offset: number,
    options: EntryReadOptions,
    upTo = Number.POSITIVE_INFINITY,
  ): StoredEntry[] {
    const t = this.#topic(topic, partition);
    const { start, stop } = this.#bounds(t.id, partition, upTo);
    const epochs = loadStampEpochs(this.#dbs);
    return readEntries(this.#dbs, t.id, partition, Math.max(start, offset), stop, epochs, options);
  }

  topicNames(): string[] {
    this.#dbs.env.resetReadTxn();
    return [...this.#dbs.topics.getKeys()];
  }

  partitionCount(topic: string): number {
    return this.#topic(topic).partitions;
  }

  /** Bytes per partition: the owner's last checkpoint plus records appended after it. */
  partitions(): PartitionInfo[] {
    const out: PartitionInfo[] = [];
    for (const topic of this.topicNames()) {
      const t = this.#topic(topic);
      for (let p = 0; p < t.partitions; p++) {
        const { start, end } = diskOffsets(this.#dbs, t.id, p);
        const { bytes, rawBytes } = partitionBytes(this.#dbs, t.id, p, start, end);
        const first = start < end ? entryAt(this.#dbs, t.id, p, start) : undefined;
        out.push({
          topic,
          partition: p,
          startOffset: start,
          endOffset: end,
          records: end - start,
          bytes,
          rawBytes,
          oldestTimestamp: first === undefined ? null : first.firstTimestamp,
        });
      }
    }
    return out;
  }

  stats(): { fileBytes: number; usedBytes: number; diskFreeBytes: number; full: boolean } {
    const { pages, pageSize } = usedPages(this.#dbs, []);
    const fs = statfsSync(this.#dbs.path);
    return {
      fileBytes: statSync(join(this.#dbs.path, 'data.mdb')).size,
      usedBytes: pages * pageSize,
      diskFreeBytes: fs.bavail * fs.bsize,
      // Only the owner knows its budget; a reader cannot tell.
      full: false,
    };
  }
}
