import { z } from 'zod';
import { nonNegativeInt, positiveInt } from './common.ts';

/** Owner: src/mirror. One independent link per cluster alias. */
const bootstrap = z
  .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port'))
  .min(1, 'expected at least one host:port');

export const clusterSchema = z
  .object({
    bootstrap: z.union([
      z
        .string()
        .regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')
        .transform((s) => [s]),
      bootstrap,
    ]),
    tls: z
      .object({
        ca: z.string().optional().describe('PEM CA bundle path.'),
        cert: z.string().optional(),
        key: z.string().optional(),
        rejectUnauthorized: z.boolean().default(true),
      })
      .strict()
      .optional(),
    sasl: z
      .object({
        mechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']),
        username: z.string().min(1),
        password: z.string().min(1),
      })
      .strict()
      .optional(),
    required: z
      .boolean()
      .default(true)
      .describe('Retention may not delete records this cluster has not received.'),
    maxBytesPerSecond: positiveInt.optional().describe('Token-bucket cap on mirrored bytes per second.'),
    batch: z
      .object({
        maxRecords: positiveInt.default(5000),
        maxBytes: positiveInt.default(1024 ** 2),
      })
      .strict()
      .prefault({}),
    topics: z
      .object({
        include: z.array(z.string()).default(['*']).describe('Glob patterns of edge topics to mirror.'),
        exclude: z.array(z.string()).default([]),
      })
      .strict()
      .prefault({}),
    replicationFactor: positiveInt.default(1).describe('Replication factor for topics Outpost creates.'),
    produceTimeoutMs: positiveInt.default(30_000),
    heartbeatIntervalMs: positiveInt.default(5_000),
    checkpointIntervalMs: positiveInt.default(60_000),
    offsetLagMax: nonNegativeInt.default(100).describe('MM2 offset.lag.max for sparse offset syncs.'),
  })
  .strict();

export const mirrorSchema = z
  .object({
    clusters: z
      .record(
        z.string().regex(/^[A-Za-z0-9_-]+$/, 'cluster aliases use only A-Z a-z 0-9 _ - (no ".")'),
        clusterSchema,
      )
      .default({}),
  })
  .strict();

export type ClusterConfig = z.infer<typeof clusterSchema>;
export type MirrorConfig = z.infer<typeof mirrorSchema>;
