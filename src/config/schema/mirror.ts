import { z } from 'zod';
import { nonNegativeInt, positiveInt } from './common.ts';

/** Owner: src/mirror. One independent link per cluster alias. */
const bootstrap = z
  .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port'))
  .min(1, 'expected at least one host:port');

export const clusterSchema = z
  .object({
    bootstrap: z
      .union([
        z
          .string()
          .regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')
          .transform((s) => [s]),
        bootstrap,
      ])
      .describe('Bootstrap broker(s): "host:port" or a list of them.'),
    tls: z
      .object({
        ca: z.string().optional().describe('PEM CA bundle path.'),
        cert: z.string().optional().describe('PEM client certificate path (mutual TLS).'),
        key: z.string().optional().describe('PEM client key path (mutual TLS).'),
        rejectUnauthorized: z.boolean().default(true).describe("Verify the brokers' certificates."),
      })
      .strict()
      .optional()
      .describe('Connect with TLS (SSL or SASL_SSL).'),
    sasl: z
      .object({
        mechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']),
        username: z.string().min(1).describe('SASL user name.'),
        password: z.string().min(1).describe('SASL password (masked by `outpost config show`).'),
      })
      .strict()
      .optional()
      .describe('SASL authentication.'),
    required: z
      .boolean()
      .default(true)
      .describe('Retention may not delete records this cluster has not received.'),
    maxBytesPerSecond: positiveInt.optional().describe('Token-bucket cap on mirrored bytes per second.'),
    batch: z
      .object({
        maxRecords: positiveInt.default(5000).describe('Most records per produce batch and partition.'),
        maxBytes: positiveInt
          .default(1024 ** 2)
          .describe("Most bytes per produce batch; keep at or below the broker's message.max.bytes."),
      })
      .strict()
      .prefault({})
      .describe('Produce batch limits.'),
    compression: z
      .enum(['stored', 'none', 'gzip', 'snappy', 'lz4', 'zstd'])
      .default('stored')
      .describe(
        'Codec of the record batches sent to this cluster. "stored" (default) sends what the log stored (log.topics.<t>.compression) as it is; another codec recompresses each batch once, for a link that wants it.',
      ),
    topics: z
      .object({
        include: z.array(z.string()).default(['*']).describe('Glob patterns of edge topics to mirror.'),
        exclude: z
          .array(z.string())
          .default([])
          .describe('Glob patterns of edge topics not to mirror (wins over include).'),
      })
      .strict()
      .prefault({})
      .describe('Which edge topics this cluster receives.'),
    replicationFactor: positiveInt.default(1).describe('Replication factor for topics Outpost creates.'),
    produceTimeoutMs: positiveInt
      .default(30_000)
      .describe('A batch not acknowledged within this time ends the session: reconnect with backoff (ms).'),
    ackCommitMs: nonNegativeInt
      .default(0)
      .describe(
        "How long an acknowledged batch's index and cursor writes may wait to be committed with the link's other acks, in one LMDB transaction (ms). 0: group commit: one commit at a time per link, each taking every ack that arrived while the previous one committed. Higher: fewer commits beside the ingest's on the log's single writer, but offset translation and the cursor follow the ack that much later; a crash loses nothing either way (the next session re-indexes from the remote tail).",
      ),
    heartbeatIntervalMs: positiveInt.default(5_000).describe('MM2 heartbeat interval (ms).'),
    checkpointIntervalMs: positiveInt
      .default(60_000)
      .describe('How often exact MM2 checkpoints are written to the other clusters (ms).'),
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
      .default({})
      .describe('Central Kafka clusters by alias. Empty: no mirroring.'),
    thread: z
      .boolean()
      .default(true)
      .describe(
        "Run the mirror (links, checkpoint rounds, Kafka encoding) in its own worker thread on the same LMDB environment, so its CPU never delays MQTT acknowledgements; a thread that dies is restarted with backoff (outpost_mirror_thread_restarts_total). false: in the service's main thread. Takes a restart.",
      ),
  })
  .strict();

export type ClusterConfig = z.infer<typeof clusterSchema>;
export type MirrorConfig = z.infer<typeof mirrorSchema>;
