/** The mirror's public types: what the service holds, whether the mirror runs in-process or in its thread. */
import type { Config } from '../config/index.ts';
import type { OffsetTranslator } from './offsets/translate.ts';
import type { LinkState } from './session/link-state.ts';

export interface PartitionStatus {
  topic: string;
  partition: number;
  remoteTopic: string;
  state: LinkState;
  /** Next edge offset to send. */
  nextOffset: number;
  lagRecords: number;
  /** Age of the oldest durable edge record not yet acknowledged (s); 0 without lag. */
  lagSeconds: number;
  lastAckedAt: number | null;
  remoteEndOffset: number | null;
  error?: string;
}

/** Test-only seams (never set in production): lets a test act at precise points of a session. */
export interface MirrorHooks {
  /** After the resume (remote tails read) and the producer init, before the first produce. */
  afterResume?: (cluster: string) => Promise<void>;
}

export interface ClusterStatus {
  cluster: string;
  state: LinkState;
  required: boolean;
  partitions: PartitionStatus[];
}

export interface MirrorStatus {
  edgeId: string;
  clusters: ClusterStatus[];
}

export interface Mirror {
  /**
   * Synchronous: in-process it is computed now; the thread version (worker/proxy.ts) answers from
   * the snapshot its thread pushes every STATUS_EVERY_MS, so /v1/status and the status gauges
   * never wait on the mirror's thread.
   */
  status(): MirrorStatus;
  reload(config: Config): void;
  /**
   * Stops every link and checkpoint round, closing their Kafka clients; resolves once all are
   * closed, or rejects with SHUTDOWN_INCOMPLETE naming what is still open at the deadline.
   */
  stop(opts: { timeoutMs: number }): Promise<void>;
  /** What the mirror still holds open (links, sessions, checkpoint rounds); empty once stopped. */
  holds(): string[];
  /** Exact translation over this process's index. */
  readonly translator: OffsetTranslator;
}
