/**
 * Following a partition: read with a step from an offset on, and wait for durable appends whenever
 * the step finds nothing. The read-and-wait loop is shared by the owner's log (woken by publish
 * after fsync; a reader polls every READER_POLL_MS) and the follower (woken by advance).
 */
import { type Core, getPart } from './state.ts';
import type { LogRecord, StoredEntry } from './types.ts';

const READER_POLL_MS = 100;

/** One read of a follow: what it found and the offset after it, or undefined when it found nothing. */
export type Step<T> = (next: number) => { items: T; next: number } | undefined;

/** Records from `next` on, as a step (the next offset is after the last record). */
export function recordStep(read: (next: number) => LogRecord[]): Step<LogRecord[]> {
  return (next) => {
    const batch = read(next);
    const last = batch[batch.length - 1];
    return last === undefined ? undefined : { items: batch, next: last.offset + 1 };
  };
}

/** Stored entries from `next` on, as a step (the next offset is after the last entry's records). */
export function entryStep(read: (next: number) => StoredEntry[]): Step<StoredEntry[]> {
  return (next) => {
    const entries = read(next);
    const last = entries[entries.length - 1];
    return last === undefined ? undefined : { items: entries, next: last.baseOffset + last.count };
  };
}

/**
 * Reads with `step` from `offset` on until the log closes or `signal` aborts; whenever a step finds
 * nothing, `wait` returns (once there may be more) the offset to read from next.
 */
export async function* followSteps<T>(
  closed: () => boolean,
  signal: AbortSignal | undefined,
  offset: number,
  step: Step<T>,
  wait: (next: number) => Promise<number>,
): AsyncIterable<T> {
  let next = offset;
  while (!closed() && signal?.aborted !== true) {
    const got = step(next);
    if (got !== undefined) {
      next = got.next;
      yield got.items;
      continue;
    }
    next = await wait(next);
  }
}

/**
 * Resolves on the first of: a wake from what `arm` set up (it may wake at once, and returns how to
 * undo what it set up), or any of `signals` aborting (the caller's, the log's close).
 */
export function wakeOn(
  signals: ReadonlyArray<AbortSignal | undefined>,
  arm: (wake: () => void) => (() => void) | undefined,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let disarm: (() => void) | undefined;
    let woken = false;
    const wake = () => {
      woken = true;
      disarm?.();
      for (const s of signals) s?.removeEventListener('abort', wake);
      resolve();
    };
    for (const s of signals) s?.addEventListener('abort', wake, { once: true });
    disarm = arm(wake);
    if (woken) disarm?.();
  });
}

export interface Waiting {
  core: Core | null;
  closed: () => boolean;
  closeSignal: AbortSignal;
}

/** The owner's (or a reader's) follow of one partition: reads with `step`, waits for durable appends. */
export function follow<T>(
  w: Waiting,
  topic: string,
  partition: number,
  offset: number,
  signal: AbortSignal | undefined,
  step: Step<T>,
): AsyncIterable<T> {
  return followSteps(w.closed, signal, offset, step, async (next) => {
    await waitFor(w, topic, partition, next, signal);
    return next;
  });
}

function waitFor(
  w: Waiting,
  topic: string,
  partition: number,
  next: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  return wakeOn([signal, w.closeSignal], (wake) => {
    if (w.core === null) {
      const timer = setTimeout(wake, READER_POLL_MS);
      return () => clearTimeout(timer);
    }
    const part = getPart(w.core, topic, partition);
    if (part.durableEnd > next) {
      wake();
      return undefined;
    }
    part.waiters.add(wake);
    return () => part.waiters.delete(wake);
  });
}
