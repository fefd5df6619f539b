/**
 * Exact offset index: for each cluster/topic/partition, the ranges (edgeStart, remoteStart, count)
 * saying edge offsets [edgeStart, edgeStart+count) landed at remote offsets [remoteStart, …+count).
 * One acknowledged produce batch to one partition gets contiguous offsets (Kafka RecordBatch,
 * baseOffset + offsetDelta), so each ack is one range; contiguous ranges are coalesced.
 *
 * Stored in an LMDB sub-database (log.openStore('mirror.index')), ordered-binary array keys,
 * msgpack values. Two key spaces, written in the same transaction:
 *   ['e', cluster, topic, partition, edgeStart]   -> { r: remoteStart, n: count }
 *   ['r', cluster, topic, partition, remoteStart] -> { e: edgeStart, n: count }
 * Within one partition both orders agree (edge order is preserved remotely), so the two spaces hold
 * the same ranges; the second one makes cluster -> edge a single seek. These map each edge record to
 * its FIRST copy on the cluster (the one a consumer reading in order meets first).
 *
 * A third key space (added in the same store; older data simply has none) records DUPLICATE copies
 * (landed.ts: an edge record that landed a second time, e.g. a torn-down session's late produce):
 *   ['d', cluster, topic, partition, remoteStart] -> { e: edgeStart, n: count }
 * They are not translated (remoteToEdge of a duplicate copy is undefined; positions inside a
 * duplicate run map to the next first copy, which is exact for a consumer that read past it), but
 * they count for `remoteEnd`, so a resume never scans or counts them twice.
 *
 * Offsets come in two flavours:
 * - record offsets (translate a record: exact or undefined when that record is not indexed);
 * - positions ("next offset to read", as committed consumer offsets are): a position between or past
 *   ranges maps to the next indexed record, or to the end of the last range.
 */
import type { Database, Key } from 'lmdb';

interface EdgeEntry {
  r: number;
  n: number;
}
interface RemoteEntry {
  e: number;
  n: number;
}
type IndexValue = EdgeEntry | RemoteEntry;

export interface IndexRange {
  edgeStart: number;
  remoteStart: number;
  count: number;
}

export type IndexDb = Database<IndexValue, Key>;

export class OffsetIndex {
  readonly #db: IndexDb;

  constructor(db: IndexDb) {
    this.#db = db;
  }

