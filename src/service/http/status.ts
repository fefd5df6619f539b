/** The /v1/status JSON: one snapshot of the gateway, also what the status page renders. */
import type { ServiceState } from '../state.ts';

export interface PartitionStatus {
  partition: number;
  startOffset: number;
  endOffset: number;
  records: number;
  bytes: number;
  oldestTimestamp: number | null;
}

export interface TopicStatus {
  topic: string;
  records: number;
  bytes: number;
  partitions: PartitionStatus[];
}

export interface ServiceStatus {
  edgeId: string;
  version: string;
  phase: ServiceState['phase'];
  ready: boolean;
  startedAt: string;
  uptimeSeconds: number;
  now: string;
  log: {
    fileBytes: number;
    usedBytes: number;
    maxBytes: number;
    diskFreeBytes: number;
    droppedRecords: number;
    full: boolean;
  } | null;
  topics: TopicStatus[];
  ingest: unknown;
  mirror: unknown;
  /** The command consumer (CommandConsumer.status()), null while commands are off. */
  commands: unknown;
}

/** Ready to ingest: running, the log accepts appends, and ingest (when present) says it is ready. */
export function isReady(state: ServiceState): boolean {
  if (state.phase !== 'running' || !state.log) return false;
  if (state.log.stats().full) return false;
  return state.ingest ? state.ingest.ready() : true;
}

export function buildStatus(state: ServiceState): ServiceStatus {
  const now = Date.now();
  const topics = new Map<string, TopicStatus>();
  const log = state.log;
  if (log) {
    for (const name of log.topicNames())
      topics.set(name, { topic: name, records: 0, bytes: 0, partitions: [] });
    for (const p of log.partitions()) {
      let t = topics.get(p.topic);
      if (!t) {
        t = { topic: p.topic, records: 0, bytes: 0, partitions: [] };
        topics.set(p.topic, t);
      }
      t.records += p.records;
      t.bytes += p.bytes;
      t.partitions.push({
        partition: p.partition,
        startOffset: p.startOffset,
        endOffset: p.endOffset,
        records: p.records,
        bytes: p.bytes,
        oldestTimestamp: p.oldestTimestamp,
      });
    }
  }
  const stats = log?.stats();
  return {
    edgeId: state.config.edgeId,
    version: state.version,
    phase: state.phase,
    ready: isReady(state),
    startedAt: new Date(state.startedAt).toISOString(),
    uptimeSeconds: Math.floor((now - state.startedAt) / 1000),
    now: new Date(now).toISOString(),
    log: stats
      ? {
          fileBytes: stats.fileBytes,
          usedBytes: stats.usedBytes,
          maxBytes: state.config.log.maxBytes,
          diskFreeBytes: stats.diskFreeBytes,
          droppedRecords: stats.droppedRecords,
          full: stats.full,
        }
      : null,
    topics: [...topics.values()].map((t) => ({
      ...t,
      partitions: t.partitions.sort((a, b) => a.partition - b.partition),
    })),
    ingest: state.ingest ? state.ingest.status() : null,
    mirror: state.mirror ? state.mirror.status() : null,
    commands: state.commands ? state.commands.status() : null,
  };
}
