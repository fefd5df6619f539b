/**
 * The acks' LMDB writes of one session, gathered into one write transaction per interval.
 *
 * Every Kafka ack records the exact index and moves the partition's cursor. Issued as they come,
 * a busy mirror commits one small transaction (and one fsync) per ack and partition, and those
 * commits queue on the environment's single writer in front of the ingest's group commits, which
 * hold back devices' PUBACKs. Here the session's writes are group committed: all that wait are
 * issued in one event turn, which lmdb-js commits as one transaction, and the next group only
 * after that one settled. With `intervalMs` > 0 a group also waits that long for more acks.
 *
 *   add(write) → queued; the first one arms the timer        (intervalMs 0: issued at once)
 *   timer      → every queued write issued in the same turn → one transaction, in ack order
 *   next turn  → only after the previous flush settled: at most one mirror commit outstanding
 *   a failure  → that flush's writes reject, and so does every later add (the session fails on it;
 *                the next session re-indexes what landed from the remote tail)
 *
 * Nothing waits on these writes but retention (the cursor) and offset translation (the index), and
 * a crash before they commit loses nothing: the next session finds the records on the remote tail.
 */

interface Queued {
  write: () => Promise<unknown>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class AckCommits {
  readonly #intervalMs: () => number;
  #queued: Queued[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #failed: { err: unknown } | undefined;

  /** `intervalMs` is read at each first add, so a reload applies from the next flush. */
  constructor(intervalMs: () => number) {
    this.#intervalMs = intervalMs;
  }

  /** Queues one ack's writes; resolves once they are committed. */
  add(write: () => Promise<unknown>): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed.err);
    return new Promise<void>((resolve, reject) => {
      this.#queued.push({ write, resolve, reject });
      this.#arm();
    });
  }

  /** Issues what is queued now (a session that ends does not wait out the interval). */
  flush(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#flushing) return this.#flushing.then(() => this.flush());
    const batch = this.#queued;
    this.#queued = [];
    if (batch.length === 0) return Promise.resolve();
    this.#flushing = this.#issue(batch).finally(() => {
      this.#flushing = undefined;
      if (this.#queued.length > 0) this.#arm();
    });
    return this.#flushing;
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#flushing) return;
    const ms = this.#intervalMs();
    if (ms <= 0) {
      void this.flush();
      return;
    }
    this.#timer = setTimeout(() => void this.flush(), ms);
  }

  /** Every write of the batch in this turn (one transaction), then each ack settles in order. */
  async #issue(batch: Queued[]): Promise<void> {
    if (this.#failed) {
      for (const q of batch) q.reject(this.#failed.err);
      return;
    }
    const started = batch.map((q) => {
      try {
        return q.write();
      } catch (err) {
        return Promise.reject(err);
      }
    });
    const settled = await Promise.allSettled(started);
    settled.forEach((r, i) => {
      const q = batch[i] as Queued;
      if (r.status === 'fulfilled') q.resolve();
      else {
        this.#failed ??= { err: r.reason };
        q.reject(r.reason);
      }
    });
  }
}
