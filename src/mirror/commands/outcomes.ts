/**
 * What the consumer tells the central cluster it reads from, both after the fact and never on the
 * delivery path:
 *
 * - Outcome records (commands.outcomesTopic): drained from the LMDB outbox (store.ts), produced,
 *   then dropped. At least once: a crash between the produce ack and the drop produces the record
 *   again, with the same key (the command id), so a compacted topic or a consumer keyed by id sees
 *   one outcome per command.
 *   Key: command id (UTF-8). Value: OutcomeRecord as JSON. Headers: outpost-command-id,
 *   outpost-edge-id, outpost-device (absent when unknown), outpost-outcome, outpost-reason (rejected only).
 * - The position, committed to consumer group commands.groupId on that cluster
 *   (OffsetCommit through AlterConsumerGroupOffsets; the gateway is never a group member). For
 *   central tooling only (lag dashboards, kafka-consumer-groups.sh): the consumer never reads it back.
 */
import { partitionFor } from '../../log/index.ts';
import type { OutRecord } from '../session/remote.ts';
import type { CommandSource } from './fetch.ts';
import type { CommandStore } from './store.ts';
import type { OutcomeRecord } from './types.ts';

const OUTBOX_BATCH = 500;

export function outcomeRecord(r: OutcomeRecord): OutRecord {
  const headers = new Map<Buffer, Buffer>([
    [Buffer.from('outpost-command-id'), Buffer.from(r.id)],
    [Buffer.from('outpost-edge-id'), Buffer.from(r.edgeId)],
    [Buffer.from('outpost-outcome'), Buffer.from(r.outcome)],
  ]);
  if (r.deviceId !== null) headers.set(Buffer.from('outpost-device'), Buffer.from(r.deviceId));
  if (r.reason !== null) headers.set(Buffer.from('outpost-reason'), Buffer.from(r.reason));
  return { key: Buffer.from(r.id), value: Buffer.from(JSON.stringify(r)), timestamp: r.at, headers };
}

/** Produces what the outbox holds (bounded rounds of OUTBOX_BATCH); returns how many records were produced. */
export async function drainOutbox(
  source: CommandSource,
  store: CommandStore,
  topic: string,
): Promise<number> {
  let produced = 0;
  const partitions = await source.remote.partitionCount(topic);
  if (partitions === undefined) throw new Error(`outcomes topic ${topic} does not exist on ${source.alias}`);
  for (let round = 0; round < 100; round++) {
    const rows = store.outbox(OUTBOX_BATCH);
    if (rows.length === 0) break;
    const byPartition = new Map<number, OutRecord[]>();
    for (const { record } of rows) {
      const p = partitionFor(Buffer.from(record.id), partitions);
      byPartition.set(p, [...(byPartition.get(p) ?? []), outcomeRecord(record)]);
    }
    // Per partition in outbox order; partitions in parallel.
    await Promise.all([...byPartition].map(([p, recs]) => source.remote.produce(topic, p, recs)));
    await store.dropOutbox(rows.map((r) => r.seq));
    produced += rows.length;
  }
  return produced;
}

export async function commitGroup(
  source: CommandSource,
  groupId: string,
  topic: string,
  positions: ReadonlyMap<number, number>,
): Promise<void> {
  await source.remote.admin.alterConsumerGroupOffsets({
    groupId,
    topics: [
      {
        name: topic,
        partitionOffsets: [...positions].map(([partition, offset]) => ({
          partition,
          offset: BigInt(offset),
        })),
      },
    ],
  });
}
