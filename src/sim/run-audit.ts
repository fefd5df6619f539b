import type { Config } from '../config/index.ts';
import { OutpostError } from '../errors.ts';
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
  /** Log topics (default: every topic of the config). */
  topics?: string[];
  maxExamples?: number;
}

/** Mirror topic naming (MM2 DefaultReplicationPolicy, as src/mirror names them): "<edgeId>.<topic>". */
export function remoteTopicName(edgeId: string, topic: string): string {
  return `${edgeId}.${topic}`;
}

function setup(config: Config, opts: AuditRunOptions): { topics: string[]; auditor: Auditor } {
  const topics = opts.topics ?? Object.keys(config.log.topics);
  for (const t of topics) {
    if (config.log.topics[t] === undefined) {
      throw new OutpostError('UNKNOWN_TOPIC', `no topic "${t}" in the config`, { topic: t });
    }
  }
  const auditor = new Auditor({
    ...(opts.acked ? { acked: opts.acked } : {}),
    ...(opts.run !== undefined ? { run: opts.run } : {}),
    maxExamples: opts.maxExamples ?? 5,
  });
  return { topics, auditor };
}

/** Audits the edge log of `config` (opened as a reader: safe while the service runs). */
export async function auditEdge(config: Config, opts: AuditRunOptions = {}): Promise<AuditRun> {
  const { topics, auditor } = setup(config, opts);
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
  const { topics, auditor } = setup(config, opts);
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
