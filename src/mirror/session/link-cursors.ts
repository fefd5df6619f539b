/**
 * The cursors `mirror.<alias>` of one link: one per edge partition the cluster receives, protected
 * when the cluster is `required`, so retention never deletes what it has not acknowledged.
 */
import type { Logger } from 'pino';
import type { PartitionedLog } from '../../log/index.ts';
import { topicSelected } from '../naming.ts';
import { cursorName } from './session-setup.ts';

export interface LinkPartition {
  topic: string;
  partition: number;
  /** Where the link resumes: the cursor, never below the partition's start. */
  next: number;
}

/**
 * Creates missing cursors (at the partition start) and aligns their protection with `required`.
 * Returns the partitions, skipping those `skip` names ("topic/partition").
 */
export async function ensureLinkCursors(
  log: PartitionedLog,
  alias: string,
  topics: { include: string[]; exclude: string[] },
  required: boolean,
  skip: (key: string) => boolean = () => false,
): Promise<LinkPartition[]> {
  const out: LinkPartition[] = [];
  for (const topic of log.topicNames()) {
    if (!topicSelected(topic, topics)) continue;
    for (let p = 0; p < log.partitionCount(topic); p++) {
      if (skip(`${topic}/${p}`)) continue;
      const c = log.getCursor(cursorName(alias), topic, p);
      const start = log.offsets(topic, p).startOffset;
      if (!c || c.protected !== required) {
        await log.setCursor(cursorName(alias), topic, p, c?.offset ?? start, { protected: required });
      }
      out.push({ topic, partition: p, next: Math.max(c?.offset ?? start, start) });
    }
  }
  return out;
}

/**
 * Partitions a reload added are mirrored only after a restart; until then a protected cursor at
 * their start keeps retention from deleting what this required cluster has not received. A failed
 * cursor write is an error (retention may then delete what the cluster lacks): logged, never thrown.
 */
export async function protectNewPartitions(
  log: PartitionedLog,
  alias: string,
  topics: { include: string[]; exclude: string[] },
  known: (key: string) => boolean,
  logger: Logger,
): Promise<void> {
  try {
    for (const { topic, partition } of await ensureLinkCursors(log, alias, topics, true, known)) {
      logger.warn(
        { cluster: alias, topic, partition },
        'new partition protected from retention; it is mirrored after a restart',
      );
    }
  } catch (err) {
    logger.error({ cluster: alias, err: String(err) }, 'mirror could not protect new partitions');
  }
}
