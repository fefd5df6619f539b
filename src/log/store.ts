/**
 * The LMDB environment behind the log and the layout of its reserved sub-databases.
 *
 *   log.records  key [topicId, partition, offset] (ordered-binary), value record-v1 (codec/record-v1.ts)
 *   log.topics   key topic name → { id, partitions }            (ids are never reused)
 *   log.meta     key ["floor", topicId, partition] → first offset still stored (survives an empty partition)
 *                key ["cp", topicId, partition] → { end, bytes }: bytes of records below `end`
 *                    (rewritten with every deletion, periodically and on close; open adds records ≥ end)
 *                key "dropped" → records deleted by onFull "drop-oldest" (durable counter)
 *                key "format" → 1 (layout version of these databases)
 *   log.cursors  key [topic, partition, name] → { offset, protected }
 *
 * Other modules get their own sub-databases with openStore(); names starting with "log." are ours.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Database, open, type RootDatabase } from 'lmdb';
import { OutpostError } from '../errors.ts';

export const LAYOUT_VERSION = 1;
export const RESERVED_PREFIX = 'log.';
const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

export type RecordKey = [number, number, number];
export interface TopicEntry {
  id: number;
  partitions: number;
}
export interface Checkpoint {
  end: number;
  bytes: number;
}
export interface CursorEntry {
  offset: number;
  protected: boolean;
}
type MetaKey = string | [string, number, number];

export interface LogDbs {
  env: RootDatabase;
  records: Database<Buffer, RecordKey>;
  topics: Database<TopicEntry, string>;
  meta: Database<unknown, MetaKey>;
  cursors: Database<CursorEntry, [string, number, string]>;
  path: string;
}

/** Directory of the LMDB environment (data.mdb, lock.mdb) inside the data dir. */
export function envPath(dataDir: string): string {
  return join(dataDir, 'lmdb');
}

export function openDbs(dataDir: string): LogDbs {
  const path = envPath(dataDir);
  mkdirSync(path, { recursive: true });
  // Durability: overlappingSync stays at its default and noSync is never set; appends await `flushed`.
  const env = open({ path, maxDbs: 64 });
  const dbs: LogDbs = {
    env,
    records: env.openDB<Buffer, RecordKey>('log.records', { encoding: 'binary' }),
    topics: env.openDB<TopicEntry, string>('log.topics', { encoding: 'msgpack' }),
    meta: env.openDB<unknown, MetaKey>('log.meta', { encoding: 'msgpack' }),
    cursors: env.openDB<CursorEntry, [string, number, string]>('log.cursors', { encoding: 'msgpack' }),
    path,
  };
  const format = dbs.meta.get('format');
  if (format !== undefined && format !== LAYOUT_VERSION) {
    env.close();
    throw new OutpostError('FORMAT_UNSUPPORTED', `log layout version ${String(format)} is not supported`, {
      path,
      reason: `layout ${String(format)}`,
    });
  }
  return dbs;
}

export const floorKey = (tid: number, p: number): [string, number, number] => ['floor', tid, p];
export const checkpointKey = (tid: number, p: number): [string, number, number] => ['cp', tid, p];
export const DROPPED_KEY = 'dropped';

/** First and last stored offsets of a partition (undefined when it has no records). */
export function storedRange(dbs: LogDbs, tid: number, p: number): { first?: number; last?: number } {
  const range: { first?: number; last?: number } = {};
  for (const k of dbs.records.getKeys({ start: [tid, p, 0], end: [tid, p + 1, 0], limit: 1 })) {
    range.first = k[2];
  }
  for (const k of dbs.records.getKeys({
    start: [tid, p, MAX_OFFSET],
    end: [tid, p, -1],
    reverse: true,
    limit: 1,
  })) {
    range.last = k[2];
  }
  return range;
}

/** [startOffset, endOffset) of a partition as stored on disk right now (after a crash: the truth). */
export function diskOffsets(dbs: LogDbs, tid: number, p: number): { start: number; end: number } {
  const floor = (dbs.meta.get(floorKey(tid, p)) as number | undefined) ?? 0;
  const { first, last } = storedRange(dbs, tid, p);
  const end = last === undefined ? floor : Math.max(last + 1, floor);
  const start = first === undefined ? end : Math.max(first, floor);
  return { start, end };
}

/** Pages in use inside the data file (all sub-databases, the free list and the two meta pages). */
export function usedPages(
  dbs: LogDbs,
  stores: Iterable<Database<unknown, never>>,
): { pages: number; pageSize: number } {
  const envStats = dbs.env.getStats() as unknown as Stat & { root: Stat; free: Stat };
  const count = (s: Stat) => s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
  let pages = 2 + count(envStats.root) + count(envStats.free);
  const dbsToCount: Array<{ getStats(): unknown }> = [
    dbs.records,
    dbs.topics,
    dbs.meta,
    dbs.cursors,
    ...stores,
  ];
  for (const db of dbsToCount) pages += count(db.getStats() as Stat);
  return { pages, pageSize: envStats.pageSize };
}
interface Stat {
  pageSize: number;
  treeBranchPageCount: number;
  treeLeafPageCount: number;
  overflowPages: number;
}
