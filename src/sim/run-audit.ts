import type { Config } from '../config/index.ts';
import { OutpostError } from '../errors.ts';
import { compileRoutes, matchRoute } from '../ingest/index.ts';
import type { AckedRecord } from './acked-file.ts';
import { Auditor, type AuditReport } from './audit.ts';
import { openEdgeLogReader } from './register.ts';
import { readCluster, readEdgeLog, type SourceStats } from './sources.ts';

export interface AuditRun {
  source: string;
  report: AuditReport;
  read: SourceStats['partitions'];
}

export interface AuditRunOptions {
  acked?: AckedRecord;
  run?: string;
  /** Log topics (default: every topic of the config; for a cluster, the topics it mirrors). */
  topics?: string[];
  maxExamples?: number;
}

/** Mirror topic naming (MM2 DefaultReplicationPolicy, as src/mirror names them): "<edgeId>.<topic>". */
export function remoteTopicName(edgeId: string, topic: string): string {
  return `${edgeId}.${topic}`;
}

/** Glob over topic names: "*" matches any run of characters (mirror include/exclude patterns). */
function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(name);
}

/** The log topics a cluster mirrors: its include patterns minus its exclude patterns. */
export function mirroredTopics(config: Config, alias: string): string[] {
  const c = config.mirror.clusters[alias];
  const all = Object.keys(config.log.topics);
  if (!c) return all;
  return all.filter(
    (t) => c.topics.include.some((p) => globMatch(p, t)) && !c.topics.exclude.some((p) => globMatch(p, t)),
  );
}

/**
 * Which acknowledged seqs the audited topics should hold: the acked file says which MQTT topic
 * each seq was published to; the config's routes say which log topic that lands in.
 */
function scopeOf(config: Config, acked: AckedRecord | undefined, topics: readonly string[]) {
  if (!acked || topics.length === Object.keys(config.log.topics).length) return undefined;
  const routes = compileRoutes(config.routes);
  const wanted = new Set(topics);
  const cache = new Map<string, boolean>();
  const routedHere = (mqttTopic: string): boolean => {
    let hit = cache.get(mqttTopic);
    if (hit === undefined) {
      const logTopic = matchRoute(routes, mqttTopic)?.route.topic ?? config.unrouted;
      hit = logTopic !== null && wanted.has(logTopic);
      cache.set(mqttTopic, hit);
    }
    return hit;
  };
  return (deviceId: string, seq: number): boolean => {
    const d = acked.devices.get(deviceId);
    const c = d?.topicOf?.[seq - 1];
    const t = c === undefined ? undefined : d?.topics?.[Number.parseInt(c, 36)];
    return t === undefined ? true : routedHere(t);
  };
}

function setup(
  config: Config,
  opts: AuditRunOptions,
  defaultTopics: string[],
): { topics: string[]; auditor: Auditor } {
  const topics = opts.topics ?? defaultTopics;
  for (const t of topics) {
    if (config.log.topics[t] === undefined) {
      throw new OutpostError('UNKNOWN_TOPIC', `no topic "${t}" in the config`, { topic: t });
    }
  }
  const inScope = scopeOf(config, opts.acked, topics);
  const auditor = new Auditor({
    ...(opts.acked ? { acked: opts.acked } : {}),
    ...(opts.run !== undefined ? { run: opts.run } : {}),
    ...(inScope ? { inScope } : {}),
    maxExamples: opts.maxExamples ?? 5,
  });
  return { topics, auditor };
}

/** Audits the edge log of `config` (opened as a reader: safe while the service runs). */
export async function auditEdge(config: Config, opts: AuditRunOptions = {}): Promise<AuditRun> {
  const { topics, auditor } = setup(config, opts, Object.keys(config.log.topics));
  const log = await openEdgeLogReader(config);
  try {
    const stats = readEdgeLog(log, topics, auditor);
    return {
      source: `edge log ${config.edgeId} (${topics.join(', ')})`,
      report: auditor.finish(),
      read: stats.partitions,
    };
  } finally {
    await log.close();
  }
}

/** Audits the topics mirrored to cluster `alias` with a read_committed consumer. */
export async function auditCluster(
  config: Config,
  alias: string,
  opts: AuditRunOptions & { bootstrap?: string[]; idleMs?: number } = {},
): Promise<AuditRun> {
  const bootstrap = opts.bootstrap ?? config.mirror.clusters[alias]?.bootstrap;
  if (bootstrap === undefined) {
    throw new OutpostError('USAGE', `cluster "${alias}" is not in the config; give its bootstrap servers`, {
      cluster: alias,
    });
  }
  const { topics, auditor } = setup(config, opts, mirroredTopics(config, alias));
  const remote = topics.map((t) => remoteTopicName(config.edgeId, t));
  const stats = await readCluster(
    { bootstrap, topics: remote, idleMs: opts.idleMs ?? 10_000, clientId: `outpost-audit-${config.edgeId}` },
    auditor,
  );
  return {
    source: `cluster ${alias} (${remote.join(', ')})`,
    report: auditor.finish(),
    read: stats.partitions,
  };
}
