import cron from 'node-cron';
import { z } from 'zod';
import { commandsSchema } from './commands.ts';
import { httpSchema, loggingSchema, serviceSchema } from './http.ts';
import { logSchema } from './log.ts';
import { mirrorSchema } from './mirror.ts';
import { mqttSchema } from './mqtt.ts';
import { routesSchema } from './routes.ts';

/**
 * The single source of Outpost's configuration: types come from z.infer, defaults from .default(),
 * and config/outpost.schema.json is generated from this (npm run config:schema).
 */
export const EDGE_ID = /^[A-Za-z0-9_-]+$/;

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/** Two sockets clash when they share a non-zero port and a host, or either binds every address. */
function clashes(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  return a.host === b.host || WILDCARD_HOSTS.has(a.host) || WILDCARD_HOSTS.has(b.host);
}

interface PortOwner {
  path: Array<string | number>;
  host: string;
  port: number;
}

/** Duplicate listener/HTTP ports would fail at startup with EADDRINUSE; say so at config time. */
function checkPortClashes(
  cfg: { mqtt: { listeners: Array<{ host: string; port: number }> }; http: { host: string; port: number } },
  ctx: z.RefinementCtx,
): void {
  const owners: PortOwner[] = cfg.mqtt.listeners.map((l, i) => ({
    path: ['mqtt', 'listeners', i, 'port'],
    host: l.host,
    port: l.port,
  }));
  owners.push({ path: ['http', 'port'], host: cfg.http.host, port: cfg.http.port });
  owners.forEach((b, j) => {
    const a = owners.slice(0, j).find((o) => clashes(o, b));
    if (a) {
      const where = a.path
        .map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`))
        .join('')
        .slice(1);
      ctx.addIssue({
        code: 'custom',
        path: b.path,
        message: `port ${b.port} on ${b.host} is already used by ${where} (${a.host}:${a.port})`,
      });
    }
  });
}

/**
 * The largest record a PUBLISH can make, beyond its payload: the five MQTT headers (mqtt.topic,
 * mqtt.qos, mqtt.retain, client.id, device.id), the key rendered from the topic, and the record
 * framing. Lengths in the limits are characters; UTF-8 takes up to 3 bytes per UTF-16 unit.
 */
const FRAMING_BYTES = 256;
const DEVICE_ID_BYTES = 128;
function maxRecordOverhead(cfg: {
  mqtt: { limits: { maxTopicLength: number; maxClientIdLength: number } };
  routes: Array<{ key?: string | undefined }>;
}): number {
  const { maxTopicLength, maxClientIdLength } = cfg.mqtt.limits;
  const keyTemplate = Math.max(0, ...cfg.routes.map((r) => Buffer.byteLength(r.key ?? '')));
  const topicBytes = 3 * maxTopicLength;
  return topicBytes * 2 + keyTemplate + 3 * maxClientIdLength + DEVICE_ID_BYTES + FRAMING_BYTES;
}

/** A payload the MQTT limits admit must fit in a record the log accepts; otherwise the device is cut off. */
function checkRecordFits(
  cfg: Parameters<typeof maxRecordOverhead>[0] & {
    mqtt: { limits: { maxPayloadBytes: number } };
    log: { maxRecordBytes: number };
  },
  ctx: z.RefinementCtx,
): void {
  const overhead = maxRecordOverhead(cfg);
  const largest = cfg.mqtt.limits.maxPayloadBytes + overhead;
  if (largest <= cfg.log.maxRecordBytes) return;
  ctx.addIssue({
    code: 'custom',
    path: ['mqtt', 'limits', 'maxPayloadBytes'],
    message:
      `${cfg.mqtt.limits.maxPayloadBytes} bytes plus up to ${overhead} bytes of headers and key exceed ` +
      `log.maxRecordBytes (${cfg.log.maxRecordBytes}): such publishes would be refused by the log. ` +
      `Lower mqtt.limits.maxPayloadBytes to at most ${cfg.log.maxRecordBytes - overhead}, or raise ` +
      `log.maxRecordBytes to at least ${largest}`,
  });
}

/** A mirror topic selection naming a topic literally must name a log topic (a typo mirrors nothing). */
function checkMirrorTopicNames(
  cfg: { mirror: { clusters: Record<string, { topics: { include: string[]; exclude: string[] } }> } },
  topics: Set<string>,
  ctx: z.RefinementCtx,
): void {
  for (const [alias, c] of Object.entries(cfg.mirror.clusters)) {
    for (const list of ['include', 'exclude'] as const) {
      c.topics[list].forEach((name, i) => {
        if (/[*?]/.test(name) || topics.has(name)) return;
        ctx.addIssue({
          code: 'custom',
          path: ['mirror', 'clusters', alias, 'topics', list, i],
          message: `unknown log topic "${name}" (declare it in log.topics, or use a glob pattern)`,
        });
      });
    }
  }
}

/**
 * Command clusters name mirror clusters; enabled commands need at least one, and MQTT sessions
 * (the downlink that delivers them to devices).
 */
function checkCommandClusters(
  cfg: {
    mirror: { clusters: Record<string, unknown> };
    mqtt: { sessions: { enabled: boolean } };
    commands: { enabled: boolean; clusters: string[] };
  },
  ctx: z.RefinementCtx,
): void {
  cfg.commands.clusters.forEach((alias, i) => {
    if (alias in cfg.mirror.clusters) return;
    ctx.addIssue({
      code: 'custom',
      path: ['commands', 'clusters', i],
      message: `unknown cluster "${alias}" (declare it in mirror.clusters)`,
    });
  });
  if (cfg.commands.enabled && Object.keys(cfg.mirror.clusters).length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['commands', 'enabled'],
      message: 'commands need at least one cluster in mirror.clusters',
    });
  }
  if (cfg.commands.enabled && !cfg.mqtt.sessions.enabled) {
    ctx.addIssue({
      code: 'custom',
      path: ['commands', 'enabled'],
      message: 'commands are delivered through MQTT sessions: set mqtt.sessions.enabled to true',
    });
  }
}

export const configSchema = z
  .object({
    $schema: z.string().optional(),
    edgeId: z
      .string()
      .min(1)
      .max(64)
      .regex(EDGE_ID, 'must match [A-Za-z0-9_-]+ (it becomes a Kafka topic prefix; "." is the separator)')
      .describe('This gateway\'s id; the MM2 source alias and remote topic prefix "<edgeId>.<topic>".'),
    dataDir: z
      .string()
      .min(1)
      .default('./data')
      .describe('Directory of the LMDB environment. Relative to the working directory.'),
    log: logSchema.describe('The durable partitioned log (src/log).'),
    mqtt: mqttSchema.describe('MQTT ingest: listeners, anonymous policy, limits (src/ingest).'),
    routes: routesSchema.describe(
      'MQTT topic → log topic routes, tried in order; the first match wins. Every route topic must be declared in log.topics.',
    ),
    unrouted: z
      .string()
      .nullable()
      .default(null)
      .describe('Log topic collecting publishes no route matches. null: refuse them (close the connection).'),
    http: httpSchema
      .prefault({})
      .describe('Admin HTTP: /metrics, /healthz, /readyz, /v1/status, status page.'),
    mirror: mirrorSchema
      .prefault({})
      .describe('Exactly-once mirroring to central Kafka clusters, one link per cluster alias.'),
    commands: commandsSchema
      .prefault({})
      .describe('Cloud-to-device commands from a central Kafka topic to MQTT (src/mirror/commands).'),
    logging: loggingSchema
      .prefault({})
      .describe('pino logs on stdout: JSON lines, readable lines on a terminal (outpost run --log-format).'),
    service: serviceSchema.prefault({}).describe('Process lifecycle.'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const topics = new Set(Object.keys(cfg.log.topics));
    cfg.routes.forEach((r, i) => {
      if (!topics.has(r.topic)) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', i, 'topic'],
          message: `unknown log topic "${r.topic}"`,
        });
      }
    });
    if (cfg.unrouted !== null && !topics.has(cfg.unrouted)) {
      ctx.addIssue({ code: 'custom', path: ['unrouted'], message: `unknown log topic "${cfg.unrouted}"` });
    }
    checkPortClashes(cfg, ctx);
    checkRecordFits(cfg, ctx);
    checkMirrorTopicNames(cfg, topics, ctx);
    checkCommandClusters(cfg, ctx);
    // The retention schedule fails at startup otherwise; say why now (node-cron's own parser).
    const schedule = cron.validateDetailed(cfg.log.retentionSchedule);
    if (!schedule.valid) {
      const why = schedule.errors.map((e) => e.message).join('; ');
      ctx.addIssue({
        code: 'custom',
        path: ['log', 'retentionSchedule'],
        message: `not a cron expression: ${why || 'invalid'}`,
      });
    }
    for (const t of topics) {
      if (cfg.edgeId.length + 1 + t.length > 249) {
        ctx.addIssue({
          code: 'custom',
          path: ['log', 'topics', t],
          message: `remote topic "${cfg.edgeId}.${t}" would exceed Kafka's 249-character limit`,
        });
      }
    }
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
