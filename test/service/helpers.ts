/**
 * Test helpers: a real `outpost run` child process on random ports, its JSON log lines, real MQTT
 * clients, and reading the log back as a reader.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { onTestFinished } from 'vitest';
import type { ConfigInput } from '../../src/config/index.ts';
import { type LogRecord, openLog } from '../../src/log/index.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const MAIN = join(ROOT, 'src/cli/main.ts');

export function uniq(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `outpost-${prefix}-`));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function baseConfig(dataDir: string, edgeId = uniq('gw')): ConfigInput {
  return {
    edgeId,
    dataDir,
    log: { topics: { a: { partitions: 2 }, b: { partitions: 1 } }, minFreeBytes: 0 },
    mqtt: { listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }], allowAnonymous: 'loopback' },
    routes: [{ match: 'a/{deviceId}/#', topic: 'a', key: '{deviceId}' }],
    http: { host: '127.0.0.1', port: 0 },
    service: { shutdownTimeoutMs: 10_000 },
  };
}

export function writeConfig(path: string, config: unknown): void {
  writeFileSync(path, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
}

export interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

export interface Outpost {
  proc: ChildProcess;
  pid: number;
  lines: LogLine[];
  stderr(): string;
  http: string;
  mqttPort: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLine(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

export interface SpawnResult {
  proc: ChildProcess;
  lines: LogLine[];
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLine(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

/**
 * Spawns `node src/cli/main.ts run --config <path>` with Node 24 (this test's own runtime); `argv`
 * replaces the script and its arguments (a test launcher calling runService with test-only options).
 */
export function spawnOutpost(
  configPath: string,
  env: NodeJS.ProcessEnv = {},
  argv: string[] = [MAIN, 'run', '--config', configPath],
): SpawnResult {
  const proc = spawn(process.execPath, argv, {
    cwd: ROOT,
    env: { ...process.env, NOTIFY_SOCKET: '', WATCHDOG_USEC: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  let err = '';
  let buf = '';
  const waiters = new Set<() => void>();
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        lines.push({ level: 'raw', msg: text });
      }
      nl = buf.indexOf('\n');
    }
    for (const w of waiters) w();
  });
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.once('exit', (code, signal) => {
      for (const w of waiters) w();
      r({ code, signal });
    }),
  );
  let done = false;
  void exited.then(() => {
    done = true;
  });
  onTestFinished(async () => {
    if (!done) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  const waitForLine = (pred: (l: LogLine) => boolean, timeoutMs = 20_000) =>
    new Promise<LogLine>((resolveLine, reject) => {
      const check = () => {
        const hit = lines.find(pred);
        if (hit) {
          cleanup();
          resolveLine(hit);
        } else if (done) {
          cleanup();
          reject(
            new Error(
              `outpost exited before the expected log line; stderr: ${err}\nstdout: ${JSON.stringify(lines.slice(-5))}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for a log line; last lines: ${JSON.stringify(lines.slice(-5))}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return { proc, lines, stderr: () => err, exited, waitForLine };
}

/** Spawns and waits for "outpost ready"; returns the admin URL and the MQTT TCP port. */
export async function startOutpost(
  configPath: string,
  env: NodeJS.ProcessEnv = {},
  argv?: string[],
): Promise<Outpost> {
  const s = spawnOutpost(configPath, env, argv);
  const ready = await s.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('outpost ready'));
  const listening = s.lines.find((l) => l.msg === 'ingest listening') as
    | (LogLine & { addresses: Array<{ type: string; port: number }> })
    | undefined;
  const tcp = listening?.addresses.find((a) => a.type === 'tcp');
  if (!tcp) throw new Error('no tcp listener in the startup log');
  return { ...s, pid: s.proc.pid as number, http: String(ready.http), mqttPort: tcp.port };
}

export async function connectMqtt(
  port: number,
  clientId = uniq('c'),
  auth: { username?: string; password?: string } = {},
): Promise<MqttClient> {
  const client = await mqtt.connectAsync({
    ...auth,
    host: '127.0.0.1',
    port,
    clientId,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    protocolVersion: 4,
  });
  onTestFinished(() => {
    client.end(true);
  });
  return client;
}

/** Every record of a topic, read through a second (reader) handle on the data dir. */
export async function readTopic(
  dataDir: string,
  topics: Record<string, { partitions: number }>,
  topic: string,
) {
  const log = await openLog({
    dataDir,
    topics: Object.fromEntries(
      Object.entries(topics).map(([k, v]) => [
        k,
        { partitions: v.partitions, retentionMs: 7 * 86_400_000, retentionBytes: 1024 ** 3 },
      ]),
    ),
    maxBytes: 8 * 1024 ** 3,
    onFull: 'reject',
    role: 'reader',
  });
  try {
    const out: LogRecord[] = [];
    for (let p = 0; p < log.partitionCount(topic); p++) {
      let offset = 0;
      for (;;) {
        const batch = log.read(topic, p, offset, { maxRecords: 1000 });
        if (batch.length === 0) break;
        out.push(...batch);
        offset = (batch.at(-1)?.offset ?? offset) + 1;
      }
    }
    return out;
  } finally {
    await log.close();
  }
}

/** Sum of the samples of one metric whose labels include `match`, from Prometheus text. */
export function metricValue(text: string, name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) {
      sum += Number(m[3]);
      seen = true;
    }
  }
  if (!seen) throw new Error(`metric ${name} ${JSON.stringify(match)} not found`);
  return sum;
}
