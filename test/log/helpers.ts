import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { onTestFinished } from 'vitest';
import type { LogOptions, LogTopicSpec, PartitionedLog } from '../../src/log/index.ts';
import { openLog } from '../../src/log/index.ts';

export const BIG = 1024 ** 4;

export function spec(partitions: number, more: Partial<LogTopicSpec> = {}): LogTopicSpec {
  return { partitions, retentionMs: BIG, retentionBytes: BIG, ...more };
}

/** A fresh data dir under os.tmpdir(), removed when the test finishes. */
export function tempDir(prefix = 'outpost-log-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function options(dataDir: string, more: Partial<LogOptions> = {}): LogOptions {
  return { dataDir, topics: { t: spec(4) }, maxBytes: BIG, onFull: 'reject', minFreeBytes: 0, ...more };
}

/** Opens a log that is closed when the test finishes (closing twice is fine). */
export async function openTestLog(opts: LogOptions): Promise<PartitionedLog> {
  const log = await openLog(opts);
  onTestFinished(() => log.close());
  return log;
}

export function value(i: number, size = 32): Buffer {
  const b = Buffer.alloc(size, i % 251);
  b.writeUInt32BE(i >>> 0, 0);
  return b;
}

export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return undefined;
}

/**
 * Stored bytes per partition of `topic`, summed straight from log.records through a raw lmdb-js
 * handle (the log must not be open): what the log's byte accounting must recover to.
 */
export async function storedBytes(dataDir: string, topic: string, partitions: number): Promise<number[]> {
  const env = open({ path: join(dataDir, 'lmdb'), maxDbs: 64 });
  try {
    const topics = env.openDB<{ id: number }, string>('log.topics', { encoding: 'msgpack' });
    const records = env.openDB<Buffer, [number, number, number]>('log.records', { encoding: 'binary' });
    const id = topics.get(topic)?.id;
    const out: number[] = [];
    for (let p = 0; p < partitions; p++) {
      let bytes = 0;
      if (id !== undefined) {
        for (const { value } of records.getRange({ start: [id, p, 0], end: [id, p + 1, 0] }))
          bytes += value.length;
      }
      out.push(bytes);
    }
    return out;
  } finally {
    await env.close();
  }
}
