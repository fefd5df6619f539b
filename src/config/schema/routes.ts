import { z } from 'zod';

/** Owner: src/ingest. Patterns: literal levels, named single-level captures `{name}`, optional trailing `#`. */
export const routeSchema = z
  .object({
    match: z.string().min(1).describe('MQTT topic pattern, e.g. "vehicles/{deviceId}/telemetry/#".'),
    topic: z.string().min(1).describe('Log topic the message is appended to.'),
    key: z
      .string()
      .optional()
      .describe('Record key template over the captures, e.g. "{deviceId}". No key: spread evenly.'),
    deviceAcl: z
      .boolean()
      .default(true)
      .describe('Only the device whose id equals the {deviceId} capture may publish here.'),
  })
  .strict();

export const routesSchema = z.array(routeSchema).default([]);
export type RouteConfig = z.infer<typeof routeSchema>;
