/**
 * What the proxy reports while no mirror thread runs (between a crash and the restart): the last
 * snapshot's links, each backing-off with the reason, and their lag recomputed from the owner's log
 * (records keep arriving while nothing is mirrored). The thread's metrics say the same: links down,
 * lag as the status has it; counters keep their last values.
 */
import type { PartitionedLog } from '../../log/index.ts';
import type { MirrorStatus } from '../types.ts';
import type { MetricsJson } from './protocol.ts';

export function downStatus(last: MirrorStatus, log: PartitionedLog, reason: string): MirrorStatus {
  const now = Date.now();
  return {
    edgeId: last.edgeId,
    clusters: last.clusters.map((c) => ({
      ...c,
      state: 'backing-off',
      partitions: c.partitions.map((p) => {
        const end = log.offsets(p.topic, p.partition).endOffset;
        const lag = Math.max(0, end - p.nextOffset);
        const oldest =
          lag > 0 ? log.read(p.topic, p.partition, p.nextOffset, { maxRecords: 1 })[0] : undefined;
        return {
          ...p,
          state: 'backing-off',
          lagRecords: lag,
          lagSeconds: oldest ? Math.max(0, (now - oldest.timestamp) / 1000) : 0,
          error: reason,
        };
      }),
    })),
  };
}

export function downMetrics(last: MetricsJson, status: MirrorStatus): MetricsJson {
  return last.map((m) => {
    if (m.name === 'outpost_mirror_link_up') {
      return { ...m, values: m.values.map((v) => ({ ...v, value: 0 })) };
    }
    if (m.name === 'outpost_mirror_lag_records') {
      const values = status.clusters.flatMap((c) =>
        c.partitions.map((p) => ({
          labels: { cluster: c.cluster, topic: p.topic, partition: String(p.partition) },
          value: p.lagRecords,
        })),
      );
      return { ...m, values };
    }
    return m;
  });
}
