/**
 * The brokers the benchmarks start, each on a free loopback port in its own fresh directory:
 * Outpost (`outpost run`), Mosquitto 2 (`persistence false`), and bare aedes (the framework floor).
 * The durable peer, ActiveMQ Artemis, lives in bench/peers/artemis/artemis.ts.
 */
import { fork, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import { freePort, waitForMessage } from './proc.ts';
import { managedStop } from './stop-on-signal.ts';

export interface Broker {
  /** Short name: outpost, mosquitto, artemis, aedes. */
  name: string;
  /** What it promises at PUBACK, for the report. */
  label: string;
  /** The broker process itself (what /proc figures are read from). */
  pid: number;
  port: number;
  /** Outpost's admin HTTP base URL (http://127.0.0.1:PORT/), for /metrics. */
  http?: string;
  stop(): Promise<void>;
}

export type StartBroker = (dir: string) => Promise<Broker>;

/** Outpost's config file (config/default.json), what `npm start` runs. */
export const DEFAULT_CONFIG = join(import.meta.dirname, '../../config/default.json');

/**
 * `outpost run` on `config` with its data dir moved to a fresh `dir/outpost-data`, its MQTT
 * and HTTP listeners on free loopback ports, and its log level at least info; nothing else is
 * changed.
 */
/** `nodeArgs`: extra flags for the broker's Node (e.g. --heapsnapshot-signal for bench:sessions). */
export async function startOutpost(
  dir: string,
  config: Record<string, unknown>,
  nodeArgs: string[] = [],
): Promise<Broker> {
  const dataDir = join(dir, 'outpost-data');
  mkdirSync(dataDir, { recursive: true });
  const cfg = join(dir, 'outpost.json');
  const mqttCfg = (config['mqtt'] ?? {}) as Record<string, unknown>;
  const level = ((config['logging'] ?? {}) as { level?: string }).level;
  writeFileSync(
    cfg,
    JSON.stringify({
      ...config,
      $schema: undefined,
      dataDir,
      mqtt: { ...mqttCfg, listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }] },
      http: { host: '127.0.0.1', port: 0 },
      // Its ports are read from its info log lines: a quieter level would never report them.
      logging: { level: level === 'debug' || level === 'trace' ? level : 'info' },
    }),
  );
  const main = join(import.meta.dirname, '../../src/cli/main.ts');
  // BENCH_PROFILE=<dir>: V8 CPU profile of the broker process. Node writes it when the process
  // exits normally, which `outpost run` does on SIGTERM after its clean shutdown.
  const profileDir = process.env['BENCH_PROFILE'];
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(process.execPath, [...profile, ...nodeArgs, main, 'run', '--config', cfg], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stop = managedStop('outpost', child);
  // The MQTT port from "MQTT ingest listening", then the admin URL from "outpost ready".
  const { port, http } = await new Promise<{ port: number; http: string }>((resolve, reject) => {
    let port = 0;
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      try {
        const j = JSON.parse(line) as { msg?: string; listeners?: Array<{ port: number }>; http?: string };
        if (j.msg === 'MQTT ingest listening' && j.listeners?.[0]) port = j.listeners[0].port;
        if (typeof j.http === 'string' && j.msg?.startsWith('outpost ready')) resolve({ port, http: j.http });
      } catch {}
    });
    child.once('exit', (code) => reject(new Error(`outpost exited (${code}) before it was ready`)));
  });
  return {
    name: 'outpost',
    label: 'durable: fsync before PUBACK',
    pid: child.pid!,
    port,
    http,
    stop,
  };
}

/**
 * What Outpost's log stores per record, from its /metrics: the encoded bytes of every partition
 * (outpost_log_partition_bytes) over the records they hold (outpost_log_records).
 */
