/**
 * Helpers for the command consumer's tests (the Kafka side). The Downlink here is an in-process
 * sink that records what it is handed; the MQTT side (sessions, subscriptions, PUBACK) is covered
 * by the ingest tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { onTestFinished } from 'vitest';
import { type Config, parseConfig } from '../../src/config/index.ts';
import { type PartitionedLog, partitionFor } from '../../src/log/index.ts';
import {
  type CommandConsumer,
  type DeliveryOutcome,
  type Downlink,
  startCommands,
} from '../../src/mirror/index.ts';
import type { ProduceRecord } from '../kafka/client.ts';
import { quietLogger, uniqueEdgeId } from './helpers.ts';

export interface Delivered {
  topic: string;
  payload: string;
  qos: 0 | 1 | 2;
}

export class RecordingDownlink implements Downlink {
  readonly deliveries: Delivered[] = [];
  /** What deliver answers for a message (default: one subscriber, acknowledged). */
  answer: (msg: Delivered) => DeliveryOutcome = () => ({ matched: 1, delivered: 1, queued: 0 });
  /** When set, deliver rejects while it returns true (the downlink refusing). */
  refuse: ((msg: Delivered) => boolean) | null = null;

  async deliver(msg: { topic: string; payload: Buffer; qos: 0 | 1 | 2 }): Promise<DeliveryOutcome> {
    const d = { topic: msg.topic, payload: msg.payload.toString('utf8'), qos: msg.qos };
    if (this.refuse?.(d)) throw new Error('downlink refused (test)');
    this.deliveries.push(d);
    return this.answer(d);
  }
}

export function commandsConfig(opts: {
  edgeId?: string;
  dataDir?: string;
  clusters: Record<string, string>;
  commands?: Record<string, unknown>;
}): Config {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'outpost-commands-'));
  if (!opts.dataDir) onTestFinished(() => rmSync(dataDir, { recursive: true, force: true }));
  return parseConfig({
    edgeId: opts.edgeId ?? uniqueEdgeId(),
    dataDir,
    log: { topics: { events: { partitions: 1 } }, minFreeBytes: 0 },
    mqtt: { listeners: [{ type: 'tcp', port: 0 }], sessions: { enabled: true } },
    mirror: {
      clusters: Object.fromEntries(Object.entries(opts.clusters).map(([k, b]) => [k, { bootstrap: b }])),
    },
    commands: { enabled: true, fetchMaxWaitMs: 200, requestTimeoutMs: 5_000, ...opts.commands },
  });
}

export function startTestCommands(
  config: Config,
  log: PartitionedLog,
  downlink: Downlink,
  registry = new Registry(),
): { consumer: CommandConsumer; registry: Registry } {
  const consumer = startCommands({ config, log, downlink, logger: quietLogger, metrics: registry });
  onTestFinished(() => consumer.stop({ timeoutMs: 5_000 }));
  return { consumer, registry };
}

/** Polls `cond` every 50 ms until it holds; fails with `what` after `timeoutMs` (a wait, not a timing claim). */
export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 45_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A command record for device `device`, sequence `seq`, on its key's partition (murmur2 like Kafka). */
export function command(
  device: string,
  seq: number,
  partitions: number,
  headers: Record<string, string> = {},
  extra: Partial<ProduceRecord> = {},
): ProduceRecord {
  const key = Buffer.from(device);
  return {
    partition: partitionFor(key, partitions),
    key,
    value: `${device}:${seq}`,
    headers: { 'outpost-command-id': `${device}-${seq}`, ...headers },
    ...extra,
  };
}

export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  let sum = 0;
  for (const v of (m?.values ?? []) as Array<{ value: number; labels: Record<string, string | number> }>) {
    if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) sum += v.value;
  }
  return sum;
}

/** Per device, the sequence numbers in delivery order. */
export function byDevice(deliveries: readonly Delivered[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const d of deliveries) {
    const [device, seq] = d.payload.split(':') as [string, string];
    out.set(device, [...(out.get(device) ?? []), Number(seq)]);
  }
  return out;
}
