/**
 * The config → the log's own options: the log knows nothing of the config file; the service (and
 * the CLI and simulator, through this face) map the validated config to LogOptions here.
 */
import type { Config } from '../config/index.ts';
import type { LogOptions, LogTopicSpec } from '../log/index.ts';

/** LogOptions for openLog from the validated config (the service passes role "owner", the CLI "reader"). */
export function logOptionsFromConfig(config: Config, role: 'owner' | 'reader' = 'owner'): LogOptions {
  return {
    dataDir: config.dataDir,
    topics: logTopicSpecs(config),
    maxBytes: config.log.maxBytes,
    onFull: config.log.onFull,
    minFreeBytes: config.log.minFreeBytes,
    maxRecordBytes: config.log.maxRecordBytes,
    commitWindowMs: config.log.commitWindowMs,
    commitMaxBytes: config.log.commitMaxBytes,
    role,
    // Stamped records go to a central cluster as stored; a gateway that mirrors nothing stores none.
    ...(Object.keys(config.mirror.clusters).length > 0 ? { stamp: { id: config.edgeId } } : {}),
  };
}

/** Topic specs for openLog / reconfigure from the validated config. */
export function logTopicSpecs(config: Config): Record<string, LogTopicSpec> {
  const topics: Record<string, LogTopicSpec> = {};
  for (const [name, t] of Object.entries(config.log.topics)) {
    topics[name] = {
      partitions: t.partitions,
      retentionMs: t.retentionMs,
      retentionBytes: t.retentionBytes,
      compression: t.compression,
    };
  }
  return topics;
}
