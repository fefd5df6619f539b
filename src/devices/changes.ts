/**
 * Device change notification across processes: this process's own writes are announced at once;
 * writes by other processes (the CLI) are found by polling the store's change log.
 */
import type { Logger } from 'pino';
import type { VerifiedLoginCache } from './login-cache.ts';
import type { DeviceStore } from './store.ts';

export interface ChangeFeed {
  /** Announces a change made by this process (its seq is in `announced`, so the poller skips it). */
  changed(deviceId: string): void;
  onChange(cb: (deviceId: string) => void): () => void;
  close(): void;
}

/**
 * `announced` holds the seqs of this process's own writes (filled by the store's commit hook):
 * announced directly, skipped by the poller. Every announcement first drops the device's cached login.
 */
export function watchChanges(
  store: DeviceStore,
  announced: Set<number>,
  cache: VerifiedLoginCache,
  logger: Logger | undefined,
  pollMs: number,
): ChangeFeed {
  const listeners = new Set<(deviceId: string) => void>();
  let lastSeq = store.lastSeq();
  let closed = false;

  const emit = (deviceId: string) => {
    cache.forget(deviceId);
    for (const cb of listeners) {
      try {
        cb(deviceId);
      } catch (err) {
        logger?.error({ event: 'device.change.listener', deviceId, err }, 'device change listener threw');
      }
    }
  };

  const poll = () => {
    if (closed || listeners.size === 0) {
      if (!closed) lastSeq = Math.max(lastSeq, store.lastSeq());
      announced.clear();
      return;
    }
    const changes = store.changesSince(lastSeq);
    const first = changes[0];
    if (first !== undefined && first.seq > lastSeq + 1 && lastSeq > 0) {
      // The change log was pruned past what we saw: announce every current device.
      logger?.warn({ event: 'device.change.resync', lastSeq, firstSeq: first.seq }, 'device change log gap');
      for (const d of store.list()) emit(d.id);
    }
    for (const c of changes) {
      lastSeq = Math.max(lastSeq, c.seq);
      if (announced.delete(c.seq)) continue;
      emit(c.deviceId);
    }
  };
  const timer = setInterval(() => {
    try {
      poll();
    } catch (err) {
      logger?.error({ event: 'device.change.poll', err }, 'device change poll failed');
    }
  }, pollMs);
  timer.unref();

  return {
    changed(deviceId) {
      logger?.info({ event: 'device.changed', deviceId }, 'device registry changed');
      emit(deviceId);
    },
    onChange(cb) {
      if (listeners.size === 0) lastSeq = Math.max(lastSeq, store.lastSeq());
      listeners.add(cb);
      return () => {
        listeners.delete(cb);
      };
    },
    close() {
      closed = true;
      clearInterval(timer);
      listeners.clear();
    },
  };
}
