/**
 * The mirror in its own thread, behind the same Mirror interface as startMirror (the service picks
 * one by mirror.thread). The main thread keeps only this proxy:
 *
 *   start   → a MirrorThread (thread.ts) on the same data dir; resolves once its startMirror did
 *   status  → the snapshot the thread pushes (STATUS_EVERY_MS when it changed): synchronous, so
 *             /v1/status, the status gauges and sd_notify never wait on the thread
 *   metrics → the thread's registry, bridged onto the service's at scrape time (metrics.ts)
 *   reload  → posted to the thread (the config a restarted thread starts with too)
 *   crash   → logged (error, MIRROR_THREAD_EXITED), counted, started again after RESTART_MIN_MS
 *             doubling to RESTART_MAX_MS, back to the minimum once a thread lived HEALTHY_MS;
 *             meanwhile status shows every link backing-off with the lag as the log grows
 *   stop    → the thread stops its links by the deadline and reports; at the deadline it is
 *             terminated and SHUTDOWN_INCOMPLETE names what it still held
 *
 * Ingest never waits on any of it: the owner's log feeds the thread its durable ends and goes on.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../../config/index.ts';
import { isOutpostError, OutpostError } from '../../errors.ts';
import type { PartitionedLog } from '../../log/index.ts';
import { openOffsetIndex } from '../mirror.ts';
import { stopIncomplete } from '../session/stopping.ts';
import type { Mirror, MirrorStatus } from '../types.ts';
import { bridgeMirrorMetrics, threadRestartsCounter } from './metrics.ts';
import type { LogFormatName, MetricsJson, Snapshot } from './protocol.ts';
import { downMetrics, downStatus } from './status.ts';
import { MirrorThread, type ThreadExit } from './thread.ts';

export const RESTART_MIN_MS = 1_000;
export const RESTART_MAX_MS = 30_000;
/** A thread that lived this long before it died restarts after RESTART_MIN_MS again. */
export const HEALTHY_MS = 60_000;
/** A scrape waits this long for the thread's metrics, then serves the last ones it had. */
const METRICS_TIMEOUT_MS = 1_000;
/** Of the stop budget, what the thread keeps for closing its log and reporting after mirror.stop. */
const STOP_MARGIN_MS = 500;

export interface MirrorThreadDeps {
  config: Config;
  /** The owner's log (the thread follows it). */
  log: PartitionedLog;
  /** Absolute data dir of that log. */
  dataDir: string;
  logger: Logger;
  metrics: Registry;
  /** How the thread builds the service's logger: a module exporting createLogger(config, format, { sync }). */
  logging: { module: string; format: LogFormatName };
  /** Test-only: a module exporting mirrorHooks({ generation }) (fault injection); never set in production. */
  hooksModule?: string;
}

/**
 * One mirror thread at a time: spawns it, restarts it with backoff when it dies, stops it by a
 * deadline. Holds what the proxy serves synchronously (the last snapshot and metrics).
 */
class ThreadSupervisor {
  config: Config;
  last: Snapshot;
  lastMetrics: MetricsJson = [];
  /** Why the mirror is not running, while a new thread is awaited. */
  down: string | undefined;
  thread: MirrorThread;
  #stopping = false;
  #attempt = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  /** What an incomplete stop left behind (reported by holds() once the thread is gone). */
  #incomplete: string[] = [];
  readonly #deps: MirrorThreadDeps;
  readonly #logger: Logger;
  readonly #restarts: ReturnType<typeof threadRestartsCounter>;

  constructor(deps: MirrorThreadDeps, logger: Logger) {
    this.#deps = deps;
    this.#logger = logger;
    this.config = deps.config;
    this.#restarts = threadRestartsCounter(deps.metrics);
    this.last = { status: { edgeId: deps.config.edgeId, clusters: [] }, holds: [] };
    this.thread = this.#spawn(0);
  }

  /** Waits for the first thread's mirror; a failure terminates it and rethrows. */
  async started(): Promise<void> {
    try {
      await this.thread.started;
    } catch (err) {
      this.#stopping = true;
      await this.thread.terminate();
      throw err;
    }
  }

  holds(): string[] {
    if (!this.thread.alive) return this.#incomplete;
    return [...this.last.holds, `mirror thread (generation ${this.thread.generation})`];
  }

