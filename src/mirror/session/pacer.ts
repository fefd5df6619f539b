/**
 * Pacing and priority for one cluster link (`maxBytesPerSecond`).
 *
 * Every partition link asks the pacer for the bytes of its next batch before sending it. Without a
 * cap the pacer grants at once: partitions then stream in parallel, one batch in flight each. With a
 * cap, a token bucket (burst = one second of rate) meters the bytes, and waiting
 * batches are granted in this order:
 *
 * - live vs backlog: a batch is "live" when it brings its partition up to the log end (the device
 *   data arriving now), "backlog" otherwise. When both wait, grants alternate live, backlog, live, …
 *   so fresh data keeps flowing while a backlog drains, and a backlog is never starved by live data;
 * - among backlog batches, the highest topic `priority` first; equal priorities in arrival order
 *   (each partition re-queues after its send, which makes this round-robin);
 * - among live batches, arrival order.
 */
import { OutpostError } from '../../errors.ts';
import { TokenBucket } from './token-bucket.ts';

export interface PaceRequest {
  bytes: number;
  live: boolean;
  priority: number;
  signal: AbortSignal;
}

interface Waiter extends PaceRequest {
  seq: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Pacer {
  #bucket: TokenBucket | undefined;
  #waiters: Waiter[] = [];
  #seq = 0;
  #lastWasLive = false;
  #timer: NodeJS.Timeout | undefined;
  /** Bytes granted so far (for metrics and tests). */
  granted = 0;

  constructor(maxBytesPerSecond: number | undefined) {
    this.setRate(maxBytesPerSecond);
  }

  setRate(maxBytesPerSecond: number | undefined): void {
    if (maxBytesPerSecond === undefined) {
      this.#bucket = undefined;
    } else {
      // Burst = one second of rate. A batch above it still goes once the bucket is full (then runs
      // into debt), so the long-run rate holds and nothing deadlocks.
      if (this.#bucket) this.#bucket.setRate(maxBytesPerSecond, maxBytesPerSecond);
      else this.#bucket = new TokenBucket(maxBytesPerSecond, maxBytesPerSecond);
    }
    // A batch waiting at the old rate is timed again at the new one (a reload takes effect now).
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pump();
  }

  get paced(): boolean {
    return this.#bucket !== undefined;
  }

  /** True when a batch of `bytes` would have to wait (tokens short, or others already waiting). */
  wouldWait(bytes: number): boolean {
    return this.#bucket !== undefined && (this.#waiters.length > 0 || this.#bucket.delayFor(bytes) > 0);
  }

  /** Number of batches waiting for tokens. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves when the batch may go. Rejects with the signal's reason when aborted. */
  acquire(req: PaceRequest): Promise<void> {
    if (!this.#bucket) {
      this.granted += req.bytes;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) {
          this.#waiters.splice(i, 1);
          reject(req.signal.reason);
        }
      };
      // A granted batch takes its abort listener off the session's signal (else one per batch piles up).
      const granted = () => {
        req.signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const w: Waiter = { ...req, seq: this.#seq++, resolve: granted, reject };
      this.#waiters.push(w);
      req.signal.addEventListener('abort', onAbort, { once: true });
      this.#pump();
    });
  }

  #pick(): Waiter | undefined {
    const live = this.#waiters.filter((w) => w.live);
    const backlog = this.#waiters.filter((w) => !w.live);
    const bestLive = live.reduce<Waiter | undefined>((a, w) => (!a || w.seq < a.seq ? w : a), undefined);
    const bestBacklog = backlog.reduce<Waiter | undefined>(
      (a, w) => (!a || w.priority > a.priority || (w.priority === a.priority && w.seq < a.seq) ? w : a),
      undefined,
    );
    if (bestLive && bestBacklog) return this.#lastWasLive ? bestBacklog : bestLive;
    return bestLive ?? bestBacklog;
  }

  #pump(): void {
    if (this.#timer) return;
    while (this.#waiters.length > 0) {
      const bucket = this.#bucket;
      const w = this.#pick();
      if (!w) return;
      if (!bucket) {
        this.#grant(w);
        continue;
      }
      const delay = bucket.delayFor(w.bytes);
      if (delay > 0) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#pump();
        }, delay);
        return;
      }
      bucket.tryTake(w.bytes);
      this.#grant(w);
    }
  }

  #grant(w: Waiter): void {
    this.#waiters.splice(this.#waiters.indexOf(w), 1);
    this.#lastWasLive = w.live;
    this.granted += w.bytes;
    w.resolve();
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const w of this.#waiters) w.reject(new OutpostError('MIRROR_STOPPED', 'pacer closed'));
    this.#waiters = [];
  }
}
