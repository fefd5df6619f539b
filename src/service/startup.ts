/**
 * The service's start steps (run.ts orders them) and its stop steps. Everything a step opens is
 * kept in `Held` or the ServiceState, so the teardown can close whatever was opened, however far
 * the startup got.
 */

import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { OutpostError } from '../errors.ts';
import type { PartitionedLog } from '../log/index.ts';
import { commandMetrics } from '../mirror/index.ts';
import type { loadModules } from './components.ts';
import { type AdminServer, startAdmin } from './http/server.ts';
import type { DataDirLock } from './lock.ts';
import { logOptionsFromConfig } from './log-options.ts';
import { DEFAULT_LOG_FORMAT, LOGGER_MODULE, type LogFormat, resolveLogFormat } from './logger.ts';
import { createRegistry, registerMirrorStatusMetrics, registerServiceMetrics } from './metrics.ts';
import { type Notifier, openNotifier } from './notify.ts';
import type { StopSignals } from './signals.ts';
import type { ServiceState } from './state.ts';
import { type StopStep, stopInOrder } from './stop.ts';
import { VERSION } from './version.ts';

type Modules = ReturnType<typeof loadModules>;

/** What the start steps opened outside the ServiceState. */
export interface Held {
  lock?: DataDirLock;
  notifier?: Notifier;
  admin?: AdminServer;
  stopRetention?: () => void;
  statusTimer?: NodeJS.Timeout;
  metrics?: ReturnType<typeof registerServiceMetrics>;
}

const STATUS_EVERY_MS = 10_000;
/** Of the stop budget, what the closing steps after the mirror keep for themselves. */
const TAIL_RESERVE_MS = 2_000;

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

/** step: openLog (owner role), the service metrics and the retention schedule. */
export async function openLogStep(
  state: ServiceState,
  modules: Modules,
  held: Held,
): Promise<{ log: PartitionedLog; registry: Registry }> {
  const { config, logger } = state;
  const dataDir = state.dataDir;
  state.log = await modules.openLog({ ...logOptionsFromConfig(config, 'owner'), dataDir });
  const log = state.log;
  logger.info({ path: dataDir, version: VERSION }, 'log open');
  logOpenedTopics(logger, state);

  const registry = createRegistry();
  const metrics = registerServiceMetrics(registry, {
    log,
    edgeId: config.edgeId,
    version: VERSION,
    startedAt: state.startedAt,
    limits: () => state.config.log,
  });
  held.metrics = metrics;
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
  held.stopRetention = startRetention(config.log.retentionSchedule);
  state.restartRetention = (cron: string) => {
    held.stopRetention?.();
    held.stopRetention = startRetention(cron);
  };
  return { log, registry };
}

export interface ModuleOptions {
  logFormat?: LogFormat;
  mirrorHooksModule?: string;
}

/** steps: openDevices, startIngest, startMirror (each skipped once a stop signal came). */
export async function startModulesStep(
  state: ServiceState,
  modules: Modules,
  log: PartitionedLog,
  registry: Registry,
  opts: ModuleOptions,
  signals: StopSignals,
): Promise<void> {
  const { config, logger } = state;
  state.devices = modules.openDevices(log, {
    throttle: config.mqtt.authThrottle,
    logger: logger.child({ module: 'devices' }),
    metrics: registry,
  });
  if (!signals.signal) {
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
  if (!signals.signal) {
    const format = resolveLogFormat(opts.logFormat ?? DEFAULT_LOG_FORMAT);
    state.mirror = config.mirror.thread
      ? await modules.startMirrorThread({
          config,
          log,
          dataDir: state.dataDir,
          logger,
          metrics: registry,
          logging: { module: LOGGER_MODULE, format },
          ...(opts.mirrorHooksModule ? { hooksModule: opts.mirrorHooksModule } : {}),
        })
      : await modules.startMirror({ config, log, logger, metrics: registry });
  }
  state.openOffsetIndex = modules.openOffsetIndex;
  registerMirrorStatusMetrics(registry, () => state.mirror?.status());
  if (!signals.signal) startCommandsStep(state, modules, log, registry);
}

/**
 * step: startCommands. Metrics are registered either way (/metrics, the metrics reference). With
 * commands.enabled and no downlink from ingest the service refuses to start: a gateway that is
 * configured to deliver commands must not run while it silently cannot.
 */
function startCommandsStep(
  state: ServiceState,
  modules: Modules,
  log: PartitionedLog,
  registry: Registry,
): void {
  const { config, logger } = state;
  commandMetrics(registry);
  if (!config.commands.enabled) return;
  const downlink = state.ingest ? modules.downlinkOf(state.ingest) : null;
  if (downlink === null) {
    throw new OutpostError(
      'COMMANDS_NO_DOWNLINK',
      'commands.enabled is true, but the MQTT ingest offers no downlink to deliver commands (mqtt.sessions.enabled must be true)',
    );
  }
  state.commands = modules.startCommands({
    config,
    log,
    downlink,
    logger,
    metrics: registry,
    ...(state.devices ? { devices: state.devices } : {}),
  });
  logger.info({ clusters: config.commands.clusters }, 'command consumer started');
}

/** steps: startAdmin, notifyReady (READY=1, the watchdog, STATUS= every 10 s). */
export async function announceStep(
  state: ServiceState,
  held: Held,
  registry: Registry,
  signals: StopSignals,
): Promise<void> {
  const { logger } = state;
  held.admin = await startAdmin(state, registry);
  held.notifier = await openNotifier({
    onError: (err) => logger.warn({ err: err.message }, 'sd_notify failed'),
  });
  if (signals.signal) {
    throw new OutpostError('STOPPED_DURING_STARTUP', `stopped by ${signals.signal} during startup`);
  }
  state.phase = 'running';
  const a = held.admin.address();
  logger.info(
    { http: `http://${a.host}:${a.port}/` },
    `outpost ready; status page at http://${a.host}:${a.port}/`,
  );
  const n = held.notifier;
  n.ready(statusLine(state));
  n.startWatchdog();
  if (n.enabled) {
    held.statusTimer = setInterval(() => n.status(statusLine(state)), STATUS_EVERY_MS);
    held.statusTimer.unref();
  }
}

/**
 * The stop steps in order (stop.ts), each awaited with its deadline; the log always closes.
 * Resolves with how long each step took; rejects with SHUTDOWN_INCOMPLETE naming the late and failed ones.
 */
export async function teardown(
  state: ServiceState,
  held: Held,
  timeoutMs: number,
): Promise<Record<string, number>> {
  const { logger } = state;
  const steps: StopStep[] = [
    {
      // First: no command is handed to ingest while it stops (the one being delivered finishes).
      name: 'stopCommands',
      share: 0.2,
      run: (budgetMs) => state.commands?.stop({ timeoutMs: Math.max(1, budgetMs - 100) }),
    },
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
    { name: 'closeAdmin', run: () => held.admin?.close() },
    { name: 'stopRetention', run: () => held.stopRetention?.() },
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
  if (report.late.length > 0 || report.failed.length > 0) {
    const late = report.late.map((l) => l.step);
    throw new OutpostError(
      'SHUTDOWN_INCOMPLETE',
      `stop incomplete: late ${late.join(', ') || '-'}; failed ${report.failed.join(', ') || '-'}`,
      { reason: 'stop steps late or failed' },
    );
  }
  return report.tookMs;
}
