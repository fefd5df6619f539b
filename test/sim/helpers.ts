import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigInput } from '../../src/config/index.ts';
import { fleetConfig as simFleetConfig } from '../../src/sim/index.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `outpost ARGS` as a child process (the same Node), never throwing on a non-zero exit. */
export function cli(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A temp dir removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes a fleet config (see fleetConfig in src/sim) into `dir`; returns its path. */
export function fleetConfig(
  dir: string,
  edgeId: string,
  clusters: Record<string, string> = {},
  overrides: Partial<ConfigInput> = {},
): string {
  const config = simFleetConfig({ edgeId, dataDir: join(dir, 'data'), clusters, overrides });
  const path = join(dir, 'outpost.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}
