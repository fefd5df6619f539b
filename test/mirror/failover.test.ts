import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Admin, Consumer } from '@platformatic/kafka';
import { describe, expect, it, onTestFinished } from 'vitest';
import { decodeCheckpoint } from '../../src/mirror/index.ts';
import { consumePartition, createTopic, produce } from '../kafka/client.ts';
import { runJava } from '../kafka/java.ts';
import { sharedClusters } from '../kafka/shared.ts';
import { appendRecords, mirrorConfig, openTestLog, startTestMirror, waitMirrored } from './helpers.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const interop = fileURLToPath(new URL('./java/MirrorInterop.java', import.meta.url));

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['src/cli/main.ts', ...args], {
      cwd: root,
      timeout: 90_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('mirror failover', () => {
  it('fails a consumer group over east → west exactly, readable by RemoteClusterUtils.translateOffsets and MirrorClient', async () => {
    const { 'dc-east': east, 'dc-west': west } = await sharedClusters();
    const config = mirrorConfig({
      topics: { orders: { partitions: 2 } },
      clusters: { 'dc-east': { bootstrap: east.bootstrap }, 'dc-west': { bootstrap: west.bootstrap } },
    });
    const remote = `${config.edgeId}.orders`;
    // West already holds 7 foreign records per partition, so east and west offsets differ by 7.
    await createTopic(west.bootstrap, remote, { partitions: 2 });
    for (const partition of [0, 1]) {
      await produce(
        west.bootstrap,
        remote,
        Array.from({ length: 7 }, (_, i) => ({ partition, value: `foreign-${i}` })),
      );
    }
    const log = await openTestLog(config);
    await appendRecords(log, 'orders', 2, 200);
    const mirror = await startTestMirror(config, log);
    await waitMirrored(mirror, ['dc-east', 'dc-west']);
    const cfgPath = join(config.dataDir, 'config.json');
    writeFileSync(cfgPath, JSON.stringify(config));

    // translate: edge -> west, west -> edge, east -> west
    const tr = (extra: string[]) =>
      cli(['offsets', 'translate', '--config', cfgPath, '--topic', 'orders', '--partition', '0', ...extra]);
    expect((await tr(['--cluster', 'dc-west', '--offset', '5'])).stdout.trim()).toBe('12');
    expect((await tr(['--cluster', 'dc-west', '--offset', '12', '--reverse'])).stdout.trim()).toBe('5');
    expect(
      (await tr(['--cluster', 'dc-east', '--offset', '150', '--to-cluster', 'dc-west'])).stdout.trim(),
    ).toBe('157');
    const missing = await tr(['--cluster', 'dc-west', '--offset', '3', '--reverse']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no edge record/);

    // Group G consumed east up to 120 on p0 and everything (200) on p1.
    const group = `g-${randomUUID()}`;
    const admin = new Admin({ clientId: 'test', bootstrapBrokers: [east.bootstrap] });
    onTestFinished(() => admin.close());
    await admin.alterConsumerGroupOffsets({
      groupId: group,
      topics: [
        {
          name: remote,
          partitionOffsets: [
            { partition: 0, offset: 120n },
            { partition: 1, offset: 200n },
          ],
        },
      ],
    });

    const fo = await cli([
      'offsets',
      'failover',
      '--config',
      cfgPath,
      '--group',
      group,
      '--from',
      'dc-east',
      '--to',
      'dc-west',
      '--commit',
      '--json',
    ]);
    expect(fo.stderr).toBe('');
    expect(fo.code).toBe(0);
    const result = JSON.parse(fo.stdout);
    expect(result.committed).toBe(true);
    expect(result.partitions).toEqual([
      { topic: remote, partition: 0, fromOffset: 120, toOffset: 127 },
      { topic: remote, partition: 1, fromOffset: 200, toOffset: 207 },
    ]);

    // MM2's client code reads our checkpoints and finds the edge as an upstream cluster.
    const out = await runJava(interop, [west.bootstrap, 'dc-east', group]);
    expect(out).toContain(`offset ${remote} 0 127\n`);
    expect(out).toContain(`offset ${remote} 1 207\n`);
    expect(out).toContain(`upstream ${config.edgeId}\n`);

    // The commit landed on west.
    const westAdmin = new Admin({ clientId: 'test', bootstrapBrokers: [west.bootstrap] });
    onTestFinished(() => westAdmin.close());
    const committed = await westAdmin.listConsumerGroupOffsets({ groups: [group] });
    const parts = committed[0]?.topics.find((t) => t.name === remote)?.partitions ?? [];
    expect(parts.map((p) => [p.partitionIndex, Number(p.committedOffset)]).sort()).toEqual([
      [0, 127],
      [1, 207],
    ]);

    // A live member in G on west: --commit refuses and says so.
    const consumer = new Consumer({
      clientId: 'test',
      groupId: group,
      bootstrapBrokers: [west.bootstrap],
      autocommit: false,
    });
    onTestFinished(() => consumer.close(true));
    const stream = await consumer.consume({ topics: [remote], mode: 'committed', autocommit: false });
    onTestFinished(() => stream.close());
    const refused = await cli([
      'offsets',
      'failover',
      '--config',
      cfgPath,
      '--group',
      group,
      '--from',
      'dc-east',
      '--to',
      'dc-west',
      '--commit',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/is not empty on dc-west/);
    await mirror.stop({ timeoutMs: 5000 });
  });

  it('writes exact checkpoints for every group on its own, every checkpointIntervalMs, to the other cluster', async () => {
    const { 'dc-east': east, 'dc-west': west } = await sharedClusters();
    const config = mirrorConfig({
      topics: { orders: { partitions: 1 } },
      clusters: {
        'dc-east': { bootstrap: east.bootstrap, checkpointIntervalMs: 300 },
        'dc-west': { bootstrap: west.bootstrap, checkpointIntervalMs: 300 },
      },
    });
    const remote = `${config.edgeId}.orders`;
    await createTopic(west.bootstrap, remote, { partitions: 1 });
    await produce(
      west.bootstrap,
      remote,
      Array.from({ length: 3 }, (_, i) => ({ partition: 0, value: `foreign-${i}` })),
    );
    const log = await openTestLog(config);
    await appendRecords(log, 'orders', 1, 50);
    const mirror = await startTestMirror(config, log);
    await waitMirrored(mirror, ['dc-east', 'dc-west']);
    const group = `auto-${randomUUID()}`;
    const admin = new Admin({
      clientId: 'test',
      bootstrapBrokers: [east.bootstrap],
      retries: 5,
      retryDelay: 300,
    });
    onTestFinished(() => admin.close());
    await admin.alterConsumerGroupOffsets({
      groupId: group,
      topics: [{ name: remote, partitionOffsets: [{ partition: 0, offset: 30n }] }],
    });
    const deadline = Date.now() + 30_000;
    let found: ReturnType<typeof decodeCheckpoint> | undefined;
    while (!found && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      const recs = await consumePartition(west.bootstrap, 'dc-east.checkpoints.internal', 0).catch(() => []);
      found = recs
        .map((r) => decodeCheckpoint(r.key as Buffer, r.value as Buffer))
        .find((c) => c.group === group);
    }
    expect(found).toEqual({
      group,
      topic: remote,
      partition: 0,
      upstreamOffset: 30,
      downstreamOffset: 33,
      metadata: '',
    });
  });
});
