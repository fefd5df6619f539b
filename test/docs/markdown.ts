import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');

/** Markdown tables without the column padding Biome's formatter adds (cells trimmed, rules "---"). */
export function unpadTables(md: string): string {
  return md
    .split('\n')
    .map((line) => {
      if (!line.startsWith('|')) return line;
      const cells = line.split(/(?<!\\)\|/).slice(1, -1);
      return `| ${cells.map((c) => c.trim().replace(/^-+$/, '---')).join(' | ')} |`;
    })
    .join('\n');
}

/** README.md and every docs/*.md, as [relative path, text]. */
export async function projectDocs(): Promise<Array<[string, string]>> {
  const files = [
    'README.md',
    ...(await readdir(join(ROOT, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
  ];
  return Promise.all(files.map(async (f) => [f, await readFile(join(ROOT, f), 'utf8')] as [string, string]));
}
