import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { OutpostError } from '../errors.ts';
import { type Config, configSchema } from './schema/index.ts';

type Issue = z.core.$ZodIssue;
type PathKey = PropertyKey;

/** `log.topics.vehicle-telemetry.partitions`, `mqtt.listeners[0].port`. */
export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else out += out === '' ? String(k) : `.${String(k)}`;
  }
  return out || '(root)';
}

function quoteList(values: readonly unknown[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}

function typeName(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'an array';
  if (typeof input === 'object') return 'an object';
  return `a ${typeof input}`;
}

/**
 * Messages for zod's built-in checks, used only where the schema gives none of its own (zod's
 * precedence: schema message > this per-parse map). Wording: what is wanted, then what was found.
 */
const errorMap: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'required';
      return `expected ${iss.expected === 'array' ? 'an array' : iss.expected === 'object' ? 'an object' : `a ${iss.expected}`}, got ${typeName(iss.input)}`;
    case 'invalid_value':
      return iss.values.length === 1
        ? `must be ${JSON.stringify(iss.values[0])}`
        : `must be one of ${quoteList(iss.values)}`;
    case 'too_small':
      if (iss.origin === 'string')
        return iss.minimum === 1 ? 'must not be empty' : `must be at least ${iss.minimum} characters`;
      if (iss.origin === 'array') return `must have at least ${iss.minimum} item(s)`;
      return `must be ${iss.inclusive ? 'at least' : 'more than'} ${iss.minimum}`;
    case 'too_big':
      if (iss.origin === 'string') return `must be at most ${iss.maximum} characters`;
      if (iss.origin === 'array') return `must have at most ${iss.maximum} item(s)`;
      return `must be ${iss.inclusive ? 'at most' : 'less than'} ${iss.maximum}`;
    case 'invalid_union':
      if ('discriminator' in iss && Array.isArray(iss['options']))
        return `must be one of ${quoteList(iss['options'] as unknown[])}`;
      return undefined;
    default:
      return undefined;
  }
};

/**
 * A union fails with one issue list per alternative. Show the alternative the input was evidently
 * aiming at (the one that got past the type check); if none did, say which types are accepted.
 */
function flattenUnion(issue: Issue & { code: 'invalid_union' }): Array<{ path: PathKey[]; message: string }> {
  const typeOnly = (branch: readonly Issue[]) =>
    branch.every((i) => i.code === 'invalid_type' && i.path.length === 0);
  const aimed = issue.errors.filter((b) => !typeOnly(b));
  if (aimed.length === 1) {
    return aimed[0]!
      .flatMap((i) => flatten(i))
      .map((f) => ({ path: [...issue.path, ...f.path], message: f.message }));
  }
  const expected = issue.errors.flatMap((b) =>
    b.map((i) => (i.code === 'invalid_type' ? i.expected : undefined)),
  );
  const names = [...new Set(expected.filter((e) => e !== undefined))];
  if (names.length > 0 && aimed.length === 0) {
    return [{ path: [...issue.path], message: `expected ${names.join(' or ')}` }];
  }
  return [{ path: [...issue.path], message: issue.message }];
}

function flatten(issue: Issue): Array<{ path: PathKey[]; message: string }> {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ path: [...issue.path, k], message: 'unknown key' }));
  }
  if (issue.code === 'invalid_union' && issue.errors.length > 0) return flattenUnion(issue);
  return [{ path: [...issue.path], message: issue.message }];
}

/** `a.b.c: reason` lines, one per problem, in schema order. */
export function formatIssues(issues: readonly Issue[]): string[] {
  return issues.flatMap(flatten).map((f) => `${formatPath(f.path)}: ${f.message}`);
}

/** Validate an already-parsed JSON value. Throws CONFIG_INVALID naming every bad path. */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(raw, { error: errorMap });
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
    const code = (cause as NodeJS.ErrnoException).code;
    const msg =
      code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : String(cause);
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
