import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Config } from '../config/index.ts';
import { OutpostError } from '../errors.ts';
import type { PartitionedLog } from '../log/index.ts';
import { logOptionsFromConfig } from '../service/index.ts';

/**
 * Opens the log read-only (role "reader"): safe while `outpost run` owns the same data dir.
 * A missing data dir is an operator error, not something a reader should create.
 */
export async function openLogReader(config: Config, configPath: string): Promise<PartitionedLog> {
  // Loaded lazily so that commands which never touch the log don't load lmdb.
  const { openLog } = await import('../log/index.ts');
  // A relative dataDir is relative to the working directory of the process (documented).
  const options = { ...logOptionsFromConfig(config, 'reader'), dataDir: resolve(config.dataDir) };
  const isDir = await stat(options.dataDir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) {
    throw new OutpostError(
      'DATA_DIR_MISSING',
      `no log in ${options.dataDir} (dataDir of ${configPath}; a relative dataDir is resolved against the current directory)`,
      { path: options.dataDir },
    );
  }
  const log = await openLog(options);
  // An existing but empty directory: nothing has ever been written there (the owner records its
  // topics when it first opens the log). Say so rather than print an empty listing.
  if (log.topicNames().length === 0) {
    await log.close();
    throw new OutpostError(
      'DATA_DIR_MISSING',
      `no log in ${options.dataDir} (the directory holds no topics: has "outpost run" been started with this dataDir?)`,
      { path: options.dataDir },
    );
  }
  return log;
}
