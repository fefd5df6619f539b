/**
 * The service's own metrics on the shared registry: log (per partition and whole-log), process
 * (prom-client defaults, `outpost_` prefix), and lifecycle. Ingest and mirror register their own.
 * Values are read from the log at scrape time (collect), so they are never stale.
 */
import { readFileSync } from 'node:fs';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { PartitionedLog, RetentionReport } from '../log/index.ts';

export interface ServiceMetrics {
  registry: Registry;
  onRetention(report: RetentionReport): void;
  onReload(result: 'ok' | 'invalid' | 'error'): void;
}

export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'outpost_' });
  registerDiskWriteMetric(registry);
  return registry;
}

/**
 * Bytes this process has caused to be written to storage: `write_bytes` of /proc/self/io (Linux),
 * summed over its threads, the log's commits included. The kernel counts a page when it is
 * dirtied, so it is what the flash is asked to write before the filesystem's own journal. Null
 * where the file is missing or unreadable (not Linux, or a kernel without task I/O accounting).
 */
export function processWriteBytes(path = '/proc/self/io'): number | null {
  try {
    const m = /^write_bytes:\s+(\d+)$/m.exec(readFileSync(path, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * `outpost_process_disk_write_bytes_total`, so an operator can watch flash wear: rate() of it is
 * bytes per second written; divided by rate(outpost_ingest_messages_total), bytes per message.
 * Registered only where /proc/self/io is readable, so a missing source is an absent series, not 0.
 */
function registerDiskWriteMetric(registry: Registry): void {
  if (processWriteBytes() === null) return;
  new Counter({
    name: 'outpost_process_disk_write_bytes_total',
    help: 'Bytes this process caused to be written to storage since it started (write_bytes of /proc/self/io).',
    registers: [registry],
    collect() {
      const v = processWriteBytes();
      if (v === null) return;
      this.reset();
      this.inc(v);
    },
  });
}

type Partition = ReturnType<PartitionedLog['partitions']>[number];
type LogStats = ReturnType<PartitionedLog['stats']>;
const PARTITION_LABELS = ['topic', 'partition'] as const;

/** Per-partition gauges: offsets, records, stored and raw bytes, age of the oldest record. */
function registerPartitionGauges(registry: Registry, log: PartitionedLog): void {
  const perPartition = (name: string, help: string, pick: (p: Partition, now: number) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: PARTITION_LABELS,
      registers: [registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const p of log.partitions()) {
          const v = pick(p, now);
          if (v !== null) this.set({ topic: p.topic, partition: String(p.partition) }, v);
        }
      },
    });
  perPartition(
    'outpost_log_start_offset',
    'First offset still stored in the partition.',
    (p) => p.startOffset,
  );
  perPartition(
    'outpost_log_end_offset',
    'Offset the next append to the partition gets (log end offset).',
    (p) => p.endOffset,
  );
  perPartition('outpost_log_records', 'Records stored in the partition (end - start).', (p) => p.records);
  perPartition('outpost_log_partition_bytes', 'Encoded bytes stored for the partition.', (p) => p.bytes);
  perPartition(
    'outpost_log_partition_raw_bytes',
    'Uncompressed record-v2 bytes of what the partition stores (compare outpost_log_partition_bytes).',
    (p) => p.rawBytes,
  );
  perPartition(
    'outpost_log_oldest_record_age_seconds',
    'Age of the oldest stored record (absent when empty).',
    (p, now) => (p.oldestTimestamp === null ? null : Math.max(0, (now - p.oldestTimestamp) / 1000)),
  );
}

/** Flash wear: what a commit costs, and what the process wrote per stored record. */
function registerFlashWearMetrics(registry: Registry, log: PartitionedLog): void {
  new Counter({
    name: 'outpost_log_commits_total',
    help: 'LMDB commits that stored record batches, since start (each fsynced; fewer per record means less flash wear).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(log.stats().commits);
    },
  });
  new Counter({
    name: 'outpost_log_appended_records_total',
    help: 'Records stored by the log since start (what outpost_log_commits_total committed).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(log.stats().appendedRecords);
    },
  });
  if (processWriteBytes() === null) return;
  new Gauge({
    name: 'outpost_process_disk_write_bytes_per_appended_record',
    help: 'Bytes this process wrote to storage per record the log stored, since start (flash wear per message; absent before the first record).',
    registers: [registry],
    collect() {
      this.reset();
      const v = processWriteBytes();
      const n = log.stats().appendedRecords;
      if (v !== null && n > 0) this.set(v / n);
    },
  });
}

/** The disk budget: file, used and free bytes, the configured limits, full, and drop-oldest deletions. */
function registerDiskBudgetMetrics(
  registry: Registry,
  log: PartitionedLog,
  limits: (() => { maxBytes: number; minFreeBytes: number }) | undefined,
): void {
  const whole = (name: string, help: string, pick: (s: LogStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(pick(log.stats()));
      },
    });
  whole('outpost_log_file_bytes', 'Size of the LMDB data file (bytes).', (s) => s.fileBytes);
  whole('outpost_log_used_bytes', 'Bytes in use by pages inside the LMDB data file.', (s) => s.usedBytes);
  whole(
    'outpost_log_disk_free_bytes',
    'Free bytes on the filesystem holding the data dir.',
    (s) => s.diskFreeBytes,
  );
  if (limits) {
    new Gauge({
      name: 'outpost_log_max_bytes',
      help: 'The disk budget log.maxBytes (compare outpost_log_used_bytes).',
      registers: [registry],
      collect() {
        this.set(limits().maxBytes);
      },
    });
    new Gauge({
      name: 'outpost_log_min_free_bytes',
      help: 'log.minFreeBytes: below this much free disk the log is full (compare outpost_log_disk_free_bytes).',
      registers: [registry],
      collect() {
        this.set(limits().minFreeBytes);
      },
    });
  }
  whole('outpost_log_full', '1 when appends are refused with LOG_FULL right now.', (s) => (s.full ? 1 : 0));
  new Counter({
    name: 'outpost_log_dropped_records_total',
    help: 'Records deleted by the onFull "drop-oldest" policy (durable across restarts).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(log.stats().droppedRecords);
    },
  });
}