export async function outpostStoredBytesPerRecord(http: string): Promise<number | null> {
  const text = await (await fetch(`${http}metrics`)).text();
  const sum = (name: string): number => {
    let n = 0;
    for (const m of text.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'gm'))) n += Number(m[1]);
    return n;
  };
  const records = sum('outpost_log_records');
  return records > 0 ? sum('outpost_log_partition_bytes') / records : null;
}

/** The config bench:ingest has always used: one 8-partition topic, limits out of the way. */
export const INGEST_OUTPOST_CONFIG = {
  edgeId: 'bench',
  log: { topics: { telemetry: { partitions: 8 } }, minFreeBytes: 0 },
  mqtt: {
    allowAnonymous: 'loopback',
    limits: { publishRate: { perSecond: 1_000_000, burst: 1_000_000 }, maxConnections: 20_000 },
  },
  routes: [{ match: 'vehicles/{deviceId}/telemetry/#', topic: 'telemetry', key: '{deviceId}' }],
  logging: { level: 'info' },
};

/** Plain-object deep merge: `over`'s leaves win; arrays are replaced, not merged. */
export function mergeConfig(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    const isObj = (x: unknown): x is Record<string, unknown> =>
      typeof x === 'object' && x !== null && !Array.isArray(x);
    out[k] = isObj(b) && isObj(v) ? mergeConfig(b, v) : v;
  }
  return out;
}

/**
 * bench:ingest's Outpost config, with BENCH_INGEST_OUTPOST_CONFIG (a JSON file) merged over it when
 * set, to measure another setting (e.g. log.commitMaxBytes) against the same peers.
 */
export function ingestOutpostConfig(): Record<string, unknown> {
  const file = process.env['BENCH_INGEST_OUTPOST_CONFIG'];
  if (!file) return INGEST_OUTPOST_CONFIG;
  return mergeConfig(
    INGEST_OUTPOST_CONFIG,
    JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>,
  );
}

export const defaultOutpostConfig = (): Record<string, unknown> =>
  JSON.parse(readFileSync(DEFAULT_CONFIG, 'utf8')) as Record<string, unknown>;

/** Resolves once an MQTT CONNECT to the port succeeds, or throws after `timeoutMs`. */
export async function waitForMqtt(port: number, timeoutMs: number, name: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 1000 });
      c.once('connect', () => {
        c.end(true);
        resolve(true);
      });
      c.once('error', () => {
        c.end(true);
        resolve(false);
      });
      c.once('close', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not accept an MQTT CONNECT on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/** Debian's Mosquitto 2, acknowledging QoS 1 from memory (`persistence false`). */
export async function startMosquitto(dir: string): Promise<Broker> {
  const port = await freePort();
  const cfg = join(dir, 'mosquitto.conf');
  writeFileSync(
    cfg,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_inflight_messages 0',
      'max_queued_messages 100000',
      'log_type error',
      '',
    ].join('\n'),
  );
  const child = spawn('mosquitto', ['-c', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  const broker: Broker = {
    name: 'mosquitto',
    label: 'persistence false: PUBACK from memory',
    pid: child.pid!,
    port,
    stop: managedStop('mosquitto', child),
  };
  try {
    await waitForMqtt(port, 10_000, 'mosquitto');
  } catch (err) {
    await broker.stop();
    throw err;
  }
  return broker;
}

/**
 * The framework floor: aedes 1.x alone (bench/lib/aedes-broker.ts), acknowledging from memory.
 * Outpost minus this is the cost of our pipeline and the durable append; this minus Mosquitto is
 * the cost of Node + aedes + mqtt-packet.
 */
export async function startAedes(_dir: string): Promise<Broker> {
  const child = fork(join(import.meta.dirname, 'aedes-broker.ts'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const stop = managedStop('aedes', child);
  const port = await waitForMessage<{ port: number }>(child, 'listening').then((m) => m.port);
  return {
    name: 'aedes',
    label: 'bare aedes: PUBACK from memory',
    pid: child.pid!,
    port,
    stop,
  };
}