  /** Last range of a cluster/topic/partition, or undefined when nothing was acknowledged yet. */
  last(cluster: string, topic: string, partition: number): IndexRange | undefined {
    for (const { key, value } of this.#db.getRange({
      start: ['e', cluster, topic, partition, Number.MAX_SAFE_INTEGER],
      end: ['e', cluster, topic, partition],
      reverse: true,
      limit: 1,
    })) {
      const v = value as EdgeEntry;
      return { edgeStart: (key as Key[])[4] as number, remoteStart: v.r, count: v.n };
    }
    return undefined;
  }

  /** Last duplicate run (by remote offset), or undefined. */
  #lastDuplicate(cluster: string, topic: string, partition: number): IndexRange | undefined {
    for (const { key, value } of this.#db.getRange({
      start: ['d', cluster, topic, partition, Number.MAX_SAFE_INTEGER],
      end: ['d', cluster, topic, partition],
      reverse: true,
      limit: 1,
    })) {
      const v = value as RemoteEntry;
      return { edgeStart: v.e, remoteStart: (key as Key[])[4] as number, count: v.n };
    }
    return undefined;
  }

  /** The remote offset right after the last record this index knows (first or duplicate copy); 0 when none. */
  remoteEnd(cluster: string, topic: string, partition: number): number {
    const last = this.last(cluster, topic, partition);
    const dup = this.#lastDuplicate(cluster, topic, partition);
    return Math.max(last ? last.remoteStart + last.count : 0, dup ? dup.remoteStart + dup.count : 0);
  }

  /** Records a run of duplicate copies: remote [remoteStart, +count) hold edge [edgeStart, +count) again. */
  recordDuplicates(cluster: string, topic: string, partition: number, run: IndexRange): Promise<boolean> {
    return this.#db.put(['d', cluster, topic, partition, run.remoteStart], {
      e: run.edgeStart,
      n: run.count,
    });
  }

  /** Duplicate runs in remote order (audit, tests). */
  duplicates(cluster: string, topic: string, partition: number): IndexRange[] {
    const out: IndexRange[] = [];
    for (const { key, value } of this.#db.getRange({
      start: ['d', cluster, topic, partition],
      end: ['d', cluster, topic, partition, Number.MAX_SAFE_INTEGER],
    })) {
      const v = value as RemoteEntry;
      out.push({ edgeStart: v.e, remoteStart: (key as Key[])[4] as number, count: v.n });
    }
    return out;
  }

  /** All ranges in order (tests, diagnostics). */
  ranges(cluster: string, topic: string, partition: number): IndexRange[] {
    const out: IndexRange[] = [];
    for (const { key, value } of this.#db.getRange({
      start: ['e', cluster, topic, partition],
      end: ['e', cluster, topic, partition, Number.MAX_SAFE_INTEGER],
    })) {
      const v = value as EdgeEntry;
      out.push({ edgeStart: (key as Key[])[4] as number, remoteStart: v.r, count: v.n });
    }
    return out;
  }

  /**
   * Records an acknowledged batch. Parts that are already indexed (a rebuild after a crash re-reading
   * the remote tail) are skipped; a batch continuing the last range on both sides extends it.
   * Resolves once committed (durable when the log's environment is).
   */
  record(cluster: string, topic: string, partition: number, range: IndexRange): Promise<boolean> {
    return this.#db.transaction(() => {
      let { edgeStart, remoteStart, count } = range;
      const last = this.last(cluster, topic, partition);
      if (last) {
        const lastEdgeEnd = last.edgeStart + last.count;
        const lastRemoteEnd = last.remoteStart + last.count;
        const skip = Math.max(lastEdgeEnd - edgeStart, lastRemoteEnd - remoteStart, 0);
        if (skip >= count) return false;
        edgeStart += skip;
        remoteStart += skip;
        count -= skip;
        if (edgeStart === lastEdgeEnd && remoteStart === lastRemoteEnd) {
          const n = last.count + count;
          this.#db.putSync(['e', cluster, topic, partition, last.edgeStart], { r: last.remoteStart, n });
          this.#db.putSync(['r', cluster, topic, partition, last.remoteStart], { e: last.edgeStart, n });
          return true;
        }
      }
      this.#db.putSync(['e', cluster, topic, partition, edgeStart], { r: remoteStart, n: count });
      this.#db.putSync(['r', cluster, topic, partition, remoteStart], { e: edgeStart, n: count });
      return true;
    });
  }

  /**
   * Records one acknowledged produce batch: edge `offsets` (ascending) landed at remote
   * [remoteBase, remoteBase + offsets.length). Contiguous edge offsets are one range; holes (retention
   * ran mid-batch) give one range per record.
   */
  async recordBatch(
    cluster: string,
    topic: string,
    partition: number,
    offsets: readonly number[],
    remoteBase: number,
  ): Promise<void> {
    const first = offsets[0];
    const last = offsets[offsets.length - 1];
    if (first === undefined || last === undefined) return;
    if (last - first + 1 === offsets.length) {
      await this.record(cluster, topic, partition, {
        edgeStart: first,
        remoteStart: remoteBase,
        count: offsets.length,
      });
      return;
    }
    for (const [i, e] of offsets.entries()) {
      await this.record(cluster, topic, partition, { edgeStart: e, remoteStart: remoteBase + i, count: 1 });
    }
  }

  #floor(space: 'e' | 'r', cluster: string, topic: string, partition: number, offset: number) {
    for (const { key, value } of this.#db.getRange({
      start: [space, cluster, topic, partition, offset],
      end: [space, cluster, topic, partition],
      reverse: true,
      limit: 1,
    })) {
      return { start: (key as Key[])[4] as number, value };
    }
    return undefined;
  }

  #ceil(space: 'e' | 'r', cluster: string, topic: string, partition: number, offset: number) {
    for (const { key, value } of this.#db.getRange({
      start: [space, cluster, topic, partition, offset],
      end: [space, cluster, topic, partition, Number.MAX_SAFE_INTEGER],
      limit: 1,
    })) {
      return { start: (key as Key[])[4] as number, value };
    }
    return undefined;
  }

  /** Remote offset of the edge record at `edgeOffset`, or undefined when it is not (yet) mirrored. */
  edgeToRemote(cluster: string, topic: string, partition: number, edgeOffset: number): number | undefined {
    const f = this.#floor('e', cluster, topic, partition, edgeOffset);
    if (!f) return undefined;
    const v = f.value as EdgeEntry;
    return edgeOffset < f.start + v.n ? v.r + (edgeOffset - f.start) : undefined;
  }

  /** Edge offset of the remote record at `remoteOffset`, or undefined when no edge record landed there. */
  remoteToEdge(cluster: string, topic: string, partition: number, remoteOffset: number): number | undefined {
    const f = this.#floor('r', cluster, topic, partition, remoteOffset);
    if (!f) return undefined;
    const v = f.value as RemoteEntry;
    return remoteOffset < f.start + v.n ? v.e + (remoteOffset - f.start) : undefined;
  }

  /** Position (next to read) translation edge -> remote; undefined before the first indexed record. */
  edgePositionToRemote(
    cluster: string,
    topic: string,
    partition: number,
    edgePos: number,
  ): number | undefined {
    return this.#position('e', cluster, topic, partition, edgePos);
  }

  /** Position translation remote -> edge; undefined before the first indexed record. */
  remotePositionToEdge(
    cluster: string,
    topic: string,
    partition: number,
    remotePos: number,
  ): number | undefined {
    return this.#position('r', cluster, topic, partition, remotePos);
  }

  #position(
    space: 'e' | 'r',
    cluster: string,
    topic: string,
    partition: number,
    pos: number,
  ): number | undefined {
    const other = (v: IndexValue) => (space === 'e' ? (v as EdgeEntry).r : (v as RemoteEntry).e);
    const f = this.#floor(space, cluster, topic, partition, pos);
    if (f && pos < f.start + f.value.n) return other(f.value) + (pos - f.start);
    const c = this.#ceil(space, cluster, topic, partition, pos);
    if (c) return other(c.value);
    if (f) return other(f.value) + f.value.n;
    return undefined;
  }

  /**
   * Drops ranges wholly below `edgeStartOffset` (retention moved the partition start past them). The
   * latest range always stays: a resume needs to know where the remote side ended.
   */
  prune(cluster: string, topic: string, partition: number, edgeStartOffset: number): Promise<number> {
    return this.#db.transaction(() => {
      let dropped = 0;
      const keep = this.last(cluster, topic, partition)?.edgeStart;
      for (const { key, value } of this.#db.getRange({
        start: ['e', cluster, topic, partition],
        end: ['e', cluster, topic, partition, edgeStartOffset],
      })) {
        const edgeStart = (key as Key[])[4] as number;
        const v = value as EdgeEntry;
        if (edgeStart + v.n > edgeStartOffset || edgeStart === keep) break;
        this.#db.removeSync(key);
        this.#db.removeSync(['r', cluster, topic, partition, v.r]);
        dropped++;
      }
      // Duplicate runs below the latest first-copy range and of deleted edge records go too.
      const keepRemote = this.last(cluster, topic, partition)?.remoteStart ?? 0;
      for (const { key, value } of this.#db.getRange({
        start: ['d', cluster, topic, partition],
        end: ['d', cluster, topic, partition, keepRemote],
      })) {
        const v = value as RemoteEntry;
        if (v.e + v.n > edgeStartOffset) continue;
        this.#db.removeSync(key);
        dropped++;
      }
      return dropped;
    });
  }
}
