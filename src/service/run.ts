/**
 * The service lifecycle, as named steps:
 *
 *   start: loadConfig → checkDataDir → takeLock → checkPorts → openLog → scheduleRetention
 *          → openDevices → startIngest → startMirror (in its own thread unless mirror.thread is
 *          false) → startAdmin → notifyReady
 *   stop (SIGTERM/SIGINT): notifyStopping → stopIngest (stop accepting, finish + PUBACK in-flight
 *          appends) → stopMirror (finish or abandon in-flight batches; the remote offset index makes
 *          re-sending safe) → closeAdmin → closeDevices → closeLog → releaseLock
 *   reload (SIGHUP): see reload.ts.
 *
 * The drain is bounded by service.shutdownTimeoutMs; every step owns what it started and is awaited
 * with its share of that budget (stop.ts). "stopped cleanly" is logged only after the last of them
 * closed; the process then exits by itself. A step that misses its deadline is logged with what it
 * still holds and the exit is non-zero. A second signal exits at once. That is safe: the log
 * acknowledges an append only after it is fsynced.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { loadConfig } from '../config/index.ts';
import { isOutpostError, OutpostError } from '../errors.ts';
import { logOptionsFromConfig } from '../log/index.ts';
import { checkDataDirWritable, checkPortsFree } from './checks.ts';
import { loadModules } from './components.ts';
import { type AdminServer, startAdmin } from './http/server.ts';
import { acquireDataDirLock, type DataDirLock } from './lock.ts';
import {
  createLogger,
  DEFAULT_LOG_FORMAT,
  LOGGER_MODULE,
  type LogFormat,
  resolveLogFormat,
} from './logger.ts';
import { createRegistry, registerMirrorStatusMetrics, registerServiceMetrics } from './metrics.ts';
import { type Notifier, openNotifier } from './notify.ts';
import { reloadService } from './reload.ts';
import type { ServiceState } from './state.ts';
import { activeResources, type StopStep, stopInOrder } from './stop.ts';
import { VERSION } from './version.ts';

export interface RunServiceOptions {
  configPath: string;
  /** `json` lines, `pretty` readable lines, or `auto` (DEFAULT_LOG_FORMAT): pretty when stdout is a terminal. */
  logFormat?: LogFormat;
  /**
   * After a forced stop (second signal, drain timeout), call process.exit once the exit code is
   * returned, in case a module still holds the event loop. Default true; in-process tests pass false.
   */
  hardExit?: boolean;
  /**
   * Called once the service runs, with its metrics registry and a stop that acts as SIGTERM does.
   * The metrics reference (`npm run metrics:docs`) reads the registry of a real service this way.
   */
  onRunning?: (running: { registry: Registry; stop: () => void }) => void;
  /**
   * Test-only: a module exporting `mirrorHooks({ generation })`, loaded by the mirror thread
   * (fault injection, e.g. a crash); never set in production.
   */
  mirrorHooksModule?: string;
}

const STATUS_EVERY_MS = 10_000;

/** One line for `systemctl status` (sd_notify STATUS=). */
function statusLine(state: ServiceState): string {
  const ing = state.ingest?.status();
  const links = state.mirror?.status().clusters ?? [];
  const mirror = links.map((c) => `${c.cluster} ${c.state}`).join(', ');
  return [
    ing
      ? `${ing.connections} connections, ${ing.connectedDevices} devices, ${ing.msgsPerSecond.toFixed(1)} msg/s`
      : 'starting',
    mirror ? `mirror: ${mirror}` : 'no mirror links',
  ].join('; ');
}

export const EXIT_OK = 0;
export const EXIT_FORCED = 1;

