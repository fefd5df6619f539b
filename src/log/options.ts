import type { Config } from '../config/index.ts';
import { OutpostError } from '../errors.ts';
import type { CommitPolicy } from './append.ts';
import type { LogOptions, LogTopicSpec } from './types.ts';

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

const DEFAULT_COMMIT_MAX_BYTES = 1024 ** 2;

/** The Sealer's policy from LogOptions (or setCommitPolicy); CONFIG_INVALID for values it cannot use. */
export function commitPolicy(o: { commitWindowMs?: number; commitMaxBytes?: number }): CommitPolicy {
  const policy = { windowMs: o.commitWindowMs ?? 0, maxBytes: o.commitMaxBytes ?? DEFAULT_COMMIT_MAX_BYTES };
  const ok = (n: number, min: number) => Number.isSafeInteger(n) && n >= min;
  if (!ok(policy.windowMs, 0) || !ok(policy.maxBytes, 1)) {
    throw new OutpostError(
      'CONFIG_INVALID',
      `commit policy needs an integer window ≥ 0 ms and maxBytes ≥ 1, not ${policy.windowMs} ms / ${policy.maxBytes} bytes`,
      { reason: 'commit policy' },
    );
  }
  return policy;
}
