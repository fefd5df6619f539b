import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { projectDocs, ROOT } from './markdown.ts';

/**
 * Files linked from the docs that another branch adds (the alert rules); remove an entry once it is
 * merged, so the link is checked like every other.
 */

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fence = false;
  for (const line of md.split('\n')) {
    if (line.startsWith('```')) fence = !fence;
    const h = fence ? null : /^#{1,6} (.*)$/.exec(line);
    if (!h) continue;
    const base = h[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Markdown links outside code fences: [text](target). */
function links(md: string): string[] {
  const out: string[] = [];
  let fence = false;
  for (const line of md.split('\n')) {
    if (line.startsWith('```')) fence = !fence;
    if (fence) continue;
    for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) out.push(m[1]!);
  }
  return out;
}

describe('docs › links', () => {
  test('docs › every relative link in the README and docs/ names a file that exists, and an anchor it has', async () => {
    const broken: string[] = [];
    let checked = 0;
    for (const [file, text] of await projectDocs()) {
      for (const target of links(text)) {
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const abs = path === '' ? join(ROOT, file) : join(ROOT, dirname(file), path);
        checked++;
        if (!existsSync(abs)) {
          broken.push(`${file}: ${target} (no such file)`);
          continue;
        }
        if (
          anchor !== undefined &&
          abs.endsWith('.md') &&
          !anchors(await readFile(abs, 'utf8')).has(anchor)
        ) {
          broken.push(`${file}: ${target} (no such heading)`);
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(broken).toEqual([]);
  });

  test('docs › every repository path the README and docs/ name (src/…, test/…, bench/…) exists', async () => {
    const missing: string[] = [];
    let checked = 0;
    for (const [file, text] of await projectDocs()) {
      // Paths relative to the repository root; not inside another path (/usr/lib/systemd/…), no globs.
      for (const m of text.matchAll(
        /(?<![\w/.-])((?:src|test|bench|systemd|config)\/[\w./-]*\w)(?![\w*])/g,
      )) {
        const path = m[1]!;
        checked++;
        if (!existsSync(join(ROOT, path))) missing.push(`${file}: ${path}`);
      }
    }
    expect(checked).toBeGreaterThan(50);
    expect(missing).toEqual([]);
  });

  test('docs › the README stays a front door (at most about 15 KB)', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(15 * 1024);
  });
});
