import { z } from 'zod';

/**
 * Owner: src/ingest. Patterns: literal levels, named single-level captures `{name}`, "+", and an
 * optional trailing `#` (full grammar and matcher: src/ingest/routing.ts). This file checks the
 * syntax so a bad route is a config error naming its path; the matcher compiles the same grammar.
 */
const CAPTURE_LEVEL = /^\{[A-Za-z_][A-Za-z0-9_]*\}$/;

/** Capture names of a pattern, or an error message. Kept in step with parsePattern in src/ingest/routing.ts. */
export function patternCaptures(pattern: string): { captures: string[] } | { error: string } {
  const parts = pattern.split('/');
  const captures: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === '#') {
      if (i !== parts.length - 1) return { error: '"#" is only allowed as the last level' };
      continue;
    }
    if (part === '+') continue;
    if (CAPTURE_LEVEL.test(part)) {
      const name = part.slice(1, -1);
      if (captures.includes(name)) return { error: `capture {${name}} appears twice` };
      captures.push(name);
      continue;
    }
    if (/[+#{}]/.test(part)) {
      return {
        error: `level "${part}" mixes text with "+", "#", "{" or "}" (a capture is a whole level: "{name}")`,
      };
    }
  }
  return { captures };
}

export const routeSchema = z
  .object({
    match: z
      .string()
      .min(1)
      .describe('MQTT topic pattern, e.g. "vehicles/{deviceId}/telemetry/#". First matching route wins.'),
    topic: z.string().min(1).describe('Log topic the message is appended to.'),
    key: z
      .string()
      .optional()
      .describe('Record key template over the captures, e.g. "{deviceId}". No key: spread evenly.'),
    deviceAcl: z
      .boolean()
      .default(true)
      .describe(
        'Only the device whose id equals the {deviceId} capture may publish here. false: any authenticated device.',
      ),
  })
  .strict()
  .superRefine((r, ctx) => {
    const parsed = patternCaptures(r.match);
    if ('error' in parsed) {
      ctx.addIssue({ code: 'custom', path: ['match'], message: parsed.error });
      return;
    }
    if (r.key !== undefined) {
      for (const m of r.key.matchAll(/\{([^{}]*)\}/g)) {
        if (!parsed.captures.includes(m[1] as string)) {
          ctx.addIssue({
            code: 'custom',
            path: ['key'],
            message: `names {${m[1]}}, which "${r.match}" does not capture`,
          });
        }
      }
    }
    if (r.deviceAcl && !parsed.captures.includes('deviceId')) {
      ctx.addIssue({
        code: 'custom',
        path: ['deviceAcl'],
        message: `"${r.match}" captures no {deviceId}: add one or set deviceAcl: false to let every device publish here`,
      });
    }
  });

export const routesSchema = z.array(routeSchema).default([]);
export type RouteConfig = z.infer<typeof routeSchema>;
