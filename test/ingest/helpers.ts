/** Test harness: a real LMDB log in a temp dir, the real device registry, startIngest on random ports. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import { Registry } from 'prom-client';
import { onTestFinished } from 'vitest';
import { type Config, type ConfigInput, parseConfig } from '../../src/config/index.ts';
import { type Devices, openDevices } from '../../src/devices/index.ts';
import { type Ingest, startIngest } from '../../src/ingest/index.ts';
import { type LogRecord, openLog, type PartitionedLog } from '../../src/log/index.ts';

export interface Harness {
  dir: string;
  config: Config;
  log: PartitionedLog;
  devices: Devices;
  ingest: Ingest;
  metrics: Registry;
  url(type?: 'tcp' | 'tls' | 'ws'): string;
  port(type?: 'tcp' | 'tls' | 'ws'): number;
  /** Every record of a topic across partitions, in (partition, offset) order. */
  records(topic: string): LogRecord[];
}

export const TEST_TOPICS = {
  telemetry: { partitions: 4 },
  events: { partitions: 3 },
  unrouted: { partitions: 1 },
  open: { partitions: 1 },
};

export function baseConfig(overrides: Partial<ConfigInput> = {}): ConfigInput {
  return {
    edgeId: 'test',
    dataDir: '/unused',
    log: { topics: TEST_TOPICS },
    mqtt: { listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }], allowAnonymous: 'loopback' },
    routes: [
      { match: 'vehicles/{deviceId}/telemetry/#', topic: 'telemetry', key: '{deviceId}' },
      { match: 'stb/{deviceId}/events/{type}', topic: 'events', key: '{deviceId}-{type}' },
      { match: 'open/#', topic: 'open', deviceAcl: false },
    ],
    ...overrides,
  };
}

export interface HarnessOptions {
  /** Wraps the real log (e.g. to slow commits down); the wrapper must call the real append synchronously. */
  wrapLog?: (log: PartitionedLog) => PartitionedLog;
  /** The real log's own record limit, below what the config allows (config cross-checks bypassed). */
  logMaxRecordBytes?: number;
  /** Receives every ingest log line at warn and above (parsed pino JSON). */
  logLines?: Array<Record<string, unknown>>;
}

export async function startHarness(
  input: ConfigInput = baseConfig(),
  opts: HarnessOptions = {},
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-ingest-'));
  const config = parseConfig({ ...input, dataDir: dir });
  const realLog = await openLog({
    dataDir: dir,
    topics: config.log.topics,
    maxBytes: config.log.maxBytes,
    onFull: config.log.onFull,
    minFreeBytes: 0,
    ...(opts.logMaxRecordBytes === undefined ? {} : { maxRecordBytes: opts.logMaxRecordBytes }),
  });
  const log = opts.wrapLog ? opts.wrapLog(realLog) : realLog;
  const metrics = new Registry();
  const lines = opts.logLines;
  const logger =
    lines === undefined
      ? pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' })
      : pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const devices = openDevices(log, { throttle: config.mqtt.authThrottle, logger, metrics, pollMs: 100 });
  const ingest = await startIngest({ config, log, devices, logger, metrics });
  onTestFinished(async () => {
    await ingest.stop({ timeoutMs: 2000 });
    devices.close();
    await realLog.close();
    await rm(dir, { recursive: true, force: true });
  });
  const port = (type: 'tcp' | 'tls' | 'ws' = 'tcp'): number => {
    const a = ingest.addresses().find((x) => x.type === type);
    if (!a) throw new Error(`no ${type} listener`);
    return a.port;
  };
  return {
    dir,
    config,
    log: realLog,
    devices,
    ingest,
    metrics,
    port,
    url: (type = 'tcp') => {
      const scheme = { tcp: 'mqtt', tls: 'mqtts', ws: 'ws' }[type];
      return `${scheme}://127.0.0.1:${port(type)}${type === 'ws' ? '/mqtt' : ''}`;
    },
    records: (topic) => {
      const out: LogRecord[] = [];
      for (let p = 0; p < log.partitionCount(topic); p++) {
        for (let off = log.offsets(topic, p).startOffset; ; ) {
          const batch = log.read(topic, p, off, { maxRecords: 10_000 });
          if (batch.length === 0) break;
          out.push(...batch);
          off = (batch.at(-1) as LogRecord).offset + 1;
        }
      }
      return out;
    },
  };
}

/** Connects with mqtt.js; rejects on a CONNACK refusal or error. Closed at test end. */
export async function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  onTestFinished(() => {
    client.end(true);
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return client;
}

/** The CONNACK return code a connection attempt gets (0 = accepted). */
export async function connackCode(url: string, opts: IClientOptions = {}): Promise<number> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  onTestFinished(() => {
    client.end(true);
  });
  return new Promise<number>((resolve, reject) => {
    client.once('connect', () => resolve(0));
    client.once('error', (err) => {
      const code = (err as { code?: number }).code;
      if (typeof code === 'number') resolve(code);
      else reject(err);
    });
  });
}

/** Resolves when the client's connection closes. */
export function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    if (client.disconnected || !client.connected) {
      if (!client.connected) return resolve();
    }
    client.once('close', () => resolve());
  });
}

export function headerText(r: LogRecord, name: string): string | undefined {
  return r.headers[name]?.toString();
}

export function uniq(prefix: string): string {
  return `${prefix}${Math.random().toString(36).slice(2, 8)}`;
}

/** A log whose commits take `delayMs()` longer to be reported (offsets are still assigned at call time). */
export function slowLog(log: PartitionedLog, delayMs: () => number, onAppend?: () => void): PartitionedLog {
  return new Proxy(log, {
    get(target, prop, receiver) {
      if (prop === 'append') {
        return (records: Parameters<PartitionedLog['append']>[0]) => {
          onAppend?.();
          const p = target.append(records);
          return p.then(
            (r) => new Promise((resolve) => setTimeout(() => resolve(r), delayMs())),
            (e) => new Promise((_, reject) => setTimeout(() => reject(e), delayMs())),
          );
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
