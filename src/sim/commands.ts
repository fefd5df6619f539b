import { readFile, writeFile } from 'node:fs/promises';
import { Admin, Producer } from '@platformatic/kafka';
import { z } from 'zod';
import { OutpostError } from '../errors.ts';

/**
 * Cloud-to-device commands in the simulator: the central producer (what a cloud application would
 * write to the command topic) and the record of what was produced and what the devices received,
 * read by `outpost audit --commands`.
 *
 * A command record: key = device id; headers outpost-command-id (= payload id), outpost-ttl-ms
 * (when the command has a TTL), outpost-qos; value = JSON CommandPayload. The same record (same id,
 * same timestamp) goes to every cluster given, as a producer writing to both datacenters would.
 *
 * File format "outpost-sim-commands", version 1: one JSON document.
 *   {
 *     "format": "outpost-sim-commands", "version": 1, "run": "<run id>",
 *     "produced": { "<deviceId>": [ { "id", "seq", "ttlMs": <ms>|null, "at": <record timestamp, epoch ms>,
 *                                     "mustExpire": <bool: timestamp older than its TTL when produced> }, … ] },
 *     "received": { "<deviceId>": [ { "id", "seq", "at": <epoch ms>, "qos", "dup": <bool> }, … ] }
 *   }
 * "produced" is in seq order per device; "received" in arrival order per device.
 */
export const COMMANDS_FORMAT = 'outpost-sim-commands';
export const COMMANDS_VERSION = 1;

const payloadSchema = z.object({
  id: z.string(),
  deviceId: z.string(),
  seq: z.number().int().positive(),
  run: z.string(),
  sentAt: z.number(),
});
export type CommandPayload = z.infer<typeof payloadSchema>;

