import { z } from 'zod';
import { positiveInt } from './common.ts';

/**
 * Owner: src/mirror/commands. Cloud-to-device commands: a central Kafka topic consumed from one of
 * the mirror's clusters (failover to the next), each record handed to the MQTT downlink. Off by
 * default. Template placeholders: `{edgeId}`, `{deviceId}`, `{key}` and `{header.NAME}`.
 */
const PLACEHOLDER = /\{(edgeId|deviceId|key|header\.[^{}]+)\}/g;

function checkTemplate(allowed: readonly string[]) {
  return (s: string, ctx: z.RefinementCtx) => {
    const rest = s.replace(PLACEHOLDER, (m, name: string) => {
      const kind = name.startsWith('header.') ? 'header' : name;
      if (!allowed.includes(kind)) ctx.addIssue({ code: 'custom', message: `${m} is not allowed here` });
      return '';
    });
    if (/[{}]/.test(rest)) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown placeholder (use ${allowed.map((a) => (a === 'header' ? '{header.NAME}' : `{${a}}`)).join(', ')})`,
      });
    }
  };
}

const headerName = z.string().min(1).max(255);

export const commandsSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe('Consume cloud-to-device commands from central Kafka and deliver them over MQTT.'),
    clusters: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'mirror.clusters aliases to consume from, in order of preference: the first healthy one is used, the next on failure. Empty: every mirror cluster in the order declared.',
      ),
    topic: z
      .string()
      .min(1)
      .max(249)
      .default('commands.{edgeId}')
      .superRefine(checkTemplate(['edgeId']))
      .describe(
        'Central command topic ({edgeId} allowed); it must exist with the same records on every cluster listed (produced to both, or mirrored by MM2 with the identity replication policy).',
      ),
    gatewayHeader: headerName
      .nullable()
      .default(null)
      .describe(
        'On a topic shared by many gateways: only records whose header of this name equals edgeId are ours (others are skipped). null: every record is ours.',
      ),
    deviceFrom: z
      .string()
      .min(1)
      .default('{key}')
      .superRefine(checkTemplate(['edgeId', 'key', 'header']))
      .describe('Template of the target device id, from the record key and headers.'),
    mqttTopic: z
      .string()
      .min(1)
      .default('devices/{deviceId}/commands')
      .superRefine(checkTemplate(['edgeId', 'deviceId', 'key', 'header']))
      .describe('Template of the MQTT topic the command is published on (no + or # after rendering).'),
    qos: z
      .union([z.literal(0), z.literal(1), z.literal(2)])
      .default(1)
      .describe('MQTT QoS of a command without a QoS header.'),
    qosHeader: headerName
      .nullable()
      .default('outpost-qos')
      .describe('Header whose value ("0", "1" or "2") sets a command\'s QoS. null: always `qos`.'),
    idHeader: headerName
      .default('outpost-command-id')
      .describe(
        "Header carrying the command's unique id (the dedup identity across clusters and restarts). A record without it is identified by a SHA-256 of its key, value, timestamp and headers (equal on an MM2 copy).",
      ),
    ttlHeader: headerName
      .default('outpost-ttl-ms')
      .describe(
        "Header with a command's time to live: decimal milliseconds after the record's Kafka timestamp. Older commands are not delivered (outcome expired).",
      ),
    defaultTtlMs: positiveInt
      .nullable()
      .default(null)
      .describe('TTL of a command without a TTL header (ms). null: such commands never expire.'),
    initialPosition: z
      .enum(['earliest', 'latest'])
      .default('earliest')
      .describe(
        'Where a gateway that has never consumed the topic on any cluster starts. A failover to a cluster not consumed before always starts at its earliest offset (dedup by id skips what was delivered).',
      ),
    dedupRetentionMs: positiveInt
      .default(7 * 24 * 3600 * 1000)
      .describe(
        "How long the id of a handled command is kept for dedup (ms). Keep it at or above the command topic's retention.ms on every cluster: exactly-once across failover relies on it.",
      ),
    failoverAfterMs: positiveInt
      .default(10_000)
      .describe('How long the current cluster may fail before the next one is tried (ms).'),
    fetchMaxWaitMs: positiveInt
      .default(500)
      .describe('Fetch long-poll: how long the broker may hold a fetch that has no new records (ms).'),
    requestTimeoutMs: positiveInt.default(15_000).describe('Timeout of each Kafka request (ms).'),
    groupId: z
      .string()
      .min(1)
      .nullable()
      .default('outpost-commands.{edgeId}')
      .superRefine((s, ctx) => (s === null ? undefined : checkTemplate(['edgeId'])(s, ctx)))
      .describe(
        "Consumer group to which the gateway's position is also committed on the current cluster, for central tooling only (the position that counts is in the gateway's LMDB). null: never commit.",
      ),
    groupCommitIntervalMs: positiveInt
      .default(5_000)
      .describe('How often the position is committed to groupId (ms).'),
    outcomesTopic: z
      .string()
      .min(1)
      .max(249)
      .nullable()
      .default(null)
      .superRefine((s, ctx) => (s === null ? undefined : checkTemplate(['edgeId'])(s, ctx)))
      .describe(
        'Central topic receiving one record per handled command (delivered, queued, expired, rejected), keyed by command id, on the current cluster. null: none.',
      ),
    onUncertain: z
      .enum(['redeliver', 'skip'])
      .default('redeliver')
      .describe(
        'A command whose delivery began but whose result was not recorded (the process died in between): deliver it again (at least once) or skip it (at most once). Either way counted and logged.',
      ),
  })
  .strict();

export type CommandsConfig = z.infer<typeof commandsSchema>;
