import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { OutpostError } from '../errors.ts';
import { type Config, configSchema } from './schema/index.ts';

/** `a.b.c: reason` lines, one per issue, in schema order. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return `${path || '(root)'}: ${issue.message}`;
  });
}

/** Validate an already-parsed JSON value. Throws CONFIG_INVALID naming every bad path. */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = formatIssues(result.error.issues);
    throw new OutpostError('CONFIG_INVALID', `${source} is invalid:\n  ${lines.join('\n  ')}`, {
      path: source,
      reason: lines.join('; '),
    });
  }
  return result.data;
}

/** Read, parse and validate a JSON config file. */
export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const msg = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(cause);
    throw new OutpostError('CONFIG_UNREADABLE', `cannot read config ${path}: ${msg}`, { path, cause });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new OutpostError('CONFIG_INVALID', `${path} is not valid JSON: ${(cause as Error).message}`, {
      path,
      cause,
    });
  }
  return parseConfig(raw, path);
}
