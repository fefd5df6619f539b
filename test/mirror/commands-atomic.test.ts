/**
 * The command consumer with a downlink that stores durable copies (DeliverOptions.inTransaction),
 * against real Kafka (shared dc-east). The downlink here is a sink that writes its "queue entry" to
 * a store of the same LMDB environment inside a child transaction and calls inTransaction there, as
 * the ingest downlink does (test/ingest/downlink-atomic.test.ts covers that side with real clients).
 */
import { describe, expect, it } from 'vitest';
import type { PartitionedLog } from '../../src/log/index.ts';
import { openLog } from '../../src/log/index.ts';
import type { DeliverOptions, DeliveryOutcome, Downlink } from '../../src/mirror/index.ts';
import { logOptionsFromConfig } from '../../src/service/index.ts';
import { consumePartition, createTopic, endOffset, produce } from '../kafka/client.ts';
import { sharedClusters } from '../kafka/shared.ts';
import { command, commandsConfig, metricValue, startTestCommands, waitFor } from './commands-helpers.ts';

const PARTITIONS = 2;
const DEVICES = ['t0', 't1', 't2', 't3'];

/** Stores each copy in `test.fake-queue` with the caller's writes, in one child transaction. */
class QueueingDownlink implements Downlink {
  readonly queue;
  /** After the copy is stored: 'resolve', 'reject' (the downlink fails after storing) or 'hang'. */
  afterStore: (payload: string) => 'resolve' | 'reject' | 'hang' = () => 'resolve';

  constructor(log: PartitionedLog) {
    this.queue = log.openStore<string, number>('test.fake-queue');
  }

  async deliver(msg: { payload: Buffer }, opts: DeliverOptions = {}): Promise<DeliveryOutcome> {
    const payload = msg.payload.toString();
    await this.queue.childTransaction(() => {
      this.queue.put(payload, (this.queue.get(payload) ?? 0) + 1);
      opts.inTransaction?.({ matched: 1, queued: 1 });
    });
    const next = this.afterStore(payload);
    if (next === 'reject') throw new Error('downlink failed after storing (test)');
    if (next === 'hang') return new Promise(() => {});
    return { matched: 1, delivered: 0, queued: 1, atomic: opts.inTransaction !== undefined };
  }

  copies(): Map<string, number> {
    return new Map([...this.queue.getRange()].map(({ key, value }) => [key, value]));
  }
}

describe('commands › atomic with the downlink', () => {
  it('a command whose copy committed is never handed over again: not after the downlink failed, not after a restart mid-delivery; none is uncertain', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const config = commandsConfig({
      clusters: { 'dc-east': east.bootstrap },
      commands: { outcomesTopic: 'commands.outcomes.{edgeId}' },
    });
    const topic = `commands.${config.edgeId}`;
    const outcomes = `commands.outcomes.${config.edgeId}`;
    await createTopic(east.bootstrap, topic, { partitions: PARTITIONS });
    await createTopic(east.bootstrap, outcomes, { partitions: 1 });
    const all = DEVICES.flatMap((d) => Array.from({ length: 10 }, (_, i) => command(d, i, PARTITIONS)));
    await produce(east.bootstrap, topic, all);

    let log = await openLog(logOptionsFromConfig(config));
    let downlink = new QueueingDownlink(log);
    // t1:3 fails after its copy is stored; t2:4 never returns (the process "dies" there).
    downlink.afterStore = (p) => (p === 't1:3' ? 'reject' : p === 't2:4' ? 'hang' : 'resolve');
    let run = startTestCommands(config, log, downlink);
    await waitFor('t2:4 stored', () => downlink.copies().has('t2:4'));
    await run.consumer.stop({ timeoutMs: 1_000 });
    const first = run.registry;
    await log.close();

    log = await openLog(logOptionsFromConfig(config));
    downlink = new QueueingDownlink(log);
    run = startTestCommands(config, log, downlink);
    await waitFor('every command stored', () => downlink.copies().size === all.length);
    await waitFor(
      'outcome records out',
      async () => (await endOffset(east.bootstrap, outcomes, 0)) >= BigInt(all.length),
    );
    await run.consumer.stop({ timeoutMs: 5_000 });

    expect([...downlink.copies().values()].every((n) => n === 1)).toBe(true);
    for (const reg of [first, run.registry])
      expect(await metricValue(reg, 'outpost_commands_uncertain_total')).toBe(0);
    expect(
      (await metricValue(first, 'outpost_commands_atomic_total')) +
        (await metricValue(run.registry, 'outpost_commands_atomic_total')),
    ).toBe(all.length - 1); // t2:4's final record never ran (its inTransaction write stands)
    const rows = (await consumePartition(east.bootstrap, outcomes, 0)).map(
      (r) => JSON.parse(String(r.value)) as { id: string; outcome: string },
    );
    expect(new Set(rows.map((r) => r.id)).size).toBe(all.length);
    expect(rows.every((r) => r.outcome === 'queued')).toBe(true);
    await log.close();
  }, 120_000);
});
