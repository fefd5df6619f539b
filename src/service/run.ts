/**
 * The service lifecycle, as named steps:
 *
 *   start: loadConfig → checkDataDir → takeLock → checkPorts → openLog → scheduleRetention
 *          → openDevices → startIngest → startMirror (in its own thread unless mirror.thread is
 *          false) → startCommands (commands.enabled; refused without an ingest downlink)
 *          → startAdmin → notifyReady
 *   stop (SIGTERM/SIGINT): notifyStopping → stopCommands → stopIngest (stop accepting, finish + PUBACK in-flight
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
import { isOutpostError } from '../errors.ts';
import { checkDataDirWritable, checkPortsFree } from './checks.ts';
import { loadModules } from './components.ts';
import { acquireDataDirLock } from './lock.ts';
import { createLogger, DEFAULT_LOG_FORMAT, type LogFormat } from './logger.ts';
import { reloadService } from './reload.ts';
import { installSignals, type StopSignals, serialReloads } from './signals.ts';
import { announceStep, type Held, openLogStep, startModulesStep, teardown } from './startup.ts';
import type { ServiceState } from './state.ts';
import { activeResources } from './stop.ts';
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

export const EXIT_OK = 0;
export const EXIT_FORCED = 1;

/** After "stopped cleanly" nothing may keep the process alive; if something does, say what and exit. */
const EXIT_WATCH_MS = 5_000;
/** Before the "stopped cleanly" line takes its snapshot of active handles. */
const SETTLE_MS = 50;
/** Bound on flushing the log lines still being written to stdout before that snapshot. */
const FLUSH_MS = 2_000;

/** Runs until SIGTERM/SIGINT; resolves with the process exit code. Startup failures throw OutpostError. */
export async function runService(opts: RunServiceOptions): Promise<number> {
  const startedAt = Date.now();
  const configPath = resolve(opts.configPath);
  const config = await loadConfig(configPath); // CONFIG_INVALID/UNREADABLE: one line per issue
  const logger = createLogger(config, opts.logFormat ?? DEFAULT_LOG_FORMAT);
  const dataDir = resolve(config.dataDir);
  const state: ServiceState = {
    config,
    configPath,
    dataDir,
    version: VERSION,
    startedAt,
    logger,
    phase: 'starting',
  };
  const held: Held = {};
  const onHup = serialReloads(
    logger,
    () => state.phase === 'running',
    () => reloadService(state, held.metrics),
  );
  const signals = installSignals(logger, onHup);
  const release = () => {
    held.notifier?.close();
    held.lock?.release();
    signals.remove();
  };

  try {
    // steps: checkDataDir, takeLock, checkPorts, openLog, openDevices, startIngest, startMirror,
    // startAdmin, notifyReady
    checkDataDirWritable(dataDir);
    held.lock = acquireDataDirLock(dataDir);
    await checkPortsFree(config);
    const modules = loadModules();
    const { log, registry } = await openLogStep(state, modules, held);
    await startModulesStep(state, modules, log, registry, opts, signals);
    await announceStep(state, held, registry, signals);
    opts.onRunning?.({ registry, stop: () => signals.stop() });
    await signals.requested(); // wait for SIGTERM/SIGINT
  } catch (err) {
    state.phase = 'stopping';
    if (signals.signal === null) {
      // A startup failure: clean up what was opened, then the CLI prints the one line.
      await teardown(state, held, config.service.shutdownTimeoutMs).catch(() => {});
      release();
      if (isOutpostError(err)) logger.fatal(err.toLog(), err.message);
      throw err;
    }
    logger.warn({ err: String(err) }, 'startup interrupted by a stop signal');
  }
  const outcome = await drain(state, held, signals);
  release();
  if (outcome.result === 'drained') return stoppedCleanly(logger, startedAt, outcome.tookMs, opts);
  const timeoutMs = state.config.service.shutdownTimeoutMs;
  logger.warn(
    { outcome: outcome.result, timeoutMs },
    'stopped without a full drain (acknowledged data is on disk)',
  );
  if (opts.hardExit !== false) setTimeout(() => process.exit(EXIT_FORCED), 200).unref();
  return EXIT_FORCED;
}

/** stop: the bounded drain, raced against a second signal and a backstop timer. */
async function drain(
  state: ServiceState,
  held: Held,
  signals: StopSignals,
): Promise<{ result: 'drained' | 'error' | 'forced' | 'timeout'; tookMs: Record<string, number> }> {
  state.phase = 'stopping';
  clearInterval(held.statusTimer);
  held.notifier?.stopping('draining');
  const timeoutMs = state.config.service.shutdownTimeoutMs;
  let tookMs: Record<string, number> = {};
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    teardown(state, held, timeoutMs).then(
      (took) => {
        tookMs = took;
        return 'drained' as const;
      },
      (err: unknown) => {
        state.logger.error({ err: String(err) }, 'error while stopping');
        return 'error' as const;
      },
    ),
    signals.forced.then(() => 'forced' as const),
    // Backstop only: every step is already bounded (closing steps get a floor past the budget).
    new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), timeoutMs + 10_000);
    }),
  ]);
  clearTimeout(timer);
  return { result, tookMs };
}

/** After a full drain: log "stopped cleanly" with what still holds the event loop (expected: nothing). */
async function stoppedCleanly(
  logger: Logger,
  startedAt: number,
  stepsMs: Record<string, number>,
  opts: RunServiceOptions,
): Promise<number> {
  // Handles closed a moment ago (servers, sockets) finish closing in the loop's close phase: let
  // that run first.
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
      stepsMs,
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
