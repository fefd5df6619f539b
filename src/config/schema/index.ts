import { z } from 'zod';
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
    log: logSchema,
    mqtt: mqttSchema,
    routes: routesSchema,
    unrouted: z
      .string()
      .nullable()
      .default(null)
      .describe('Log topic collecting publishes no route matches. null: refuse them (close the connection).'),
    http: httpSchema.prefault({}),
    mirror: mirrorSchema.prefault({}),
    logging: loggingSchema.prefault({}),
    service: serviceSchema.prefault({}),
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