  #spawn(generation: number): MirrorThread {
    const t = new MirrorThread({
      config: this.config,
      log: this.#deps.log,
      dataDir: this.#deps.dataDir,
      logger: this.#deps.logging,
      ...(this.#deps.hooksModule ? { hooksModule: this.#deps.hooksModule } : {}),
      generation,
      onSnapshot: (s) => {
        this.last = s;
      },
    });
    void t.exited.then((how) => this.#onExit(t, how));
    return t;
  }

  #onExit(t: MirrorThread, how: ThreadExit): void {
    if (t !== this.thread) return;
    if (this.#stopping) {
      if (how.error)
        this.#logger.error(
          { err: how.error.message, stack: how.error.stack },
          'mirror thread died while stopping',
        );
      return;
    }
    const lived = Date.now() - t.startedAt;
    this.#attempt = lived >= HEALTHY_MS ? 0 : this.#attempt + 1;
    const wait = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** Math.max(0, this.#attempt - 1));
    const cause = how.error?.message ?? `exit code ${how.code}`;
    const err = new OutpostError(
      'MIRROR_THREAD_EXITED',
      `the mirror thread (generation ${t.generation}) died after ${lived} ms: ${cause}; ingest goes on, the mirror restarts in ${wait} ms`,
      { reason: cause, cause: how.error },
    );
    const fields = {
      generation: t.generation,
      exitCode: how.code,
      stack: how.error?.stack,
      restartInMs: wait,
    };
    this.#logger.error({ ...err.toLog(), ...fields }, err.message);
    this.#restarts.inc();
    this.down = `mirror thread restarting: ${cause}`;
    this.#restartTimer = setTimeout(() => this.#restart(t.generation + 1), wait);
  }

  #restart(generation: number): void {
    this.#restartTimer = undefined;
    if (this.#stopping) return;
    const t = this.#spawn(generation);
    this.thread = t;
    t.started.then(
      () => {
        if (t !== this.thread) return;
        this.down = undefined;
        this.#logger.info({ generation }, 'mirror thread restarted');
      },
      (err: unknown) => {
        if (t !== this.thread || this.#stopping) return;
        // It failed to start: its exit is handled like any other (logged, counted, backed off).
        this.#logger.error({ generation, err: String(err) }, 'mirror thread could not start the mirror');
        void t.terminate();
      },
    );
  }

  async stop(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    const deadline = Date.now() + timeoutMs;
    const t = this.thread;
    if (!t.alive) return;
    const held = [...this.last.holds, `mirror thread (generation ${t.generation})`];
    const inner = Math.max(1, timeoutMs - Math.min(STOP_MARGIN_MS, timeoutMs * 0.2));
    const report = await t.stop(inner, deadline);
    // The thread is gone either way; an incomplete stop still names what it held at the end.
    if (report === undefined) {
      this.#incomplete = held.map((h) => `${h}: terminated at the deadline`);
      throw stopIncomplete('mirror', this.#incomplete, timeoutMs);
    }
    if (report.error) {
      this.#incomplete = report.holds.length > 0 ? report.holds : held;
      if (isOutpostError(report.error, 'SHUTDOWN_INCOMPLETE')) throw report.error;
      throw stopIncomplete(
        'mirror',
        [...this.#incomplete, `stop failed: ${report.error.message}`],
        timeoutMs,
      );
    }
  }
}

export async function startMirrorThread(deps: MirrorThreadDeps): Promise<Mirror> {
  const { log } = deps;
  const logger = deps.logger.child({ module: 'mirror' });
  const translator = openOffsetIndex(log);
  const sup = new ThreadSupervisor(deps, logger);
  await sup.started();

  const status = (): MirrorStatus =>
    sup.down === undefined ? sup.last.status : downStatus(sup.last.status, log, sup.down);

  bridgeMirrorMetrics(deps.metrics, async () => {
    const { thread } = sup;
    if (sup.down === undefined && thread.alive) {
      const got = await thread.metrics(METRICS_TIMEOUT_MS);
      if (got !== undefined && got.length > 0) {
        sup.lastMetrics = got;
        return got;
      }
      logger.warn(
        { generation: thread.generation, timeoutMs: METRICS_TIMEOUT_MS },
        'mirror thread did not answer a scrape in time: serving its last metrics',
      );
    }
    return sup.down === undefined ? sup.lastMetrics : downMetrics(sup.lastMetrics, status());
  });

  return {
    translator,
    status,
    reload(next: Config) {
      sup.config = next;
      sup.thread.reload(next);
    },
    holds: () => sup.holds(),
    stop: ({ timeoutMs }) => sup.stop(timeoutMs),
  };
}
