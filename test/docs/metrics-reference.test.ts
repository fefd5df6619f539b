import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  defaultMetricNames,
  type MetricRow,
  metricsReferenceMarkdown,
  metricsReferenceRows,
} from '../../src/service/index.ts';
import { projectDocs, ROOT, unpadTables } from './markdown.ts';

let rows: MetricRow[];
beforeAll(async () => {
  rows = await metricsReferenceRows(); // a real service on a temp dir, ports 0
});

describe('docs › metrics reference', () => {
  test('docs › docs/metrics.md equals the reference read from a running service (run npm run metrics:docs)', async () => {
    const committed = await readFile(join(ROOT, 'docs/metrics.md'), 'utf8');
    expect(unpadTables(committed)).toBe(unpadTables(metricsReferenceMarkdown(rows, defaultMetricNames())));
  });

  test("docs › the registry holds every module's metrics with their types and labels", () => {
    const byName = new Map(rows.map((r) => [r.name, r]));
    expect(byName.get('outpost_ingest_refusals_total')).toMatchObject({
      type: 'counter',
      labels: ['reason'],
    });
    expect(byName.get('outpost_ingest_puback_seconds')?.type).toBe('histogram');
    expect(byName.get('outpost_mirror_lag_records')?.labels).toEqual(['cluster', 'topic', 'partition']);
    expect(byName.get('outpost_auth_failures_total')?.labels).toEqual(['reason']);
    expect(byName.get('outpost_log_full')?.type).toBe('gauge');
    expect(defaultMetricNames().has('outpost_process_resident_memory_bytes')).toBe(true);
  });

  test('docs › every outpost_* metric the README and docs/ name is one the service registers', async () => {
    const known = new Set(rows.map((r) => r.name));
    const histograms = rows.filter((r) => r.type === 'histogram').map((r) => r.name);
    const unknown: string[] = [];
    for (const [file, text] of await projectDocs()) {
      // A name followed by `*` or `{` stands for a family or a selector; `_` at the end for a prefix.
      for (const m of text.matchAll(/\boutpost_[a-z0-9_]+\b(?!\*)/g)) {
        const name = m[0];
        if (name.endsWith('_')) continue;
        const series = histograms.some((h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`].includes(name));
        if (!known.has(name) && !series) unknown.push(`${file}: ${name}`);
      }
    }
    expect(unknown).toEqual([]);
  });
});
