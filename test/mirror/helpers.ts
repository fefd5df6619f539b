/** Shared helpers for mirror tests: a temp edge log from a config, appends, waiting for the mirror. */

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { onTestFinished } from 'vitest';
import { type Config, parseConfig } from '../../src/config/index.ts';
import { type AppendRecord, openLog, type PartitionedLog } from '../../src/log/index.ts';
import { type Mirror, startMirror } from '../../src/mirror/index.ts';
import { logOptionsFromConfig } from '../../src/service/index.ts';

export const quietLogger = pino({ level: process.env['MIRROR_TEST_LOG'] ?? 'silent' });

export function uniqueEdgeId(): string {
  return `e${randomUUID().replaceAll('-', '').slice(0, 12)}`;
}

export function mirrorConfig(opts: {
  edgeId?: string;
  dataDir?: string;
  topics: Record<string, { partitions: number; priority?: number }>;
  clusters: Record<string, Record<string, unknown>>;
}): Config {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'outpost-mirror-'));
  if (!opts.dataDir) onTestFinished(() => rmSync(dataDir, { recursive: true, force: true }));
  return parseConfig({
    edgeId: opts.edgeId ?? uniqueEdgeId(),
    dataDir,
    log: { topics: opts.topics, minFreeBytes: 0 },
    mqtt: { listeners: [{ type: 'tcp', port: 0 }] },
    mirror: {
      clusters: Object.fromEntries(
        Object.entries(opts.clusters).map(([k, v]) => [
          k,
          { heartbeatIntervalMs: 500, produceTimeoutMs: 10_000, ...v },
        ]),
      ),
    },
  });
}

export async function openTestLog(config: Config): Promise<PartitionedLog> {
  const log = await openLog(logOptionsFromConfig(config));
  onTestFinished(() => log.close());
  return log;
}

export async function startTestMirror(config: Config, log: PartitionedLog): Promise<Mirror> {
  const m = await startMirror({ config, log, logger: quietLogger, metrics: new Registry() });
  onTestFinished(() => m.stop({ timeoutMs: 10_000 }));
  return m;
}

/** Appends `n` records per partition with keys, headers and explicit timestamps. */
export async function appendRecords(
  log: PartitionedLog,
  topic: string,
  partitions: number,
  n: number,
  tag = 'r',
  /** Epoch ms of the first record; recent by default so that retention (7 days) keeps them. */
  baseTimestamp = Date.now(),
): Promise<void> {
  const records: AppendRecord[] = [];
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < partitions; p++) {
      records.push({
        topic,
        partition: p,
        key: i % 7 === 0 ? null : Buffer.from(`k-${p}-${i}`),
        value: Buffer.from(`${tag}-${topic}-${p}-${i}-${'x'.repeat(i % 50)}`),
        headers:
          i % 3 === 0 ? {} : { 'device.id': Buffer.from(`dev-${i % 5}`), mqtt: Buffer.from([i % 256, 0, 1]) },
        timestamp: baseTimestamp + i,
      });
    }
  }
  for (let i = 0; i < records.length; i += 1000) await log.append(records.slice(i, i + 1000));
}

/** Waits until every partition of every cluster has no lag (bounded). */
export async function waitMirrored(mirror: Mirror, clusters: string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = mirror.status();
    const pending = st.clusters
      .filter((c) => clusters.includes(c.cluster))
      .flatMap((c) =>
        c.partitions
          .filter((p) => p.lagRecords > 0)
          .map(
            (p) => `${c.cluster}:${p.topic}/${p.partition} lag ${p.lagRecords} ${p.state} ${p.error ?? ''}`,
          ),
      );
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`mirror did not catch up: ${pending.join('; ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
