/**
 * The owner's durable ends, fed to a follower (a thread of the same process reading the same LMDB
 * environment, see follower.ts). A follower must never read a record the owner has not fsynced: it
 * reads up to the ends this feed tells it, and the owner moves a partition's durableEnd only after
 * its commit is fsynced (append.ts publish), so every end sent here is durable.
 *
 *   subscribe → every partition's end at once (the follower's starting point)
 *   publish   → the woken partitions' waiter schedules one flush per event-loop turn (setImmediate):
 *               the partitions whose end moved since the last flush, then the waiter is armed again
 *   backstop  → a flush every BACKSTOP_MS, so a partition added by a reload (not armed yet) is told too
 *
 * Flushes read durableEnd itself, so a publish between the wake-up and the re-arm is never lost.
 */
import type { Core, Part } from './state.ts';
import type { DurableEnd } from './types.ts';

const BACKSTOP_MS = 1_000;

export function watchDurable(core: Core, listener: (ends: DurableEnd[]) => void): () => void {
  const sent = new Map<Part, number>();
  let scheduled: NodeJS.Immediate | undefined;
  let stopped = false;
  const wake = () => {
    if (!stopped && scheduled === undefined) scheduled = setImmediate(flush);
  };
  const flush = () => {
    scheduled = undefined;
    if (stopped) return;
    const ends: DurableEnd[] = [];
    for (const t of core.topics.values()) {
      for (const part of t.parts) {
        part.waiters.add(wake);
        if (sent.get(part) === part.durableEnd) continue;
        sent.set(part, part.durableEnd);
        ends.push({ topic: part.topic, partition: part.p, end: part.durableEnd });
      }
    }
    if (ends.length > 0) listener(ends);
  };
  const backstop = setInterval(flush, BACKSTOP_MS);
  backstop.unref();
  flush();
  return () => {
    stopped = true;
    clearInterval(backstop);
    if (scheduled !== undefined) clearImmediate(scheduled);
    for (const t of core.topics.values()) for (const part of t.parts) part.waiters.delete(wake);
  };
}
