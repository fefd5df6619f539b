import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Config } from '../config/index.ts';
import { OutpostError } from '../errors.ts';
import type { LogOptions, PartitionedLog } from '../log/index.ts';

/** LogOptions for a config. A relative dataDir resolves against the process's working directory. */
export function logOptionsFor(config: Config, role: 'owner' | 'reader'): LogOptions {
  const topics: LogOptions['topics'] = {};
  for (const [name, t] of Object.entries(config.log.topics)) {
    topics[name] = { partitions: t.partitions, retentionMs: t.retentionMs, retentionBytes: t.retentionBytes };
  }
  return {
    dataDir: resolve(config.dataDir),
    topics,
    maxBytes: config.log.maxBytes,
    onFull: config.log.onFull,
    minFreeBytes: config.log.minFreeBytes,
    maxRecordBytes: config.log.maxRecordBytes,
    role,
  };
}

/**
 * Opens the log read-only (role "reader"): safe while `outpost run` owns the same data dir.
 * A missing data dir is an operator error, not something a reader should create.
 */
export async function openLogReader(config: Config, configPath: string): Promise<PartitionedLog> {
  const options = logOptionsFor(config, 'reader');
  try {
    const s = await stat(options.dataDir);
    if (!s.isDirectory()) throw new Error('not a directory');
  } catch {
    throw new OutpostError(
      'DATA_DIR_MISSING',
      `no log in ${options.dataDir} (dataDir of ${configPath}; a relative dataDir is resolved against the current directory)`,
      { path: options.dataDir },
    );
  }
  // Loaded lazily so that commands which never touch the log don't load lmdb.
  const { openLog } = await import('../log/index.ts');
  return openLog(options);
}