/** Retention runs: records deleted per partition, partitions held back by a protected cursor. */
function registerRetentionMetrics(registry: Registry): ServiceMetrics['onRetention'] {
  const retention = new Counter({
    name: 'outpost_log_retention_deleted_records_total',
    help: 'Records deleted by retention (time or size) since start.',
    labelNames: PARTITION_LABELS,
    registers: [registry],
  });
  const held = new Gauge({
    name: 'outpost_log_retention_held_partitions',
    help: 'Partitions where a protected cursor (an unmirrored required cluster) held retention back at the last run.',
    registers: [registry],
  });
  return (report) => {
    for (const [key, n] of Object.entries(report.deleted)) {
      const cut = key.lastIndexOf('/');
      retention.inc({ topic: key.slice(0, cut), partition: key.slice(cut + 1) }, n);
    }
    held.set(report.heldByCursor.length);
  };
}

/** Lifecycle: build info, uptime, SIGHUP reloads by result. */
function registerLifecycleMetrics(
  registry: Registry,
  deps: { edgeId: string; version: string; startedAt: number },
): ServiceMetrics['onReload'] {
  new Gauge({
    name: 'outpost_build_info',
    help: 'Always 1; labels carry the version and gateway id.',
    labelNames: ['version', 'edge_id'],
    registers: [registry],
  }).set({ version: deps.version, edge_id: deps.edgeId }, 1);
  new Gauge({
    name: 'outpost_uptime_seconds',
    help: 'Seconds since the service started.',
    registers: [registry],
    collect() {
      this.set((Date.now() - deps.startedAt) / 1000);
    },
  });
  const reloads = new Counter({
    name: 'outpost_config_reloads_total',
    help: 'SIGHUP reloads by result (ok, invalid: refused and old config kept, error).',
    labelNames: ['result'],
    registers: [registry],
  });
  return (result) => {
    reloads.inc({ result });
  };
}

/** The log's gauges and counters (per partition, flash wear, disk budget, retention) and the lifecycle ones. */
export function registerServiceMetrics(
  registry: Registry,
  deps: {
    log: PartitionedLog;
    edgeId: string;
    version: string;
    startedAt: number;
    /** The log's configured disk limits (follow a SIGHUP reload), for the near-budget alert. */
    limits?: () => { maxBytes: number; minFreeBytes: number };
  },
): ServiceMetrics {
  registerPartitionGauges(registry, deps.log);
  registerFlashWearMetrics(registry, deps.log);
  registerDiskBudgetMetrics(registry, deps.log, deps.limits);
  const onRetention = registerRetentionMetrics(registry);
  const onReload = registerLifecycleMetrics(registry, deps);
  return { registry, onRetention, onReload };
}

interface MirrorStatusView {
  clusters: Array<{
    cluster: string;
    state: string;
    partitions: Array<{
      topic: string;
      partition: number;
      lagSeconds: number;
      lastAckedAt: number | null;
      remoteEndOffset: number | null;
    }>;
  }>;
}

const LINK_STATES = ['connecting', 'streaming', 'throttled', 'backing-off', 'stopped'] as const;

/**
 * Mirror link gauges read from mirror.status() at scrape time: lag seconds, last ack time, remote end
 * offset, link state. Each is registered only if the mirror module did not register it itself.
 */
export function registerMirrorStatusMetrics(
  registry: Registry,
  status: () => MirrorStatusView | undefined,
): void {
  const labels = ['cluster', 'topic', 'partition'] as const;
  const perPartition = (
    name: string,
    help: string,
    pick: (p: MirrorStatusView['clusters'][number]['partitions'][number]) => number | null,
  ) => {
    if (registry.getSingleMetric(name)) return;
    new Gauge({
      name,
      help,
      labelNames: labels,
      registers: [registry],
      collect() {
        this.reset();
        for (const c of status()?.clusters ?? []) {
          for (const p of c.partitions) {
            const v = pick(p);
            if (v !== null)
              this.set({ cluster: c.cluster, topic: p.topic, partition: String(p.partition) }, v);
          }
        }
      },
    });
  };
  perPartition(
    'outpost_mirror_lag_seconds',
    'Age of the oldest record not yet acknowledged by the cluster (s).',
    (p) => p.lagSeconds,
  );
  perPartition(
    'outpost_mirror_last_ack_timestamp_seconds',
    'When the cluster last acknowledged a batch (Unix time, s; absent before the first).',
    (p) => (p.lastAckedAt === null ? null : p.lastAckedAt / 1000),
  );
  perPartition(
    'outpost_mirror_remote_end_offset',
    'End offset of the remote partition as last seen.',
    (p) => p.remoteEndOffset,
  );
  if (!registry.getSingleMetric('outpost_mirror_link_state')) {
    new Gauge({
      name: 'outpost_mirror_link_state',
      help: `1 for the link's current state (${LINK_STATES.join(', ')}), 0 for the others.`,
      labelNames: ['cluster', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of status()?.clusters ?? []) {
          for (const s of LINK_STATES) this.set({ cluster: c.cluster, state: s }, c.state === s ? 1 : 0);
        }
      },
    });
  }
}
