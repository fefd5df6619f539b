/**
 * One mirror thread as the main thread holds it (one generation; proxy.ts starts a new one after a
 * crash): the Worker, the owner's durable ends fed to it, its latest snapshot and its replies.
 */

import { Worker } from 'node:worker_threads';
import type { Config } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import type { PartitionedLog } from '../../log/index.ts';
import {
  type FromThread,
  fromWire,
  type MetricsJson,
  type Snapshot,
  type ThreadData,
  type ToThread,
} from './protocol.ts';

const MAIN = new URL('./main.ts', import.meta.url);

export interface ThreadSpec extends Omit<ThreadData, 'ends'> {
  log: PartitionedLog;
  onSnapshot: (s: Snapshot) => void;
}

/** How a thread ended: its exit code, and the uncaught error that ended it, if one did. */
export interface ThreadExit {
  code: number;
  error?: Error;
}

export class MirrorThread {
  readonly generation: number;
  readonly startedAt = Date.now();
  /** Resolves with the first snapshot once startMirror resolved; rejects when it failed or the thread ended first. */
  readonly started: Promise<Snapshot>;
  readonly exited: Promise<ThreadExit>;
  #worker: Worker;
  #unwatch: () => void;
  #nextId = 0;
  #metrics = new Map<number, (m: MetricsJson) => void>();
  #stopped: PromiseWithResolvers<{ error?: Error; holds: string[] }> = Promise.withResolvers();
  #alive = true;

  constructor(spec: ThreadSpec) {
    const { log, onSnapshot, ...data } = spec;
    this.generation = spec.generation;
    let worker: Worker | undefined;
    let ends: ThreadData['ends'] = [];
    // The first call (synchronous) is every partition's end: the thread's starting point.
    this.#unwatch = log.watchDurable((e) => {
      if (worker) this.#send({ type: 'ends', ends: e });
      else ends = e;
    });
    worker = new Worker(MAIN, { workerData: { ...data, ends } satisfies ThreadData, name: 'mirror' });
    this.#worker = worker;
    const started = Promise.withResolvers<Snapshot>();
    this.started = started.promise;
    this.started.catch(() => {}); // a caller that never awaits it must not see it unhandled
    let uncaught: Error | undefined;
    worker.on('error', (err) => {
      uncaught = err;
    });
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code) => {
        this.#alive = false;
        this.#unwatch();
        for (const answer of this.#metrics.values()) answer([]);
        this.#metrics.clear();
        const how: ThreadExit = uncaught ? { code, error: uncaught } : { code };
        started.reject(
          uncaught ??
            new OutpostError(
              'MIRROR_THREAD_EXITED',
              `the mirror thread exited (code ${code}) before it started`,
            ),
        );
        this.#stopped.resolve({ holds: [] });
        resolve(how);
      });
    });
    worker.on('message', (m: FromThread) => {
      switch (m.type) {
        case 'started':
          onSnapshot(m.snapshot);
          started.resolve(m.snapshot);
          return;
        case 'failed':
          started.reject(fromWire(m.error));
          return;
        case 'snapshot':
          onSnapshot(m.snapshot);
          return;
        case 'metrics':
          this.#metrics.get(m.id)?.(m.metrics);
          this.#metrics.delete(m.id);
          return;
        case 'stopped':
          this.#stopped.resolve({ holds: m.holds, ...(m.error ? { error: fromWire(m.error) } : {}) });
          return;
      }
    });
  }

  get alive(): boolean {
    return this.#alive;
  }

  #send(m: ToThread): void {
    if (this.#alive) this.#worker.postMessage(m);
  }

  reload(config: Config): void {
    this.#send({ type: 'reload', config });
  }

  /** The thread's registry, or undefined when it does not answer within `timeoutMs` (or has ended). */
  metrics(timeoutMs: number): Promise<MetricsJson | undefined> {
    if (!this.#alive) return Promise.resolve(undefined);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#metrics.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.#metrics.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.#send({ type: 'metrics', id });
    });
  }

  /**
   * Asks the thread to stop its mirror within `timeoutMs`; resolves with its report ("stopped"),
   * or undefined when it did not report by `deadline` (epoch ms). Either way the thread is ended
   * (terminated) before this resolves.
   */
  async stop(timeoutMs: number, deadline: number): Promise<{ error?: Error; holds: string[] } | undefined> {
    this.#send({ type: 'stop', timeoutMs });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
    });
    try {
      return await Promise.race([this.#stopped.promise, late]);
    } finally {
      clearTimeout(timer);
      await this.terminate();
    }
  }

  /** Ends the thread now (its sockets close with it); resolves once it has exited. */
  async terminate(): Promise<ThreadExit> {
    if (this.#alive) await this.#worker.terminate();
    return this.exited;
  }
}
