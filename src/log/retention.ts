/**
 * Deleting records: retention (by time and size, held back by protected cursors) and onFull
 * "drop-oldest" (ignores cursors, counts what it drops durably). Every deletion queues, in one
 * write transaction: the new floor first, the removes, the partition checkpoint (and the dropped
 * counter), so a crash leaves either all of it or none of it.
 *
 * Deletion works on whole entries of log.records (a record-v2 batch, or one record-v1 record): a
 * batch is deleted only when none of its records must be kept, so the start offset is always an
 * entry's base offset. For each oldest-first entry:
 *   - time:   deleted when its maxTimestamp (its newest record) is older than now - retentionMs
 *   - size:   deleted when the partition still holds ≥ retentionBytes without it (so a partition
 *             keeps between retentionBytes and retentionBytes + one batch, like Kafka's segments)
 *   - cursor: never when a protected cursor points below the entry's end (one of its records is
 *             still to be mirrored): the whole batch stays
 * "drop-oldest" frees whole entries too.
 */
import { type Core, type Part, queueCheckpoints } from './state.ts';
import { DROPPED_KEY, type Entry, entryOf, entryRawBytes, floorKey } from './store.ts';
import type { RetentionReport } from './types.ts';

/** Most records deleted per write transaction, so one run never holds the writer for long. */
const CHUNK_RECORDS = 20_000;

export interface Deleted {
  records: number;
  bytes: number;
}

/**
 * Durable entries of a partition from its start, oldest first (at most CHUNK_RECORDS records).
 * With `raw`, each entry's uncompressed size is read too (deletions keep rawBytes exact).
 */
function* durableEntries(core: Core, part: Part, raw = false): Generator<Entry & { rawBytes: number }> {
  let records = 0;
  for (const { key, value } of core.dbs.records.getRange({
    start: [part.tid, part.p, part.start],
    end: [part.tid, part.p, part.durableEnd],
  })) {
    const e = entryOf(key[2], value);
    if (e.base + e.count > part.durableEnd || records >= CHUNK_RECORDS) return;
    records += e.count;
    yield { ...e, rawBytes: raw ? entryRawBytes(value) : 0 };
  }
}

/**
 * Queues deletion of the entries below `cut` (an entry boundary from retentionCut/dropOldest, at
 * most CHUNK_RECORDS records); returns what was queued. Only durable entries are ever considered.
 */
export function queueDeleteBelow(
  core: Core,
  part: Part,
  cut: number,
): { deleted: Deleted; done: Promise<unknown> } {
  const deleted: Deleted = { records: 0, bytes: 0 };
  const doomed: Array<Entry & { rawBytes: number }> = [];
  for (const e of durableEntries(core, part, true)) {
    if (e.base + e.count > cut) break;
    doomed.push(e);
  }
  const last = doomed[doomed.length - 1];
  if (last === undefined) return { deleted, done: Promise.resolve() };
  const upTo = last.base + last.count;
  const { records, meta } = core.dbs;
  meta.put(floorKey(part.tid, part.p), upTo);
  let done: Promise<unknown> = Promise.resolve();
  for (const e of doomed) {
    done = records.remove([part.tid, part.p, e.base]);
    deleted.records += e.count;
    deleted.bytes += e.bytes;
    part.rawBytes -= e.rawBytes;
  }
  part.start = upTo;
  part.bytes -= deleted.bytes;
  part.dirty = true;
  queueCheckpoints(core);
  return { deleted, done };
}

/**
 * First offset retention keeps for one partition (an entry boundary; looking at most CHUNK_RECORDS
 * ahead, so one call never blocks the event loop for long), and whether a protected cursor held it back.
 */
export function retentionCut(core: Core, part: Part, now: number): { cut: number; held: boolean } {
  const spec = core.topics.get(part.topic)?.spec;
  if (spec === undefined) return { cut: part.start, held: false };
  const minTs = now - spec.retentionMs;
  let guard = Number.POSITIVE_INFINITY;
  for (const { value } of core.dbs.cursors.getRange({
    start: [part.topic, part.p, ''],
    end: [part.topic, part.p + 1, ''],
  })) {
    if (value.protected) guard = Math.min(guard, value.offset);
  }
  let remaining = part.bytes;
  let cut = part.start;
  for (const e of durableEntries(core, part)) {
    const tooOld = e.maxTimestamp < minTs;
    const tooBig = remaining - e.bytes >= spec.retentionBytes;
    if (!tooOld && !tooBig) break;
    if (e.base + e.count > guard) return { cut, held: true };
    remaining -= e.bytes;
    cut = e.base + e.count;
  }
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
 * onFull "drop-oldest": queues deletion of the oldest entries (by first-record timestamp across
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
      const entries = durableEntries(core, part);
      const first = entries.next();
      entries.return(undefined); // closes the LMDB cursor
      if (first.done === true) continue;
      if (first.value.firstTimestamp < oldestTs) {
        oldestTs = first.value.firstTimestamp;
        oldest = part;
      }
    }
    if (oldest === undefined) break;
    // Free at least what is missing, in slices of ~1/16 of the partition to spread the loss fairly.
    let cut = oldest.start;
    let freed = 0;
    const slice = Math.max(1, Math.ceil((oldest.durableEnd - oldest.start) / 16));
    for (const e of durableEntries(core, oldest)) {
      freed += e.bytes;
      cut = e.base + e.count;
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
