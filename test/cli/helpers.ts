import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { onTestFinished } from 'vitest';

export const ROOT = resolve(import.meta.dirname, '../..');
export const NODE = join(ROOT, 'node_modules/.bin/node');
export const MAIN = join(ROOT, 'src/cli/main.ts');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `outpost ...args` as a real child process (Node 24, the shipped entry point). */
export function outpost(
  args: readonly string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
    if (!opts.env?.['OUTPOST_DEBUG']) delete env['OUTPOST_DEBUG'];
    const child = spawn(NODE, [MAIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** A fresh temp dir removed after the current test. */
export async function tempDir(prefix = 'outpost-cli-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a config object as JSON into `dir` and returns its path. */
export async function writeConfig(dir: string, config: unknown, name = 'outpost.json'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(config, null, 2));
  return path;
}

/** A config as plain JSON, loose enough that tests can break it on purpose. */
export interface LooseConfig {
  [key: string]: unknown;
  dataDir: string;
  log: { topics: Record<string, Record<string, unknown>> };
  mqtt: { listeners: Array<Record<string, unknown>>; allowAnonymous?: unknown };
}

/** A small valid config; dataDir inside `dir`. */
export function smallConfig(dir: string, topics: Record<string, { partitions: number }>): LooseConfig {
  return {
    edgeId: 'test-edge',
    dataDir: join(dir, 'data'),
    log: { topics },
    mqtt: { listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }], allowAnonymous: 'loopback' },
    http: { host: '127.0.0.1', port: 0 },
  };
}

/** Lines that look like a JavaScript stack frame. */
export const STACK_FRAME = /^\s+at .+[(:]/m;
