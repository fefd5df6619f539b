/**
 * Deleting records: retention (by time and size, held back by protected cursors) and onFull
 * "drop-oldest" (ignores cursors, counts what it drops durably). Every deletion queues, in one
 * write transaction: the new floor first, the removes, the partition checkpoint (and the dropped
 * counter), so a crash leaves either all of it or none of it.
 */
import { peekTimestamp } from './codec/record-v1.ts';
import { type Core, type Part, queueCheckpoints } from './state.ts';
import { DROPPED_KEY, floorKey } from './store.ts';
import type { RetentionReport } from './types.ts';

/** Most records deleted per write transaction, so one run never holds the writer for long. */
const CHUNK_RECORDS = 20_000;

export interface Deleted {
  records: number;
  bytes: number;
}

/**
 * Queues deletion of [part.start, cut) (at most CHUNK_RECORDS of them); returns what was queued.
 * Only records below durableEnd are ever considered.
 */
export function queueDeleteBelow(
  core: Core,
  part: Part,
  cut: number,
): { deleted: Deleted; done: Promise<unknown> } {
  const upTo = Math.min(cut, part.durableEnd, part.start + CHUNK_RECORDS);
  const deleted: Deleted = { records: 0, bytes: 0 };
  if (upTo <= part.start) return { deleted, done: Promise.resolve() };
  const { records, meta } = core.dbs;
  meta.put(floorKey(part.tid, part.p), upTo);
  let last: Promise<unknown> = Promise.resolve();
  for (const { key, value } of records.getRange({
    start: [part.tid, part.p, part.start],
    end: [part.tid, part.p, upTo],
  })) {
    last = records.remove(key);
    deleted.records += 1;
    deleted.bytes += value.length;
  }
  part.start = upTo;
  part.bytes -= deleted.bytes;
  part.dirty = true;
  queueCheckpoints(core);
  return { deleted, done: last };
}

/**
 * First offset retention keeps for one partition (looking at most CHUNK_RECORDS ahead, so one call
 * never blocks the event loop for long), and whether a protected cursor held it back.
 */
export function retentionCut(core: Core, part: Part, now: number): { cut: number; held: boolean } {
  const spec = core.topics.get(part.topic)?.spec;
  if (spec === undefined) return { cut: part.start, held: false };
  const minTs = now - spec.retentionMs;
  let excess = part.bytes - spec.retentionBytes;
  let cut = part.start;
  for (const { key, value } of core.dbs.records.getRange({
    start: [part.tid, part.p, part.start],
    end: [part.tid, part.p, part.durableEnd],
    limit: CHUNK_RECORDS,
  })) {
    const tooOld = peekTimestamp(value) < minTs;
    if (!tooOld && excess <= 0) break;
    excess -= value.length;
    cut = key[2] + 1;
  }
  let guard = Number.POSITIVE_INFINITY;
  for (const { value } of core.dbs.cursors.getRange({
    start: [part.topic, part.p, ''],
    end: [part.topic, part.p + 1, ''],
  })) {
    if (value.protected) guard = Math.min(guard, value.offset);
  }
  if (cut > guard) return { cut: Math.max(part.start, guard), held: true };
  return { cut, held: false };
}

export async function runRetention(
  core: Core,
  now: number,
  onDeleted: (bytes: number) => void,
  stopped: () => boolean = () => false,
): Promise<RetentionReport> {
  const report: RetentionReport = { deleted: {}, heldByCursor: [] };
  for (const t of core.topics.values()) {
    for (const part of t.parts) {
      const name = `${part.topic}/${part.p}`;
      while (!stopped()) {
        const { cut, held } = retentionCut(core, part, now);
        if (held && !report.heldByCursor.includes(name)) report.heldByCursor.push(name);
        const { deleted, done } = queueDeleteBelow(core, part, cut);
        if (deleted.records === 0) break;
        report.deleted[name] = (report.deleted[name] ?? 0) + deleted.records;
        onDeleted(deleted.bytes);
        await done;
        await core.dbs.env.flushed;
      }
    }
  }
  return report;
}

/**
 * onFull "drop-oldest": queues deletion of the oldest records (by first-record timestamp across
 * partitions, ignoring cursors) until `need` bytes are freed or nothing durable is left. Runs
 * synchronously so the deletes share the appending caller's transaction. Returns bytes freed.
 */
export function dropOldest(core: Core, need: number): Deleted {
  const total: Deleted = { records: 0, bytes: 0 };
  const parts = [...core.topics.values()].flatMap((t) => t.parts);
  while (total.bytes < need) {
    let oldest: Part | undefined;
    let oldestTs = Number.POSITIVE_INFINITY;
    for (const part of parts) {
      if (part.start >= part.durableEnd) continue;
      const first = core.dbs.records.get([part.tid, part.p, part.start]);
      const ts = first === undefined ? Number.NEGATIVE_INFINITY : peekTimestamp(first);
      if (ts < oldestTs) {
        oldestTs = ts;
        oldest = part;
      }
    }
    if (oldest === undefined) break;
    // Free at least what is missing, in slices of ~1/16 of the partition to spread the loss fairly.
    let cut = oldest.start;
    let freed = 0;
    const slice = Math.max(1, Math.ceil((oldest.durableEnd - oldest.start) / 16));
    for (const { key, value } of core.dbs.records.getRange({
      start: [oldest.tid, oldest.p, oldest.start],
      end: [oldest.tid, oldest.p, oldest.durableEnd],
    })) {
      freed += value.length;
      cut = key[2] + 1;
      if (freed >= need - total.bytes && cut - oldest.start >= Math.min(slice, 64)) break;
    }
    const { deleted } = queueDeleteBelow(core, oldest, cut);
    if (deleted.records === 0) break;
    total.records += deleted.records;
    total.bytes += deleted.bytes;
  }
  if (total.records > 0) {
    core.droppedRecords += total.records;
    core.dbs.meta.put(DROPPED_KEY, core.droppedRecords);
  }
  return total;
}
