/**
 * When to emit sparse MM2 offset syncs, following MirrorMaker 2's own rules
 * (connect/mirror OffsetSyncWriter.PartitionState.update, Kafka 4.1). Per partition, an ack of the
 * record (upstream u -> downstream d) queues an immediate sync when
 *   - no sync was sent in this lifetime (first record of the task), or
 *   - d - (lastSyncDownstream + 1) >= offset.lag.max (translation would be too stale), or
 *   - u - previousUpstream != 1 (upstream gap), or
 *   - d < previousDownstream (downstream truncated);
 * otherwise the record becomes the "delayed" sync, promoted on the periodic commit.
 */
import type { OffsetSync } from '../formats/offset-sync.ts';

export class PartitionSyncState {
  #previousUpstream = -1;
  #previousDownstream = -1;
  #lastSyncDownstream = -1;
  readonly #maxOffsetLag: number;

  constructor(maxOffsetLag: number) {
    this.#maxOffsetLag = maxOffsetLag;
  }

  /** True when this record must be synced right away. */
  update(upstream: number, downstream: number): boolean {
    const noPrevious = this.#lastSyncDownstream === -1;
    const tooStale = downstream - (this.#lastSyncDownstream + 1) >= this.#maxOffsetLag;
    const skipped = upstream - this.#previousUpstream !== 1;
    const truncated = downstream < this.#previousDownstream;
    const sync = noPrevious || tooStale || skipped || truncated;
    if (sync) this.#lastSyncDownstream = downstream;
    this.#previousUpstream = upstream;
    this.#previousDownstream = downstream;
    return sync;
  }
}

/**
 * Queues syncs for many partitions: `pending` go out after the ack, `delayed` on the periodic promote.
 * MM2 acks record by record and keeps only the latest pending sync per partition between sends; we ack
 * whole batches, so we keep every immediate sync of a batch (still about one per offset.lag.max
 * records) rather than letting a batch collapse them into one.
 */
export class OffsetSyncQueue {
  readonly #states = new Map<string, PartitionSyncState>();
  #pending: OffsetSync[] = [];
  readonly #delayed = new Map<string, OffsetSync>();
  #maxOffsetLag: number;

  constructor(maxOffsetLag: number) {
    this.#maxOffsetLag = maxOffsetLag;
  }

  /** Feeds an acknowledged contiguous batch: upstream [u, u+count) landed at downstream [d, d+count). */
  acked(
    topic: string,
    partition: number,
    upstreamStart: number,
    downstreamStart: number,
    count: number,
  ): void {
    const k = `${topic}\u0000${partition}`;
    let st = this.#states.get(k);
    if (!st) {
      st = new PartitionSyncState(this.#maxOffsetLag);
      this.#states.set(k, st);
    }
    // Per record without allocating: only synced records and the final delayed one become objects.
    let lastSync = -1;
    let lastDelayed = -1;
    for (let i = 0; i < count; i++) {
      if (st.update(upstreamStart + i, downstreamStart + i)) {
        lastSync = i;
        this.#pending.push({
          topic,
          partition,
          upstreamOffset: upstreamStart + i,
          downstreamOffset: downstreamStart + i,
        });
      } else lastDelayed = i;
    }
    if (lastDelayed > lastSync) {
      this.#delayed.set(k, {
        topic,
        partition,
        upstreamOffset: upstreamStart + lastDelayed,
        downstreamOffset: downstreamStart + lastDelayed,
      });
    } else if (lastSync >= 0) this.#delayed.delete(k);
  }

  /** Feeds an acknowledged batch given by its edge offsets (ascending) and remote base offset. */
  ackedOffsets(topic: string, partition: number, offsets: readonly number[], remoteBase: number): void {
    const first = offsets[0];
    const last = offsets[offsets.length - 1];
    if (first === undefined || last === undefined) return;
    if (last - first + 1 === offsets.length) this.acked(topic, partition, first, remoteBase, offsets.length);
    else for (const [i, e] of offsets.entries()) this.acked(topic, partition, e, remoteBase + i, 1);
  }

  /** MM2's promoteDelayedOffsetSyncs (run on the periodic commit). */
  promoteDelayed(): void {
    for (const s of this.#delayed.values()) this.#pending.push(s);
    this.#delayed.clear();
  }

  /** Takes every pending sync (latest per partition). */
  drain(): OffsetSync[] {
    const out = this.#pending;
    this.#pending = [];
    return out;
  }

  /** A new producer lifetime starts (after a teardown): MM2 starts with fresh partition states. */
  reset(maxOffsetLag: number = this.#maxOffsetLag): void {
    this.#maxOffsetLag = maxOffsetLag;
    this.#states.clear();
    this.#delayed.clear();
  }
}
