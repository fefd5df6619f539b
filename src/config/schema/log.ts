import { z } from 'zod';

import { nonNegativeInt, positiveInt } from './common.ts';

/** Owner: src/log. Kafka's legal topic characters; internal-looking names are refused. */
export const TOPIC_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

export const DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000;
export const DEFAULT_RETENTION_BYTES = 1024 ** 3;
export const DEFAULT_LOG_MAX_BYTES = 8 * 1024 ** 3;
/**
 * Measured with npm run bench:gateway: the smallest window that keeps a 500 msg/s gateway under
 * 4 KiB written per message with PUBACK p99 under 50 ms.
 */
export const DEFAULT_COMMIT_WINDOW_MS = 30;
/** Measured with npm run bench:ingest (saturation): 64 KiB gave 31-34k msg/s, 1 MiB 18k. */
export const DEFAULT_COMMIT_MAX_BYTES = 64 * 1024;
/**
 * zstd: gateways pay per byte on cellular and satellite links and per byte written on flash; zstd
 * at level 3 shrinks JSON telemetry several times (test/log/record-v2.test.ts: below a quarter) at
 * tens of microseconds per batch, decodes fast, is built into Node 24 and every Kafka ≥ 2.1 broker.
 */
export const DEFAULT_COMPRESSION = 'zstd';

export const topicSchema = z
  .object({
    partitions: positiveInt
      .max(1024, 'must be at most 1024')
      .describe('Number of partitions. May grow, never shrink.'),
    retentionMs: positiveInt
      .default(DEFAULT_RETENTION_MS)
      .describe('Delete batches whose newest record is older than this (ms), never past a protected cursor.'),
    retentionBytes: positiveInt
      .default(DEFAULT_RETENTION_BYTES)
      .describe(
        'Per-partition size retention (bytes): deletes whole batches, oldest first, while the partition still holds at least this much; never past a protected cursor.',
      ),
    compression: z
      .enum(['none', 'gzip', 'snappy', 'lz4', 'zstd'])
      .default(DEFAULT_COMPRESSION)
      .describe(
        'Codec of the Kafka record batches the log stores (one batch per partition and commit, compressed once when sealed, mirrored as stored). Changing it applies to new batches.',
      ),
    priority: nonNegativeInt
      .default(0)
      .describe('Mirror backlog priority: higher drains first after an outage.'),
  })
  .strict();

export const logSchema = z
  .object({
    topics: z
      .record(
        z
          .string()
          .max(200, 'topic names must be at most 200 characters')
          .regex(TOPIC_NAME, 'topic names use only A-Z a-z 0-9 . _ - and must not start with "."')
          .refine((t) => !t.startsWith('__') && !t.endsWith('.internal') && !t.endsWith('-internal'), {
            message: 'topic names must not look internal (leading "__", trailing ".internal"/"-internal")',
          }),
        topicSchema,
      )
      .refine((t) => Object.keys(t).length > 0, { message: 'declare at least one topic' })
      .describe('Log topics by name.'),
    maxBytes: positiveInt
      .default(DEFAULT_LOG_MAX_BYTES)
      .describe(
        'Disk budget for the whole log: bytes of pages in use in the LMDB data file (freed pages are reused, so retention makes room).',
      ),
    onFull: z
      .enum(['reject', 'drop-oldest'])
      .default('reject')
      .describe(
        'At the disk budget: "reject" fails appends with LOG_FULL; "drop-oldest" deletes oldest records (counted).',
      ),
    minFreeBytes: nonNegativeInt
      .default(256 * 1024 ** 2)
      .describe(
        'Treat the log as full when the filesystem has less free space than this (bytes). Changes need a restart.',
      ),
    retentionSchedule: z
      .string()
      .default('*/1 * * * *')
      .describe('node-cron expression for the retention run.'),
    maxRecordBytes: positiveInt
      .default(1024 ** 2)
      .describe('Largest encoded record the log accepts (bytes). Changes need a restart.'),
    commitWindowMs: nonNegativeInt
      .max(1000, 'must be at most 1000')
      .default(DEFAULT_COMMIT_WINDOW_MS)
      .describe(
        'Group-commit window (ms): records of this long share one fsynced commit, trading PUBACK latency (up to this much more) for fewer flash pages written per message. 0 commits once per event turn. The default 30 measured 3.7 KB written per message at PUBACK p99 40 ms under 500 msg/s (npm run bench:gateway); 150 is the low-wear setting (780 B, PUBACK p99 166 ms). A reload (SIGHUP) applies it from the next commit.',
      ),
    commitMaxBytes: positiveInt
      .default(DEFAULT_COMMIT_MAX_BYTES)
      .describe(
        'A commit closes before its window ends once this many (uncompressed) record bytes wait, so a busy gateway does not pay the whole window: at saturation (npm run bench:ingest, 100 connections) the default 64 KiB measured 31-34k msg/s against 18k with 1 MiB, writing about the same bytes per message. Below about 9,000 msg/s of 200 B records the 30 ms window closes first. A reload (SIGHUP) applies it from the next append.',
      ),
  })
  .strict();

export type TopicConfig = z.infer<typeof topicSchema>;
export type LogConfig = z.infer<typeof logSchema>;
