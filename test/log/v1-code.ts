/**
 * The 0.1.0 code (record-v1 log, layout format 1) for upgrade tests: `git archive` of the last
 * commit before record-v2 extracts its src/ into a temp dir (with this checkout's node_modules), and
 * scripts run there import the old modules themselves.
 */
import { execFileSync } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The last commit whose log wrote record-v1 only. */
export const V1_COMMIT = '1b42c1fa2f6bce91e0a483041fde2da180388c63';

/** Runs `script` (TypeScript, importing './src/…' of the 0.1.0 code) with `args`; returns stdout. */
export function runV1Code(script: string, args: string[], timeoutMs = 60_000): string {
  const old = tempDir('outpost-v1-code-');
  execFileSync('sh', ['-c', `git -C "${root}" archive ${V1_COMMIT} src package.json | tar -x -C "${old}"`]);
  symlinkSync(join(root, 'node_modules'), join(old, 'node_modules'));
  writeFileSync(join(old, 'script.ts'), script);
  return execFileSync(join(root, 'node_modules', '.bin', 'node'), ['script.ts', ...args], {
    cwd: old,
    timeout: timeoutMs,
    encoding: 'utf8',
  });
}
