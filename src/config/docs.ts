import { configJsonSchema } from './json-schema.ts';

/**
 * The configuration reference (markdown), rendered from the JSON Schema that is itself generated
 * from the zod schema: keys, types and constraints, defaults, and the `.describe()` texts. One
 * source, so the reference cannot drift from what the loader accepts (a test keeps
 * config/reference.md equal to this output; regenerate with `npm run config:docs`).
 */

type JsonSchema = {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  pattern?: string;
};

interface Row {
  key: string;
  type: string;
  default: string;
  meaning: string;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function constraints(s: JsonSchema): string[] {
  const out: string[] = [];
  const lo = s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : undefined;
  if (s.minimum !== undefined && s.maximum !== undefined && s.maximum !== MAX_SAFE) {
    out.push(`${s.minimum}–${s.maximum}`);
  } else {
    if (lo) out.push(lo);
    else if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
    if (s.maximum !== undefined && s.maximum !== MAX_SAFE) out.push(`≤ ${s.maximum}`);
  }
  if (s.minLength !== undefined && s.minLength > 1) out.push(`≥ ${s.minLength} chars`);
  if (s.maxLength !== undefined) out.push(`≤ ${s.maxLength} chars`);
  if (s.minItems !== undefined) out.push(`≥ ${s.minItems} item${s.minItems === 1 ? '' : 's'}`);
  if (s.pattern !== undefined) out.push(`\`${s.pattern}\``);
  return out;
}

/** The alternatives of a union discriminated by a `type` constant (like mqtt.listeners), if it is one. */
function taggedVariants(s: JsonSchema | undefined): JsonSchema[] | undefined {
  const alts = s?.oneOf ?? s?.anyOf;
  return alts?.every((v) => v.properties?.['type']?.const !== undefined) ? alts : undefined;
}

function typeOf(s: JsonSchema): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' | ');
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.map(typeOf).join(' or ');
  let base: string;
  const tagged = taggedVariants(s.items);
  if (Array.isArray(s.type)) base = s.type.join(' | ');
  else if (s.type === 'array' && tagged) {
    base = `array of objects, by \`type\`: ${tagged.map((v) => JSON.stringify(v.properties?.['type']?.const)).join(', ')}`;
  } else if (s.type === 'array') base = `array of ${s.items ? typeOf(s.items) : 'any'}`;
  else if (s.type === 'object' && !s.properties) base = 'map';
  else base = s.type ?? 'any';
  const c = constraints(s);
  return c.length > 0 ? `${base} (${c.join(', ')})` : base;
}

function defaultOf(s: JsonSchema, required: boolean): string {
  if (required) return '**required**';
  if (s.default === undefined) return '—';
  // Objects defaulting to {} take their fields' defaults, listed on their own rows.
  if (typeof s.default === 'object' && s.default !== null && !Array.isArray(s.default)) {
    if (Object.keys(s.default).length === 0) return '—';
  }
  return `\`${JSON.stringify(s.default)}\``;
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function walk(s: JsonSchema, path: string, required: boolean, rows: Row[]): void {
  rows.push({
    key: path,
    type: typeOf(s),
    default: defaultOf(s, required),
    meaning: s.description ?? '',
  });
  if (s.properties) {
    for (const [k, child] of Object.entries(s.properties)) {
      if (k === '$schema') continue;
      walk(child, `${path}.${k}`, s.required?.includes(k) ?? false, rows);
    }
  }
  if (typeof s.additionalProperties === 'object') {
    const name = s.propertyNames?.pattern ? '<name>' : '<key>';
    walk(s.additionalProperties, `${path}.${name}`, false, rows);
  }
  if (s.items) {
    const itemVariants = taggedVariants(s.items);
    if (itemVariants) {
      for (const v of itemVariants) {
        walk(v, `${path}[type=${String(v.properties?.['type']?.const)}]`, false, rows);
      }
    } else if (s.items.properties) {
      walk(s.items, `${path}[]`, false, rows);
    }
  }
}

export function configReferenceRows(): Row[] {
  const root = configJsonSchema() as JsonSchema;
  const rows: Row[] = [];
  for (const [k, child] of Object.entries(root.properties ?? {})) {
    if (k === '$schema') continue;
    walk(child, k, root.required?.includes(k) ?? false, rows);
  }
  // A row for a map entry or array item restates its parent; keep the keys inside it.
  return rows.filter((r) => !/(\.<(name|key)>|\[[^\]]*\])$/.test(r.key) || r.meaning !== '');
}

export function configReferenceMarkdown(): string {
  const out = [
    '<!-- Generated by `npm run config:docs` from src/config/schema (zod). Do not edit by hand. -->',
    '',
    '| Key | Type | Default | Meaning |',
    '| --- | --- | --- | --- |',
  ];
  for (const r of configReferenceRows()) {
    out.push(`| \`${r.key}\` | ${cell(r.type)} | ${cell(r.default)} | ${cell(r.meaning)} |`);
  }
  return `${out.join('\n')}\n`;
}
