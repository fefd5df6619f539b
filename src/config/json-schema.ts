import { z } from 'zod';
import { configSchema } from './schema/index.ts';

/** The editor-facing JSON Schema, generated from the zod schema (input side: defaults are optional). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
