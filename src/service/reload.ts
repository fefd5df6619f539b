/**
 * SIGHUP reload, as named steps:
 *
 *   readConfig → refuse if invalid (old config stays) → noteRestartOnly → reconfigureLog
 *   → setCommitPolicy → setLogLevel → restartRetention → devicesThrottle → ingest.reload
 *   → mirror.reload
 *
 * Nothing here closes a connection. Settings that only a restart can change (listeners, dataDir,
 * http, edgeId, mirror.thread, commands, log.maxRecordBytes and log.minFreeBytes, the set of mirror clusters
 * and how to reach them) are logged as "needs restart" and
 * kept at their running values, so /v1/status shows what is really in force.
 */

import { resolve } from 'node:path';
import { type Config, loadConfig } from '../config/index.ts';
import { isOutpostError } from '../errors.ts';
import { logTopicSpecs } from './log-options.ts';

import type { ServiceMetrics } from './metrics.ts';
import type { ServiceState } from './state.ts';

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function clusterReach(c: Config['mirror']['clusters'][string]) {
  return { bootstrap: c.bootstrap, tls: c.tls, sasl: c.sasl };
}

/** Paths whose change needs a restart, and the config with those kept at their running values. */
export function restartOnly(old: Config, next: Config): { paths: string[]; effective: Config } {
  const paths: string[] = [];
  if (!same(old.mqtt.listeners, next.mqtt.listeners)) paths.push('mqtt.listeners');
  if (resolve(old.dataDir) !== resolve(next.dataDir)) paths.push('dataDir');
  if (!same(old.http, next.http)) paths.push('http');
  if (old.edgeId !== next.edgeId) paths.push('edgeId');
  // The log reads these once, at open (the metrics and /v1/status show the running values).
  for (const k of ['maxRecordBytes', 'minFreeBytes'] as const) {
    if (old.log[k] !== next.log[k]) paths.push(`log.${k}`);
  }
  const oldClusters = Object.keys(old.mirror.clusters).sort();
  const clustersChanged =
    !same(oldClusters, Object.keys(next.mirror.clusters).sort()) ||
    oldClusters.some((k) => {
      const o = old.mirror.clusters[k];
      const n = next.mirror.clusters[k];
      return !o || !n || !same(clusterReach(o), clusterReach(n));
    });
  if (clustersChanged) paths.push('mirror.clusters (added, removed, bootstrap, tls or sasl)');
  if (old.mirror.thread !== next.mirror.thread) paths.push('mirror.thread');
  // The command consumer reads its settings once, at start.
  if (!same(old.commands, next.commands)) paths.push('commands');
  // A running link protects its cursors and picks its partitions at start: `required` and `topics`
  // take a restart (kept at their running values, so /v1/status never claims a protection not in force).
  for (const k of oldClusters) {
    const o = old.mirror.clusters[k];
    const n = next.mirror.clusters[k];
    if (!o || !n) continue;
    if (o.required !== n.required) paths.push(`mirror.clusters.${k}.required`);
    if (!same(o.topics, n.topics)) paths.push(`mirror.clusters.${k}.topics`);
  }
  // Mirror links pick their partitions at start: a topic added (or grown) by a reload is stored
  // at once but mirrored only from the next start (and its records have no mirror cursor until then).
  if (oldClusters.length > 0) {
    for (const [t, spec] of Object.entries(next.log.topics)) {
      const had = old.log.topics[t]?.partitions ?? 0;
      if (spec.partitions > had) paths.push(`log.topics.${t}.partitions (mirroring of new partitions)`);
    }
  }
  const clusters = Object.fromEntries(
    oldClusters.map((k) => {
      const o = old.mirror.clusters[k] as Config['mirror']['clusters'][string];
      const n = next.mirror.clusters[k];
      return [k, n ? { ...n, ...clusterReach(o), required: o.required, topics: o.topics } : o];
    }),
  );
  const effective: Config = {
    ...next,
    edgeId: old.edgeId,
    dataDir: old.dataDir,
    http: old.http,
    mqtt: { ...next.mqtt, listeners: old.mqtt.listeners },
    log: { ...next.log, maxRecordBytes: old.log.maxRecordBytes, minFreeBytes: old.log.minFreeBytes },
    mirror: { ...next.mirror, clusters: clusters, thread: old.mirror.thread },
    commands: old.commands,
  };
  return { paths, effective };
}

/** The group-commit window and size apply from the log's next commit (no restart). */
function setCommitPolicy(state: ServiceState, old: Config, next: Config): void {
  const { commitWindowMs, commitMaxBytes } = next.log;
  if (commitWindowMs === old.log.commitWindowMs && commitMaxBytes === old.log.commitMaxBytes) return;
  state.log?.setCommitPolicy({ windowMs: commitWindowMs, maxBytes: commitMaxBytes });
  state.logger.info(
    {
      commitWindowMs,
      commitMaxBytes,
      previous: { commitWindowMs: old.log.commitWindowMs, commitMaxBytes: old.log.commitMaxBytes },
    },
    `log commit policy changed: window ${commitWindowMs} ms, maxBytes ${commitMaxBytes}, from the next commit`,
  );
}

/** Returns true when the new config is in force. Never throws for a bad config: it is refused. */
export async function reloadService(
  state: ServiceState,
  metrics: ServiceMetrics | undefined,
): Promise<boolean> {
  const { logger } = state;
  logger.info({ path: state.configPath }, 'SIGHUP: reloading config');
  let next: Config;
  try {
    next = await loadConfig(state.configPath);
  } catch (err) {
    const fields = isOutpostError(err) ? err.toLog() : { err: String(err) };
    const message = (err as Error).message.replace(/\n\s*/g, '; ');
    logger.error(fields, `reload refused: ${message}; the old config stays in force`);
    metrics?.onReload('invalid');
    return false;
  }
  const old = state.config;
  const { paths, effective } = restartOnly(old, next);
  for (const path of paths) {
    logger.warn({ reason: 'needs-restart', path }, `config change to ${path} needs a restart to take effect`);
  }
  try {
    // The log can refuse (PARTITION_SHRINK): then nothing else changes either.
    await state.log?.reconfigure(logTopicSpecs(effective), {
      maxBytes: effective.log.maxBytes,
      onFull: effective.log.onFull,
    });
  } catch (err) {
    const fields = isOutpostError(err) ? err.toLog() : { err: String(err) };
    logger.error(fields, `reload refused: ${(err as Error).message}; the old config stays in force`);
    metrics?.onReload('invalid');
    return false;
  }
  try {
    setCommitPolicy(state, old, effective);
    if (old.logging.level !== effective.logging.level) {
      logger.level = effective.logging.level; // pino children follow their parent's level
      logger.info({ logLevel: effective.logging.level }, 'log level changed');
    }
    if (old.log.retentionSchedule !== effective.log.retentionSchedule) {
      state.restartRetention?.(effective.log.retentionSchedule);
    }
    state.devices?.setThrottle(effective.mqtt.authThrottle);
    state.ingest?.reload(effective);
    state.mirror?.reload(effective);
  } catch (err) {
    state.config = effective;
    logger.error({ err: String(err) }, 'reload partly applied: a module refused its new settings');
    metrics?.onReload('error');
    return false;
  }
  state.config = effective;
  metrics?.onReload('ok');
  logger.info({ needsRestart: paths }, 'config reloaded');
  return true;
}
