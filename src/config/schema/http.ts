import { z } from 'zod';
import { host, port } from './common.ts';

/** Owner: src/service. Admin HTTP: /metrics, /healthz, /readyz, /v1/status, status page. */
export const httpSchema = z
  .object({
    host: host
      .default('127.0.0.1')
      .describe('Address of the admin HTTP server (metrics, health, status page).'),
    port: port.default(9464).describe('Port of the admin HTTP server; 0 picks a free one.'),
    token: z
      .string()
      .min(16, 'must be at least 16 characters')
      .optional()
      .describe('Bearer token; required when host is not loopback (all but /healthz).'),
  })
  .strict()
  .superRefine((http, ctx) => {
    const loopback =
      http.host === 'localhost' || http.host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(http.host);
    if (!loopback && http.token === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['token'],
        message: `required when http.host (${http.host}) is not loopback: the admin API would be open to the network`,
      });
    }
  });

export const loggingSchema = z
  .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') })
  .strict();

export const serviceSchema = z
  .object({
    shutdownTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(20_000)
      .describe('Bound on the SIGTERM drain (ms).'),
  })
  .strict();

export type HttpConfig = z.infer<typeof httpSchema>;
