/** The mirror's `outpost_mirror_*` metrics, registered once on the service's Registry. */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface MirrorMetrics {
  records: Counter<'cluster' | 'topic'>;
  bytes: Counter<'cluster'>;
  batches: Counter<'cluster' | 'how'>;
  errors: Counter<'cluster' | 'code'>;
  retries: Counter<'cluster' | 'reason'>;
  recovered: Counter<'cluster'>;
  duplicates: Counter<'cluster' | 'topic'>;
  refused: Counter<'cluster' | 'topic'>;
  lag: Gauge<'cluster' | 'topic' | 'partition'>;
  up: Gauge<'cluster'>;
}

export function mirrorMetrics(
  registry: Registry,
  lagOf: () => Array<{ cluster: string; topic: string; partition: number; lag: number; up: boolean }>,
): MirrorMetrics {
  const registers = [registry];
  const lag = new Gauge({
    name: 'outpost_mirror_lag_records',
    help: 'Durable edge records not yet acknowledged by the cluster.',
    labelNames: ['cluster', 'topic', 'partition'] as const,
    registers,
    collect() {
      for (const l of lagOf())
        this.set({ cluster: l.cluster, topic: l.topic, partition: String(l.partition) }, l.lag);
    },
  });
  return {
    records: new Counter({
      name: 'outpost_mirror_records_total',
      help: 'Edge records acknowledged by a central cluster.',
      labelNames: ['cluster', 'topic'] as const,
      registers,
    }),
    bytes: new Counter({
      name: 'outpost_mirror_bytes_total',
      help: 'Record batch bytes (as sent: compressed when the batch is) acknowledged by a central cluster.',
      labelNames: ['cluster'] as const,
      registers,
    }),
    batches: new Counter({
      name: 'outpost_mirror_batches_total',
      help: 'Record batches acknowledged by a central cluster, by how they were built: forwarded (a stored batch sent as it is), coalesced (consecutive stored batches merged into one) or recoded (decoded and sealed again: record-v1 or unstamped entries, a start inside a batch, a batch above batch.maxBytes, or a link codec other than the stored one).',
      labelNames: ['cluster', 'how'] as const,
      registers,
    }),
    errors: new Counter({
      name: 'outpost_mirror_errors_total',
      help: 'Link failures that are not a known transient condition (cluster unreachable, timeouts, refusals), by error code; each tears the session down and backs off.',
      labelNames: ['cluster', 'code'] as const,
      registers,
    }),
    retries: new Counter({
      name: 'outpost_mirror_retries_total',
      help: 'Expected, self-healing conditions the link or a checkpoint round retried (a topic not yet known to every broker, a leader election, a checkpoint round that failed), by reason. Logged at info; not in outpost_mirror_errors_total.',
      labelNames: ['cluster', 'reason'] as const,
      registers,
    }),
    recovered: new Counter({
      name: 'outpost_mirror_recovered_records_total',
      help: 'Records found on the remote tail at resume that had landed without an ack reaching us (indexed, not resent).',
      labelNames: ['cluster'] as const,
      registers,
    }),
    duplicates: new Counter({
      name: 'outpost_mirror_duplicates_total',
      help: "Duplicate copies of edge records found on a central cluster (an edge offset that had already landed landed again, e.g. a torn-down session's late produce). Each is logged as an error; the offset index keeps the first copy.",
      labelNames: ['cluster', 'topic'] as const,
      registers,
    }),
    refused: new Counter({
      name: 'outpost_mirror_refused_topics_total',
      help: 'Refusals: a remote topic with fewer partitions than the edge topic, or a record/batch larger than the broker accepts (partition blocked).',
      labelNames: ['cluster', 'topic'] as const,
      registers,
    }),
    lag,
    up: new Gauge({
      name: 'outpost_mirror_link_up',
      help: '1 while the cluster link is streaming (or throttled), 0 otherwise.',
      labelNames: ['cluster'] as const,
      registers,
    }),
  };
}
