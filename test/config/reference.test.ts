import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { configReferenceRows } from '../../src/config/docs.ts';
import { configJsonSchema, configReferenceMarkdown } from '../../src/config/index.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/** Markdown tables without the column padding Biome's formatter adds (cells trimmed, rules "---"). */
function unpadTables(md: string): string {
  return md
    .split('\n')
    .map((line) => {
      if (!line.startsWith('|')) return line;
      const cells = line.split(/(?<!\\)\|/).slice(1, -1);
      return `| ${cells.map((c) => c.trim().replace(/^-+$/, '---')).join(' | ')} |`;
    })
    .join('\n');
}

/** Every leaf key path of a JSON Schema (objects, maps as <name>, tagged arrays as [type=x]). */
function leafPaths(s: Record<string, unknown>, path: string, out: string[]): void {
  const props = s['properties'] as Record<string, Record<string, unknown>> | undefined;
  const extra = s['additionalProperties'];
  const items = s['items'] as Record<string, unknown> | undefined;
  let descended = false;
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (k !== '$schema') leafPaths(v, path ? `${path}.${k}` : k, out);
    }
    descended = true;
  }
  if (extra && typeof extra === 'object') {
    leafPaths(extra as Record<string, unknown>, `${path}.<name>`, out);
    descended = true;
  }
  const variants = (items?.['oneOf'] ?? items?.['anyOf']) as Array<Record<string, unknown>> | undefined;
  if (variants) {
    for (const v of variants) {
      const tag = (v['properties'] as Record<string, { const?: unknown }>)['type']?.const;
      leafPaths(v, `${path}[type=${String(tag)}]`, out);
    }
    descended = true;
  } else if (items?.['properties']) {
    leafPaths(items, `${path}[]`, out);
    descended = true;
  }
  if (!descended) out.push(path);
}

describe('config › reference', () => {
  test('config › config/reference.md equals the reference rendered from the schema (run npm run config:docs)', async () => {
    const committed = await readFile(join(ROOT, 'config/reference.md'), 'utf8');
    expect(unpadTables(committed)).toBe(unpadTables(configReferenceMarkdown()));
  });

  test('config › the reference has a row for every leaf key the schema accepts, with its default', () => {
    const leaves: string[] = [];
    leafPaths(configJsonSchema(), '', leaves);
    const rows = new Map(configReferenceRows().map((r) => [r.key, r]));
    expect(leaves.length).toBeGreaterThan(40);
    for (const leaf of leaves) expect(rows.has(leaf), leaf).toBe(true);
    expect(rows.get('dataDir')?.default).toBe('`"./data"`');
    expect(rows.get('edgeId')?.default).toBe('**required**');
    expect(rows.get('log.topics.<name>.partitions')?.type).toBe('integer (> 0, ≤ 1024)');
    expect(rows.get('mqtt.listeners')?.type).toContain('"tcp", "tls", "ws"');
  });
});