/** A command payload, or null for anything else (a command not from the simulator). */
export function decodeCommand(payload: Buffer): CommandPayload | null {
  try {
    const r = payloadSchema.safeParse(JSON.parse(payload.toString('utf8')));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

const producedSchema = z.object({
  id: z.string(),
  seq: z.number().int().positive(),
  ttlMs: z.number().int().positive().nullable(),
  at: z.number(),
  mustExpire: z.boolean(),
});
const receiptSchema = z.object({
  id: z.string(),
  seq: z.number().int().nonnegative(),
  at: z.number(),
  qos: z.number().int().min(0).max(2),
  dup: z.boolean(),
});
export type ProducedCommand = z.infer<typeof producedSchema>;
/** One command PUBLISH as a device got it; seq 0 and id "?<topic>" when the payload is not ours. */
export type CommandReceipt = z.infer<typeof receiptSchema>;

const fileSchema = z.object({
  format: z.literal(COMMANDS_FORMAT),
  version: z.literal(COMMANDS_VERSION),
  run: z.string(),
  produced: z.record(z.string(), z.array(producedSchema)),
  received: z.record(z.string(), z.array(receiptSchema)),
});

export interface CommandsRecord {
  run: string;
  produced: Map<string, ProducedCommand[]>;
  received: Map<string, CommandReceipt[]>;
}

export async function writeCommandsFile(path: string, rec: CommandsRecord): Promise<void> {
  const doc = {
    format: COMMANDS_FORMAT,
    version: COMMANDS_VERSION,
    run: rec.run,
    produced: Object.fromEntries(rec.produced),
    received: Object.fromEntries(rec.received),
  };
  await writeFile(path, `${JSON.stringify(doc)}\n`);
}

export async function readCommandsFile(path: string): Promise<CommandsRecord> {
  let doc: z.infer<typeof fileSchema>;
  try {
    doc = fileSchema.parse(JSON.parse(await readFile(path, 'utf8')));
  } catch (cause) {
    throw new OutpostError('FORMAT_UNSUPPORTED', `${path}: not an ${COMMANDS_FORMAT} v1 file`, {
      cause,
      path,
    });
  }
  return {
    run: doc.run,
    produced: new Map(Object.entries(doc.produced)),
    received: new Map(Object.entries(doc.received)),
  };
}

export interface ProduceCommandsOptions {
  /** Every cluster gets every command (alias → bootstrap servers). */
  clusters: Record<string, string[]>;
  topic: string;
  devices: readonly string[];
  /** Commands per device, seq `firstSeq`… (default 1). */
  perDevice: number;
  firstSeq?: number;
  run: string;
  /** TTL header on every command (ms); none by default. */
  ttlMs?: number;
  /** Of each device's commands, every `expireEvery`-th (seq % n === 0) is stale: timestamp 60 s old, TTL 1 s. */
  expireEvery?: number;
  qos?: 1 | 2;
  /** Pace: commands per second across the fleet (default: as fast as acks come back). */
  ratePerSecond?: number;
  /** Create the topic (and `alsoCreate`) with this many partitions where missing (default 4). */
  partitions?: number;
  alsoCreate?: string[];
  signal?: AbortSignal;
  /** Called with each command once every cluster acknowledged it. */
  onProduced?(deviceId: string, c: ProducedCommand): void;
}

const STALE_MS = 60_000;

/** Creates the topics missing on one cluster (replication factor 1, for test and demo clusters). */
async function ensureTopics(bootstrap: string[], topics: string[], partitions: number): Promise<void> {
  const admin = new Admin({ clientId: 'outpost-sim-commands', bootstrapBrokers: bootstrap });
  try {
    const have = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !have.has(t));
    if (missing.length > 0) await admin.createTopics({ topics: missing, partitions, replicas: 1 });
  } finally {
    await admin.close();
  }
}

function commandMessage(topic: string, deviceId: string, c: ProducedCommand, run: string, qos: number) {
  const headers = new Map<Buffer, Buffer>([
    [Buffer.from('outpost-command-id'), Buffer.from(c.id)],
    [Buffer.from('outpost-qos'), Buffer.from(String(qos))],
  ]);
  if (c.ttlMs !== null) headers.set(Buffer.from('outpost-ttl-ms'), Buffer.from(String(c.ttlMs)));
  const payload: CommandPayload = { id: c.id, deviceId, seq: c.seq, run, sentAt: Date.now() };
  return {
    topic,
    key: Buffer.from(deviceId),
    value: Buffer.from(JSON.stringify(payload)),
    timestamp: BigInt(c.at),
    headers,
  };
}

/**
 * Produces `perDevice` commands to every device, round by round (seq 1 to every device, then seq
 * 2, …), each to every cluster with an idempotent acks=all producer. A device's commands go to one
 * partition (the key), so their order holds. Returns what was produced, per device in seq order.
 */
export async function produceCommands(opts: ProduceCommandsOptions): Promise<Map<string, ProducedCommand[]>> {
  const entries = Object.entries(opts.clusters);
  await Promise.all(
    entries.map(([, b]) => ensureTopics(b, [opts.topic, ...(opts.alsoCreate ?? [])], opts.partitions ?? 4)),
  );
  const producers = entries.map(
    ([alias, b]) =>
      [
        alias,
        new Producer({ clientId: `outpost-sim-${alias}`, bootstrapBrokers: b, idempotent: true, acks: -1 }),
      ] as const,
  );
  const out = new Map<string, ProducedCommand[]>(opts.devices.map((d) => [d, []]));
  const first = opts.firstSeq ?? 1;
  const gapMs = opts.ratePerSecond ? 1000 / opts.ratePerSecond : 0;
  const t0 = performance.now();
  let n = 0;
  try {
    for (let seq = first; seq < first + opts.perDevice && !opts.signal?.aborted; seq++) {
      for (const deviceId of opts.devices) {
        const stale = opts.expireEvery !== undefined && seq % opts.expireEvery === 0;
        const c: ProducedCommand = {
          id: `${opts.run}-${deviceId}-${seq}`,
          seq,
          ttlMs: stale ? 1_000 : (opts.ttlMs ?? null),
          at: Date.now() - (stale ? STALE_MS : 0),
          mustExpire: stale,
        };
        const msg = commandMessage(opts.topic, deviceId, c, opts.run, opts.qos ?? 1);
        await Promise.all(producers.map(([, p]) => p.send({ messages: [msg] })));
        out.get(deviceId)?.push(c);
        opts.onProduced?.(deviceId, c);
        n++;
        const wait = t0 + n * gapMs - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
  } catch (cause) {
    throw new OutpostError(
      'SIM_PRODUCE_FAILED',
      `producing commands to ${opts.topic}: ${(cause as Error).message}`,
      {
        cause,
        topic: opts.topic,
      },
    );
  } finally {
    await Promise.all(producers.map(([, p]) => p.close().catch(() => {})));
  }
  return out;
}

/** Appends `more` to `into`, per device (a second batch of the same run). */
export function mergeProduced(
  into: Map<string, ProducedCommand[]>,
  more: ReadonlyMap<string, ProducedCommand[]>,
): Map<string, ProducedCommand[]> {
  for (const [d, cs] of more) into.set(d, [...(into.get(d) ?? []), ...cs]);
  return into;
}
