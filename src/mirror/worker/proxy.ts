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

export async function startMirrorThread(deps: MirrorThreadDeps): Promise<Mirror> {
  const { log } = deps;
  const logger = deps.logger.child({ module: 'mirror' });
  const translator = openOffsetIndex(log);
  const restarts = threadRestartsCounter(deps.metrics);
  let config = deps.config;
  let last: Snapshot = { status: { edgeId: config.edgeId, clusters: [] }, holds: [] };
  let lastMetrics: MetricsJson = [];
  /** Why the mirror is not running, while a new thread is awaited. */
  let down: string | undefined;
  let stopping = false;
  let attempt = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  /** What an incomplete stop left behind (reported by holds() once the thread is gone). */
  let incomplete: string[] = [];

  const spawn = (generation: number) => {
    const t = new MirrorThread({
      config,
      log,
      dataDir: deps.dataDir,
      logger: deps.logging,
      ...(deps.hooksModule ? { hooksModule: deps.hooksModule } : {}),
      generation,
      onSnapshot: (s) => {
        last = s;
      },
    });
    void t.exited.then((how) => onExit(t, how));
    return t;
  };

  const onExit = (t: MirrorThread, how: ThreadExit) => {
    if (t !== thread) return;
    if (stopping) {
      if (how.error)
        logger.error({ err: how.error.message, stack: how.error.stack }, 'mirror thread died while stopping');
      return;
    }
    const lived = Date.now() - t.startedAt;
    attempt = lived >= HEALTHY_MS ? 0 : attempt + 1;
    const wait = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** Math.max(0, attempt - 1));
    const cause = how.error?.message ?? `exit code ${how.code}`;
    const err = new OutpostError(
      'MIRROR_THREAD_EXITED',
      `the mirror thread (generation ${t.generation}) died after ${lived} ms: ${cause}; ingest goes on, the mirror restarts in ${wait} ms`,
      { reason: cause, cause: how.error },
    );
    logger.error(
      {
        ...err.toLog(),
        generation: t.generation,
        exitCode: how.code,
        stack: how.error?.stack,
        restartInMs: wait,
      },
      err.message,
    );
    restarts.inc();
    down = `mirror thread restarting: ${cause}`;
    restartTimer = setTimeout(() => restart(t.generation + 1), wait);
  };

  const restart = (generation: number) => {
    restartTimer = undefined;
    if (stopping) return;
    thread = spawn(generation);
    const t = thread;
    t.started.then(
      () => {
        if (t !== thread) return;
        down = undefined;
        logger.info({ generation }, 'mirror thread restarted');
      },
      (err: unknown) => {
        if (t !== thread || stopping) return;
        // It failed to start: its exit is handled like any other (logged, counted, backed off).
        logger.error({ generation, err: String(err) }, 'mirror thread could not start the mirror');
        void t.terminate();
      },
    );
  };

  let thread = spawn(0);
  try {
    await thread.started;
  } catch (err) {
    stopping = true;
    await thread.terminate();
    throw err;
  }

  bridgeMirrorMetrics(deps.metrics, async () => {
    if (down === undefined && thread.alive) {
      const got = await thread.metrics(METRICS_TIMEOUT_MS);
      if (got !== undefined && got.length > 0) {
        lastMetrics = got;
        return got;
      }
      logger.warn(
        { generation: thread.generation, timeoutMs: METRICS_TIMEOUT_MS },
        'mirror thread did not answer a scrape in time: serving its last metrics',
      );
    }
    return down === undefined ? lastMetrics : downMetrics(lastMetrics, status());
  });

  const status = (): MirrorStatus => (down === undefined ? last.status : downStatus(last.status, log, down));

  return {
    translator,
    status,
    reload(next: Config) {
      config = next;
      thread.reload(next);
    },
    holds: () => {
      if (!thread.alive) return incomplete;
      return [...last.holds, `mirror thread (generation ${thread.generation})`];
    },
    async stop({ timeoutMs }) {
      stopping = true;
      if (restartTimer !== undefined) clearTimeout(restartTimer);
      const deadline = Date.now() + timeoutMs;
      const t = thread;
      if (!t.alive) return;
      const held = [...last.holds, `mirror thread (generation ${t.generation})`];
      const inner = Math.max(1, timeoutMs - Math.min(STOP_MARGIN_MS, timeoutMs * 0.2));
      const report = await t.stop(inner, deadline);
      // The thread is gone either way; an incomplete stop still names what it held at the end.
      if (report === undefined) {
        incomplete = held.map((h) => `${h}: terminated at the deadline`);
        throw stopIncomplete('mirror', incomplete, timeoutMs);
      }
      if (report.error) {
        incomplete = report.holds.length > 0 ? report.holds : held;
        if (isOutpostError(report.error, 'SHUTDOWN_INCOMPLETE')) throw report.error;
        throw stopIncomplete('mirror', [...incomplete, `stop failed: ${report.error.message}`], timeoutMs);
      }
    },
  };
}
