/**
 * Which stored entries carry which stamp (the provenance headers of codec/record-v2.ts).
 *
 *   log.meta key "stamps" → StampEpoch[], oldest first:
 *     { id: string | null, from: { "<topicId>/<partition>": offset } }
 *
 * An owner opening with a stamp id other than the newest epoch's (or with none when one is set)
 * appends an epoch whose `from` holds every partition's end offset at that moment: entries never
 * straddle an open, so each entry belongs to exactly one epoch. An entry at offset o of partition k
 * was written under the newest epoch whose `from[k] ?? 0` is ≤ o (a partition created after an
 * epoch was recorded is missing from its `from`: all of its entries are that epoch's or later).
 * Below the first epoch nothing is stamped (logs written before stamps existed). One small write
 * per change of id, at open; nothing per commit.
 */
import type { Part } from './state.ts';
import type { LogDbs } from './store.ts';

export interface StampEpoch {
  id: string | null;
  from: Record<string, number>;
}

const STAMPS_KEY = 'stamps';

export function loadStampEpochs(dbs: LogDbs): StampEpoch[] {
  return (dbs.meta.get(STAMPS_KEY) as StampEpoch[] | undefined) ?? [];
}

/** Appends an epoch for `id` unless the newest one has it already (owner, at open). */
export async function recordStampEpoch(
  dbs: LogDbs,
  parts: Iterable<Part>,
  id: string | null,
): Promise<StampEpoch[]> {
  const epochs = loadStampEpochs(dbs);
  const newest = epochs[epochs.length - 1];
  if (newest === undefined ? id === null : newest.id === id) return epochs;
  const from: Record<string, number> = {};
  for (const part of parts) from[`${part.tid}/${part.p}`] = part.end;
  const next = [...epochs, { id, from }];
  await dbs.meta.put(STAMPS_KEY, next);
  return next;
}

/** The stamp id the entry at `offset` of topic id `tid`, partition `p` carries; null when unstamped. */
export function stampIdAt(
  epochs: readonly StampEpoch[],
  tid: number,
  p: number,
  offset: number,
): string | null {
  const k = `${tid}/${p}`;
  for (let i = epochs.length - 1; i >= 0; i--) {
    const e = epochs[i] as StampEpoch;
    if ((e.from[k] ?? 0) <= offset) return e.id;
  }
  return null;
}
