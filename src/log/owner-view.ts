/**
 * The log as seen from its owner process: offsets come from the in-memory partition state (durable
 * end, start after retention), so a read never sees a record before it is fsynced. reader.ts is the
 * same view for a process that is not the owner (offsets derived from disk).
 */
import { OutpostError } from '../errors.ts';
import { readEntries, readRange } from './read.ts';
import { type Core, getPart } from './state.ts';
import { entryAt, type LogDbs } from './store.ts';
import type { EntryReadOptions, LogRecord, PartitionInfo, ReadOptions, StoredEntry } from './types.ts';

export class OwnerView {
  readonly #dbs: LogDbs;
  readonly #core: Core;

  constructor(dbs: LogDbs, core: Core) {
    this.#dbs = dbs;
    this.#core = core;
  }

  offsets(topic: string, partition: number): { startOffset: number; endOffset: number } {
    const part = getPart(this.#core, topic, partition);
    return { startOffset: Math.min(part.start, part.durableEnd), endOffset: part.durableEnd };
  }

  read(topic: string, partition: number, offset: number, options: ReadOptions): LogRecord[] {
    const part = getPart(this.#core, topic, partition);
    const from = Math.max(offset, part.start);
    return readRange(this.#dbs, part.topic, part.tid, partition, from, part.durableEnd, options);
  }

  entries(topic: string, partition: number, offset: number, options: EntryReadOptions): StoredEntry[] {
    const part = getPart(this.#core, topic, partition);
    const from = Math.max(offset, part.start);
    const epochs = this.#core.stampEpochs;
    return readEntries(this.#dbs, part.tid, partition, from, part.durableEnd, epochs, options);
  }

  partitions(): PartitionInfo[] {
    const out: PartitionInfo[] = [];
    for (const t of this.#core.topics.values()) {
      for (const part of t.parts) {
        const { startOffset, endOffset } = this.offsets(t.name, part.p);
        const first = startOffset < endOffset ? entryAt(this.#dbs, part.tid, part.p, startOffset) : undefined;
        out.push({
          topic: t.name,
          partition: part.p,
          startOffset,
          endOffset,
          records: endOffset - startOffset,
          bytes: part.bytes,
          rawBytes: part.rawBytes,
          oldestTimestamp: first === undefined ? null : first.firstTimestamp,
        });
      }
    }
    return out;
  }

  topicNames(): string[] {
    return [...this.#core.topics.keys()];
  }

  partitionCount(topic: string): number {
    const t = this.#core.topics.get(topic);
    if (t === undefined) throw new OutpostError('UNKNOWN_TOPIC', `unknown log topic "${topic}"`, { topic });
    return t.parts.length;
  }
}
