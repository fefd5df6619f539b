import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { onTestFinished } from 'vitest';
import { type Devices, type OpenDevicesOptions, openDevices } from '../../src/devices/index.ts';
import { openLog, type PartitionedLog } from '../../src/log/index.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const NODE = join(ROOT, 'node_modules/.bin/node');
export const MAIN = join(ROOT, 'src/cli/main.ts');

export const THROTTLE = { maxFailures: 5, windowMs: 60_000, blockMs: 300_000 };

/** A fresh temp dir removed after the current test. */
export async function tempDir(prefix = 'outpost-devices-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export const TOPICS = { t: { partitions: 1, retentionMs: 86_400_000, retentionBytes: 1024 ** 3 } };

/** The real log (LMDB on disk) in `dataDir`, closed after the test. */
export async function openTestLog(
  dataDir: string,
  role: 'owner' | 'reader' = 'owner',
): Promise<PartitionedLog> {
  const log = await openLog({
    dataDir,
    topics: TOPICS,
    maxBytes: 1024 ** 3,
    onFull: 'reject',
    minFreeBytes: 0,
    role,
  });
  onTestFinished(() => log.close());
  return log;
}

/** Registry over a real log in a fresh temp dir; both closed after the test. */
export async function openTestDevices(
  opts: Partial<OpenDevicesOptions> = {},
): Promise<{ devices: Devices; log: PartitionedLog; dir: string }> {
  const dir = await tempDir();
  const log = await openTestLog(join(dir, 'data'));
  const devices = openDevices(log, { throttle: THROTTLE, ...opts });
  onTestFinished(() => devices.close());
  return { devices, log, dir };
}

/** A pino logger whose JSON lines land in `lines`. */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** A config file whose dataDir is `dataDir` (same topics as openTestLog). */
export async function writeTestConfig(dir: string, dataDir: string): Promise<string> {
  const path = join(dir, 'outpost.json');
  await writeFile(
    path,
    JSON.stringify({
      edgeId: 'test-edge',
      dataDir,
      log: { topics: TOPICS },
      mqtt: { listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }], allowAnonymous: 'loopback' },
      routes: [{ match: 'x/{deviceId}/#', topic: 't', key: '{deviceId}' }],
      http: { host: '127.0.0.1', port: 0 },
    }),
  );
  return path;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `outpost ...args` as a real child process (Node 24), optionally feeding stdin. */
export function outpost(args: readonly string[], stdin?: string): Promise<CliResult> {
  return new Promise((done, fail) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['OUTPOST_DEBUG'];
    const child = spawn(NODE, [MAIN, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // the CLI may exit without reading stdin
    child.stdin.end(stdin ?? '');
  });
}