/** After "stopped cleanly" nothing may keep the process alive; if something does, say what and exit. */
const EXIT_WATCH_MS = 5_000;
/** Of the stop budget, what the closing steps after the mirror keep for themselves. */
const TAIL_RESERVE_MS = 2_000;
/** Before the "stopped cleanly" line takes its snapshot of active handles. */
const SETTLE_MS = 50;
/** Bound on flushing the log lines still being written to stdout before that snapshot. */
const FLUSH_MS = 2_000;

function logOpenedTopics(logger: Logger, state: ServiceState): void {
  const log = state.log;
  if (!log) return;
  const byTopic = new Map<string, Array<{ partition: number; startOffset: number; endOffset: number }>>();
  for (const p of log.partitions()) {
    const list = byTopic.get(p.topic) ?? [];
    list.push({ partition: p.partition, startOffset: p.startOffset, endOffset: p.endOffset });
    byTopic.set(p.topic, list);
  }
  for (const [topic, parts] of byTopic) {
    const offsets = parts.map((p) => `${p.partition}:${p.startOffset}-${p.endOffset}`).join(' ');
    logger.info({ topic, partitions: parts.length, offsets }, `log topic ${topic} [${offsets}]`);
  }
}

/** Runs until SIGTERM/SIGINT; resolves with the process exit code. Startup failures throw OutpostError. */
export async function runService(opts: RunServiceOptions): Promise<number> {
  const startedAt = Date.now();
  const configPath = resolve(opts.configPath);
  const config = await loadConfig(configPath); // CONFIG_INVALID/UNREADABLE: one line per issue
  const logger = createLogger(config, opts.logFormat ?? DEFAULT_LOG_FORMAT);
  const state: ServiceState = { config, configPath, version: VERSION, startedAt, logger, phase: 'starting' };

  // Signals first, so a SIGTERM during startup stops cleanly instead of killing us mid-open.
  let stopSignal: NodeJS.Signals | null = null;
  let wake: (() => void) | null = null;
  let forceResolve: (() => void) | null = null;
  const forced = new Promise<void>((r) => {
    forceResolve = r;
  });
  const onStop = (signal: NodeJS.Signals) => {
    if (stopSignal) {
      logger.warn({ signal }, 'second stop signal: exiting now (acknowledged data is already on disk)');
      forceResolve?.();
      return;
    }
    stopSignal = signal;
    logger.info({ signal }, 'stop requested: draining');
    wake?.();
  };
  let reloading: Promise<void> = Promise.resolve();
  const onHup = () => {
    if (state.phase !== 'running') {
      logger.warn('SIGHUP ignored: the service is not running yet (or is stopping)');
      return;
    }
    // One reload at a time, in signal order.
    reloading = reloading
      .then(() => reloadService(state, metricsRef.current))
      .then(
        () => {},
        (err: unknown) =>
          logger.error({ err: String(err) }, 'reload failed unexpectedly; the old config stays in force'),
      );
  };
  // A crash still gets one structured line (Node then exits non-zero and systemd restarts us).
  const onCrash = (err: Error, origin: string) =>
    logger.fatal({ err: err.message, stack: err.stack, origin }, `crashed: ${err.message}`);
  process.on('uncaughtExceptionMonitor', onCrash);
  process.on('SIGINT', onStop);
  process.on('SIGTERM', onStop);
  process.on('SIGHUP', onHup);
  const removeSignals = () => {
    process.off('SIGINT', onStop);
    process.off('SIGTERM', onStop);
    process.off('SIGHUP', onHup);
    process.off('uncaughtExceptionMonitor', onCrash);
  };

  const metricsRef: { current: ReturnType<typeof registerServiceMetrics> | undefined } = {
    current: undefined,
  };
  let lock: DataDirLock | undefined;
  let notifier: Notifier | undefined;
  let admin: AdminServer | undefined;
  let stopRetention: (() => void) | undefined;
  let statusTimer: NodeJS.Timeout | undefined;
  const dataDir = resolve(config.dataDir);

  let stepsTookMs: Record<string, number> = {};
  /** Stop steps in order (stop.ts): each awaited with its deadline; the log always closes. */
  const teardown = async (timeoutMs: number) => {
    const steps: StopStep[] = [
      {
        name: 'stopIngest',
        share: 0.6,
        run: async (budgetMs) => {
          if (!state.ingest) return;
          await state.ingest.stop({ timeoutMs: budgetMs });
          logger.info('ingest stopped: in-flight appends acknowledged');
        },
      },
      {
        name: 'stopMirror',
        reserveMs: Math.min(TAIL_RESERVE_MS, timeoutMs * 0.2),
        // The mirror enforces its own deadline (and reports what it holds); the step's is a backstop.
        run: (budgetMs) => state.mirror?.stop({ timeoutMs: Math.max(1, budgetMs - 200) }),
        holds: () => state.mirror?.holds() ?? [],
      },
      { name: 'closeAdmin', run: () => admin?.close() },
      { name: 'stopRetention', run: () => stopRetention?.() },
      { name: 'closeDevices', run: () => state.devices?.close() },
      {
        name: 'closeLog',
        run: async () => {
          if (!state.log) return;
          await state.log.close();
          logger.info('log closed');
        },
      },
    ];
    const report = await stopInOrder(steps, Date.now() + timeoutMs, logger);
    stepsTookMs = report.tookMs;
    if (report.late.length > 0 || report.failed.length > 0) {
      const late = report.late.map((l) => l.step);
      throw new Error(
        `stop incomplete: late ${late.join(', ') || '-'}; failed ${report.failed.join(', ') || '-'}`,
      );
    }
  };

  try {
    // step: checkDataDir, takeLock, checkPorts
    checkDataDirWritable(dataDir);
    lock = acquireDataDirLock(dataDir);
    await checkPortsFree(config);
    const modules = loadModules();

    // step: openLog (owner role) and the retention schedule
    state.log = await modules.openLog({ ...logOptionsFromConfig(config, 'owner'), dataDir });
    const log = state.log;
    logger.info({ path: dataDir, version: VERSION }, 'log open');
    logOpenedTopics(logger, state);

    const registry = createRegistry();
    const metrics = registerServiceMetrics(registry, {
      log,
      edgeId: config.edgeId,
      version: VERSION,
      startedAt,
      limits: () => state.config.log,
    });
    metricsRef.current = metrics;
    const startRetention = (cron: string) =>
      log.scheduleRetention(cron, (report) => {
        metrics.onRetention(report);
        const total = Object.values(report.deleted).reduce((a, b) => a + b, 0);
        if (total > 0 || report.heldByCursor.length > 0) {
          logger.info(
            { deleted: report.deleted, heldByCursor: report.heldByCursor },
            `retention deleted ${total} records`,
          );
        }
      });
    stopRetention = startRetention(config.log.retentionSchedule);
    state.restartRetention = (cron: string) => {
      stopRetention?.();
      stopRetention = startRetention(cron);
    };

    // step: openDevices, startIngest, startMirror
    state.devices = modules.openDevices(log, {
      throttle: config.mqtt.authThrottle,
      logger: logger.child({ module: 'devices' }),
      metrics: registry,
    });
    if (!stopSignal) {
      try {
        state.ingest = await modules.startIngest({
          config,
          log,
          devices: state.devices,
          logger,
          metrics: registry,
        });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          throw new OutpostError(
            'PORT_IN_USE',
            `an MQTT listener port is already in use: ${(err as Error).message}`,
            {
              cause: err,
            },
          );
        }
        throw err;
      }
      logger.info({ addresses: state.ingest.addresses() }, 'ingest listening');
    }
    if (!stopSignal) {
      state.mirror = config.mirror.thread
        ? await modules.startMirrorThread({
            config,
            log,
            dataDir,
            logger,
            metrics: registry,
            logging: {
              module: LOGGER_MODULE,
              format: resolveLogFormat(opts.logFormat ?? DEFAULT_LOG_FORMAT),
            },
            ...(opts.mirrorHooksModule ? { hooksModule: opts.mirrorHooksModule } : {}),
          })
        : await modules.startMirror({ config, log, logger, metrics: registry });
    }
    state.openOffsetIndex = modules.openOffsetIndex;
    registerMirrorStatusMetrics(registry, () => state.mirror?.status());

    // step: startAdmin, notifyReady
    admin = await startAdmin(state, registry);
    notifier = await openNotifier({
      onError: (err) => logger.warn({ err: err.message }, 'sd_notify failed'),
    });
    if (stopSignal) throw new Error(`stopped by ${stopSignal} during startup`);
    state.phase = 'running';
    const a = admin.address();
    logger.info(
      { http: `http://${a.host}:${a.port}/` },
      `outpost ready; status page at http://${a.host}:${a.port}/`,
    );
    notifier.ready(statusLine(state));
    notifier.startWatchdog();
    if (notifier.enabled) {
      const n = notifier;
      statusTimer = setInterval(() => n.status(statusLine(state)), STATUS_EVERY_MS);
      statusTimer.unref();
    }
    opts.onRunning?.({ registry, stop: () => onStop('SIGTERM') });

    // wait for SIGTERM/SIGINT
    if (!stopSignal)
      await new Promise<void>((r) => {
        wake = r;
      });
  } catch (err) {
    state.phase = 'stopping';
    if (stopSignal === null) {
      // A startup failure: clean up what was opened, then the CLI prints the one line.
      await teardown(config.service.shutdownTimeoutMs).catch(() => {});
      notifier?.close();
      lock?.release();
      removeSignals();
      if (isOutpostError(err)) logger.fatal(err.toLog(), err.message);
      throw err;
    }
    logger.warn({ err: String(err) }, 'startup interrupted by a stop signal');
  }

  // stop: bounded drain
  state.phase = 'stopping';
  clearInterval(statusTimer);
  notifier?.stopping('draining');
  const timeoutMs = state.config.service.shutdownTimeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    teardown(timeoutMs).then(
      () => 'drained' as const,
      (err: unknown) => {
        logger.error({ err: String(err) }, 'error while stopping');
        return 'error' as const;
      },
    ),
    forced.then(() => 'forced' as const),
    // Backstop only: every step is already bounded (closing steps get a floor past the budget).
    new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), timeoutMs + 10_000);
    }),
  ]);
  clearTimeout(timer);
  notifier?.close();
  lock?.release();
  removeSignals();
  if (outcome === 'drained') {
    // What still keeps the event loop alive now is a leak (expected: nothing). Handles closed a
    // moment ago (servers, sockets) finish closing in the loop's close phase: let that run first.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    // pino writes stdout asynchronously: its last lines in flight (an FSReqCallback) are ours, not
    // a leak; flush them first (bounded: a reader that stopped reading must not hold the stop).
    await new Promise<void>((r) => {
      const t = setTimeout(r, FLUSH_MS);
      logger.flush(() => {
        clearTimeout(t);
        r();
      });
    });
    logger.info(
      {
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        stepsMs: stepsTookMs,
        activeResources: activeResources(),
      },
      'stopped cleanly',
    );
    if (opts.hardExit !== false) {
      const watch = setTimeout(() => {
        logger.error(
          { activeResources: activeResources() },
          `still running ${EXIT_WATCH_MS} ms after a clean stop: exiting (a handle was not closed)`,
        );
        process.exit(EXIT_FORCED);
      }, EXIT_WATCH_MS);
      watch.unref();
    }
    return EXIT_OK;
  }
  logger.warn({ outcome, timeoutMs }, 'stopped without a full drain (acknowledged data is on disk)');
  if (opts.hardExit !== false) setTimeout(() => process.exit(EXIT_FORCED), 200).unref();
  return EXIT_FORCED;
}
