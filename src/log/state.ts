/**
 * In-memory state of an owner log, rebuilt from disk on open. After a kill -9 only what LMDB holds is
 * trusted: next offsets come from the last stored key, start offsets from the first key and the floor.
 */
import type { Database } from 'lmdb';
import { OutpostError } from '../errors.ts';
import type { RecordFields, Stamp } from './codec/record-v2.ts';
import type { StampEpoch } from './stamps.ts';
import { checkpointKey, diskOffsets, type LogDbs, partitionBytes, type TopicEntry } from './store.ts';
import type { LogTopicSpec } from './types.ts';

export interface Part {
  topic: string;
  tid: number;
  p: number;
  /** First offset still stored. */
  start: number;
  /** Next offset to assign (includes appends still in flight). */
  end: number;
  /** Next offset to seal: base offset of the open batch (records in [sealedEnd, end) are in `open`). */
  sealedEnd: number;
  /** End of the entries put to LMDB (bytes and rawBytes count exactly these); checkpoints use it. */
  storedEnd: number;
  /** Records assigned but not yet sealed into a batch (this event turn's). */
  open: RecordFields[];
  /** Every offset below this is committed and fsynced; reads and tails stop here. */
  durableEnd: number;
  /** Stored bytes (batches as written, compressed) of entries in [start, storedEnd). */
  bytes: number;
  /** The same entries' bytes before compression. */
  rawBytes: number;
  /** Set when bytes/end changed since the last checkpoint write. */
  dirty: boolean;
  waiters: Set<() => void>;
}

export interface TopicState {
  name: string;
  id: number;
  spec: LogTopicSpec;
  parts: Part[];
  /** Round-robin position for records without key or partition. */
  rr: number;
}

export interface Core {
  dbs: LogDbs;
  topics: Map<string, TopicState>;
  stores: Map<string, Database<unknown, never>>;
  maxBytes: number;
  onFull: 'reject' | 'drop-oldest';
  minFreeBytes: number;
  droppedRecords: number;
  dataDir: string;
  /** Provenance headers sealed into every record (codec/record-v2.ts), or null. */
  stamp: Stamp | null;
  /** Which entries carry which stamp (stamps.ts). */
  stampEpochs: StampEpoch[];
}

function loadPart(dbs: LogDbs, topic: string, tid: number, p: number): Part {
  const { start, end } = diskOffsets(dbs, tid, p);
  const { bytes, rawBytes, fromCheckpointTo } = partitionBytes(dbs, tid, p, start, end);
  return {
    topic,
    tid,
    p,
    start,
    end,
    sealedEnd: end,
    storedEnd: end,
    open: [],
    durableEnd: end,
    bytes,
    rawBytes,
    dirty: fromCheckpointTo !== end,
    waiters: new Set(),
  };
}

/**
 * Registers configured topics (new ids, grown partition counts) and loads every partition's state.
 * Shrinking a topic throws PARTITION_SHRINK before anything is written.
 */
export function syncTopics(
  dbs: LogDbs,
  specs: Record<string, LogTopicSpec>,
  current: Map<string, TopicState>,
): Map<string, TopicState> {
  for (const [name, spec] of Object.entries(specs)) {
    const stored = dbs.topics.get(name);
    if (stored !== undefined && spec.partitions < stored.partitions) {
      throw new OutpostError(
        'PARTITION_SHRINK',
        `topic "${name}" has ${stored.partitions} partitions; it cannot shrink to ${spec.partitions} (records and key placement would be lost). Set partitions to ${stored.partitions} or more.`,
        { topic: name, reason: `${stored.partitions} → ${spec.partitions}` },
      );
    }
  }
  const next = new Map(current);
  dbs.topics.transactionSync(() => {
    let maxId = 0;
    for (const { value } of dbs.topics.getRange()) maxId = Math.max(maxId, value.id);
    for (const [name, spec] of Object.entries(specs)) {
      const stored = dbs.topics.get(name);
      let entry: TopicEntry;
      if (stored === undefined) {
        maxId += 1;
        entry = { id: maxId, partitions: spec.partitions };
        dbs.topics.putSync(name, entry);
      } else if (spec.partitions > stored.partitions) {
        entry = { id: stored.id, partitions: spec.partitions };
        dbs.topics.putSync(name, entry);
      } else entry = stored;
      const prev = next.get(name);
      const parts = prev?.parts.slice() ?? [];
      for (let p = parts.length; p < entry.partitions; p++) parts.push(loadPart(dbs, name, entry.id, p));
      next.set(name, { name, id: entry.id, spec: { ...spec }, parts, rr: prev?.rr ?? 0 });
    }
  });
  return next;
}

/** Queues a checkpoint write for every partition that changed (same transaction as queued writes). */
export function queueCheckpoints(core: Core, all = false): void {
  for (const t of core.topics.values()) {
    for (const part of t.parts) {
      if (!part.dirty && !all) continue;
      part.dirty = false;
      core.dbs.meta.put(checkpointKey(part.tid, part.p), {
        end: part.storedEnd,
        bytes: part.bytes,
        raw: part.rawBytes,
      });
    }
  }
}

export function getPart(core: Core, topic: string, partition: number): Part {
  const t = core.topics.get(topic);
  if (t === undefined) throw new OutpostError('UNKNOWN_TOPIC', `unknown log topic "${topic}"`, { topic });
  const part = t.parts[partition];
  if (part === undefined) {
    throw new OutpostError(
      'UNKNOWN_PARTITION',
      `topic "${topic}" has ${t.parts.length} partitions; ${partition} does not exist`,
      { topic, partition },
    );
  }
  return part;
}
