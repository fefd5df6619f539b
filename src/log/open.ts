/**
 * Opening the log: the environment and its databases, then for the owner the recovery of every
 * partition's state from disk (topics synced with the options, record formats and stamp epochs
 * recorded) before the first append. A reader opens the same environment and derives everything
 * from disk on each call (reader.ts).
 */
import { Log } from './log.ts';
import { recordStampEpoch } from './stamps.ts';
import { type Core, syncTopics } from './state.ts';
import { DROPPED_KEY, openDbs, recordFormats } from './store.ts';
import type { LogOptions, PartitionedLog } from './types.ts';

const DEFAULT_MIN_FREE_BYTES = 256 * 1024 ** 2;

export async function openLog(options: LogOptions): Promise<PartitionedLog> {
  const dbs = openDbs(options.dataDir);
  try {
    if ((options.role ?? 'owner') === 'reader') return new Log(dbs, options, null);
    const core: Core = {
      dbs,
      topics: new Map(),
      stores: new Map(),
      maxBytes: options.maxBytes,
      onFull: options.onFull,
      minFreeBytes: options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES,
      droppedRecords: (dbs.meta.get(DROPPED_KEY) as number | undefined) ?? 0,
      dataDir: options.dataDir,
      stamp: options.stamp ? { id: Buffer.from(options.stamp.id, 'utf8') } : null,
      stampEpochs: [],
    };
    core.topics = syncTopics(dbs, options.topics, core.topics);
    await recordFormats(dbs);
    const parts = [...core.topics.values()].flatMap((t) => t.parts);
    core.stampEpochs = await recordStampEpoch(dbs, parts, options.stamp?.id ?? null);
    return new Log(dbs, options, core);
  } catch (err) {
    await dbs.env.close();
    throw err;
  }
}
