import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { PartitionedLog } from '../log/index.ts';
import type { CommandConsumer, OffsetTranslator } from '../mirror/index.ts';
import type { DevicesLike, IngestLike, MirrorLike } from './components.ts';

/** What the running service holds; the HTTP admin and SIGHUP reload read and update it. */
export interface ServiceState {
  config: Config;
  readonly configPath: string;
  /** config.dataDir, resolved at start (the data dir cannot change without a restart). */
  readonly dataDir: string;
  readonly version: string;
  readonly startedAt: number;
  readonly logger: Logger;
  log?: PartitionedLog;
  devices?: DevicesLike;
  ingest?: IngestLike;
  mirror?: MirrorLike;
  /** The cloud-to-device command consumer (commands.enabled, with the ingest's downlink). */
  commands?: CommandConsumer;
  openOffsetIndex?: (log: PartitionedLog) => OffsetTranslator;
  phase: 'starting' | 'running' | 'stopping';
  /** Replaces the retention cron schedule (SIGHUP). */
  restartRetention?: (cron: string) => void;
}
