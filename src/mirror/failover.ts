/**
 * Consumer-group failover between two central clusters fed by the same edge, exact:
 *
 *   readGroupOffsets(from) → translate east → edge → west (positions) → writeCheckpoints(to)
 *   → [commit to the group on `to`, only when it is empty there]
 *
 * Checkpoints go to `<from>.checkpoints.internal` (partition 0) on `to`, where
 * `RemoteClusterUtils.translateOffsets(toProps, "<from>", group)` (MirrorClient.remoteConsumerOffsets)
 * returns them: topic = the remote topic name (the same on both clusters), upstreamOffset = the
 * group's committed offset on `from`, offset = the exact position on `to`.
 */
import { Admin } from '@platformatic/kafka';
import type { Config } from '../config/index.ts';
import { OutpostError } from '../errors.ts';
import { writeCheckpoints } from './checkpoints.ts';
import { checkpointsTopic, SEPARATOR } from './naming.ts';
import type { OffsetTranslator } from './offsets/translate.ts';
import { clientOptions } from './session/remote.ts';

export interface FailoverPartition {
  topic: string;
  partition: number;
  fromOffset: number;
  toOffset: number | null;
  error?: string;
}

export interface FailoverResult {
  group: string;
  from: string;
  to: string;
  checkpointsTopic: string;
  partitions: FailoverPartition[];
  checkpointsWritten: number;
  committed: boolean;
  /** Why the commit was not made (group not empty on `to`). */
  commitRefused?: string;
}

/** Group coordinator lookups may answer COORDINATOR_LOAD_IN_PROGRESS / NOT_COORDINATOR at first: retry. */
const RETRY = { retries: 5, retryDelay: 500 };

function clusterCfg(config: Config, alias: string) {
  const c = config.mirror.clusters[alias];
  if (!c) {
    throw new OutpostError('MIRROR_UNKNOWN_CLUSTER', `no cluster "${alias}" in mirror.clusters`, {
      cluster: alias,
    });
  }
  return c;
}

export async function failover(opts: {
  config: Config;
  translator: OffsetTranslator;
  group: string;
  from: string;
  to: string;
  commit?: boolean;
  timeoutMs?: number;
}): Promise<FailoverResult> {
  const { config, translator, group, from, to } = opts;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const fromCfg = clusterCfg(config, from);
  const toCfg = clusterCfg(config, to);
  const prefix = `${config.edgeId}${SEPARATOR}`;
  const result: FailoverResult = {
    group,
    from,
    to,
    checkpointsTopic: checkpointsTopic(from),
    partitions: [],
    checkpointsWritten: 0,
    committed: false,
  };

  // readGroupOffsets(from): only our remote topics "<edgeId>.<topic>".
  const fromAdmin = new Admin({ ...clientOptions(from, fromCfg, 'failover', timeoutMs), ...RETRY });
  try {
    const groups = await fromAdmin.listConsumerGroupOffsets({ groups: [group] });
    for (const t of groups[0]?.topics ?? []) {
      if (!t.name.startsWith(prefix)) continue;
      const edgeTopic = t.name.slice(prefix.length);
      for (const p of t.partitions) {
        const fromOffset = Number(p.committedOffset);
        if (fromOffset < 0) continue;
        const fp: FailoverPartition = {
          topic: t.name,
          partition: p.partitionIndex,
          fromOffset,
          toOffset: null,
        };
        try {
          fp.toOffset = translator.positionBetween(from, to, edgeTopic, p.partitionIndex, fromOffset);
        } catch (err) {
          fp.error = (err as Error).message;
        }
        result.partitions.push(fp);
      }
    }
  } finally {
    await fromAdmin.close();
  }
  const translated = result.partitions.filter((p) => p.toOffset !== null);
  if (translated.length === 0) return result;

  // writeCheckpoints(to): single-partition compacted topic, partition 0.
  await writeCheckpoints({
    to,
    toCfg,
    topic: result.checkpointsTopic,
    checkpoints: translated.map((p) => ({
      group,
      topic: p.topic,
      partition: p.partition,
      upstreamOffset: p.fromOffset,
      downstreamOffset: p.toOffset as number,
      metadata: '',
    })),
    timeoutMs,
    retry: RETRY,
  });
  result.checkpointsWritten = translated.length;
  if (!opts.commit) return result;

  // commit (only into an empty or unknown group: never move offsets under live consumers).
  const toAdmin = new Admin({ ...clientOptions(to, toCfg, 'failover', timeoutMs), ...RETRY });
  try {
    // listGroups first: describing a group that does not exist fails (GROUP_ID_NOT_FOUND).
    const listed = (await toAdmin.listGroups()).get(group);
    const state = listed?.state;
    const members = listed
      ? ((await toAdmin.describeGroups({ groups: [group] })).get(group)?.members.size ?? 0)
      : 0;
    if (members > 0 || (state !== undefined && !['EMPTY', 'DEAD'].includes(String(state).toUpperCase()))) {
      result.commitRefused = `group "${group}" is not empty on ${to} (state ${state}, ${members} members): not committed`;
      return result;
    }
    const byTopic = new Map<string, Array<{ partition: number; offset: bigint }>>();
    for (const p of translated) {
      byTopic.set(p.topic, [
        ...(byTopic.get(p.topic) ?? []),
        { partition: p.partition, offset: BigInt(p.toOffset as number) },
      ]);
    }
    await toAdmin.alterConsumerGroupOffsets({
      groupId: group,
      topics: [...byTopic].map(([name, partitionOffsets]) => ({ name, partitionOffsets })),
    });
    result.committed = true;
  } finally {
    await toAdmin.close();
  }
  return result;
}
