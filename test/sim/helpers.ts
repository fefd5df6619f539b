import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigInput } from '../../src/config/index.ts';

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

/**
 * A fleet config in `dir`: the topics and routes of config/gateway.example.json, MQTT and HTTP on
 * port 0, password logins only, and the given mirror clusters (all topics).
 */
export function fleetConfig(
  dir: string,
  edgeId: string,
  clusters: Record<string, string> = {},
  extra: Partial<ConfigInput> = {},
): string {
  const config: ConfigInput = {
    edgeId,
    dataDir: join(dir, 'data'),
    log: {
      topics: {
        'stb-events': { partitions: 4 },
        'stb-heartbeat': { partitions: 2 },
        'vehicle-telemetry': { partitions: 4 },
        'vehicle-dtc': { partitions: 2 },
        unrouted: { partitions: 1 },
      },
      maxBytes: 1024 ** 3,
      minFreeBytes: 1024 ** 2,
    },
    mqtt: { listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }], allowAnonymous: false },
    routes: [
      { match: 'stb/{deviceId}/events/{type}', topic: 'stb-events', key: '{deviceId}' },
      { match: 'stb/{deviceId}/heartbeat', topic: 'stb-heartbeat', key: '{deviceId}' },
      { match: 'vehicles/{deviceId}/telemetry/#', topic: 'vehicle-telemetry', key: '{deviceId}' },
      { match: 'vehicles/{deviceId}/dtc', topic: 'vehicle-dtc', key: '{deviceId}' },
    ],
    unrouted: 'unrouted',
    http: { host: '127.0.0.1', port: 0 },
    mirror: {
      clusters: Object.fromEntries(
        Object.entries(clusters).map(([alias, bootstrap]) => [alias, { bootstrap, required: true }]),
      ),
    },
    ...extra,
  };
  const path = join(dir, 'outpost.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}
