/**
 * What landed on a remote partition, in remote order: first copies of edge records, duplicate
 * copies, and foreign records. One rule, used both when a session resumes (the remote tail) and
 * when an acknowledged batch does not start where the session expected it (the gap before it):
 *
 *   walk the remote records in remote-offset order, carrying `maxEdge`, the highest edge offset
 *   known to have landed; a record of ours with edge offset e is
 *     - a FIRST copy when e > maxEdge (then maxEdge = e), indexed;
 *     - a DUPLICATE copy when e <= maxEdge: counted, logged, recorded apart (never silent).
 *   Records without our provenance headers (or another edge's) are foreign: counted, skipped.
 *
 * Why this is exact: one writer per remote partition sends edge records in ascending order, so the
 * set of edge offsets that ever landed is a prefix of the edge partition, and a consumer reading the
 * remote partition in order meets every edge record first at its first copy. The offset index maps
 * each edge offset to that first copy (what a consumer sees first); duplicate copies are kept in a
 * separate key space of the index (offset-index.ts, 'd' ranges) for audit and for resume.
 */
import type { IndexRange } from './offset-index.ts';

export interface LandedRecord {
  remote: number;
  /** The `outpost.edge.offset` of a record of ours, undefined for a foreign record. */
  edge: number | undefined;
}

export interface Classified {
  /** First copies, as contiguous (edge, remote) runs: what the index records. */
  first: IndexRange[];
  /** Duplicate copies, as contiguous runs (edgeStart = the edge offset they repeat). */
  duplicates: IndexRange[];
  /** Records without our provenance headers. */
  foreign: number;
  /** Highest edge offset landed after these records (-1 when none). */
  maxEdge: number;
}

/** Groups records into contiguous (edge, remote) runs, as the index stores them. */
export function runsOf(pairs: ReadonlyArray<{ edge: number; remote: number }>): IndexRange[] {
  const out: IndexRange[] = [];
  for (const { edge, remote } of pairs) {
    const last = out[out.length - 1];
    if (last && last.edgeStart + last.count === edge && last.remoteStart + last.count === remote)
      last.count++;
    else out.push({ edgeStart: edge, remoteStart: remote, count: 1 });
  }
  return out;
}

/** Classifies remote records (ascending remote offsets) given the highest edge offset landed before them. */
export function classifyLanded(records: Iterable<LandedRecord>, maxEdge: number): Classified {
  const first: Array<{ edge: number; remote: number }> = [];
  const dups: Array<{ edge: number; remote: number }> = [];
  let foreign = 0;
  let max = maxEdge;
  for (const { remote, edge } of records) {
    if (edge === undefined) foreign++;
    else if (edge > max) {
      first.push({ edge, remote });
      max = edge;
    } else dups.push({ edge, remote });
  }
  return { first: runsOf(first), duplicates: runsOf(dups), foreign, maxEdge: max };
}

/** Total records in runs. */
export const countOf = (runs: readonly IndexRange[]): number => runs.reduce((n, r) => n + r.count, 0);

/** "100-199@300" style text of runs for log lines: edge range @ remote start. */
export function describeRuns(runs: readonly IndexRange[], max = 5): string {
  const parts = runs
    .slice(0, max)
    .map((r) => `edge ${r.edgeStart}-${r.edgeStart + r.count - 1} @ remote ${r.remoteStart}`);
  if (runs.length > max) parts.push(`… ${runs.length - max} more runs`);
  return parts.join(', ');
}
