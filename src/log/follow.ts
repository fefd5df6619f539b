/**
 * Following a partition: read with a step from an offset on, and wait for durable appends whenever
 * the step finds nothing (owner: woken by publish after fsync; reader: polls every READER_POLL_MS).
 */
import { type Core, getPart, type Part } from './state.ts';

const READER_POLL_MS = 100;

export interface Waiting {
  core: Core | null;
  closed: () => boolean;
  closeSignal: AbortSignal;
}

/** Reads with `step` from `offset` on; waits for durable appends whenever it finds nothing. */
export async function* follow<T>(
  w: Waiting,
  topic: string,
  partition: number,
  offset: number,
  signal: AbortSignal | undefined,
  step: (next: number) => { items: T; next: number } | undefined,
): AsyncIterable<T> {
  let next = offset;
  while (!w.closed() && signal?.aborted !== true) {
    const got = step(next);
    if (got !== undefined) {
      next = got.next;
      yield got.items;
      continue;
    }
    await waitFor(w, topic, partition, next, signal);
  }
}

function waitFor(
  w: Waiting,
  topic: string,
  partition: number,
  next: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let part: Part | undefined;
    const done = () => {
      if (timer !== undefined) clearTimeout(timer);
      part?.waiters.delete(done);
      signal?.removeEventListener('abort', done);
      w.closeSignal.removeEventListener('abort', done);
      resolve();
    };
    signal?.addEventListener('abort', done, { once: true });
    w.closeSignal.addEventListener('abort', done, { once: true });
    if (w.core === null) {
      timer = setTimeout(done, READER_POLL_MS);
      return;
    }
    part = getPart(w.core, topic, partition);
    if (part.durableEnd > next) done();
    else part.waiters.add(done);
  });
}
