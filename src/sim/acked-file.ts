import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { OutpostError } from '../errors.ts';
import { RangeSet } from './ranges.ts';

/**
 * The simulator's record of what the gateway acknowledged, read by `outpost audit --acked`.
 *
 * Format "outpost-sim-acked", version 1: one JSON document.
 *   {
 *     "format": "outpost-sim-acked", "version": 1,
 *     "run": "<run id carried in every payload>", "seed": <number>,
 *     "startedAt": "<ISO-8601>", "finishedAt": "<ISO-8601>",
 *     "devices": {
 *       "<deviceId>": {
 *         "sent":    <highest seq generated>,
 *         "acked":   "<ranges>",   QoS 1/2 publishes the gateway acknowledged (PUBACK / PUBCOMP)
 *         "qos0":    "<ranges>",   QoS 0 publishes written to the socket (never acknowledged)
 *         "retried": "<ranges>",   publishes re-sent after a drop before their acknowledgement
 *         "unacked": "<ranges>",   QoS 1/2 publishes still unacknowledged when the run ended
 *         "topics":  ["<MQTT topic>", …],   optional: the distinct topics the device published to
 *         "topicOf": "<chars>"     optional: one base-36 digit per seq (seq 1 first), the index of
 *                                  its topic in "topics"; lets the audit know which seqs belong to
 *                                  the log topics it reads (a datacenter may mirror only some)
 *       }, …
 *     }
 *   }
 * <ranges> is a comma-separated list of sequence numbers and inclusive ranges: "1-50,52,54-60".
 */
export const ACKED_FORMAT = 'outpost-sim-acked';
export const ACKED_VERSION = 1;

const ranges = z.string().regex(/^(\d+(-\d+)?(,\d+(-\d+)?)*)?$/, 'expected ranges like "1-50,52"');

const ackedFileSchema = z.object({
  format: z.literal(ACKED_FORMAT),
  version: z.number().int(),
  run: z.string().min(1),
  seed: z.number(),
  startedAt: z.string(),
  finishedAt: z.string(),
  devices: z.record(
    z.string(),
    z.object({
      sent: z.number().int().min(0),
      acked: ranges,
      qos0: ranges,
      retried: ranges,
      unacked: ranges,
      topics: z.array(z.string()).max(36).optional(),
      topicOf: z
        .string()
        .regex(/^[0-9a-z]*$/, 'expected base-36 digits')
        .optional(),
    }),
  ),
});

export interface DeviceAcks {
  sent: number;
  acked: RangeSet;
  qos0: RangeSet;
  retried: RangeSet;
  unacked: RangeSet;
  /** Distinct MQTT topics, and per seq (index seq - 1) the base-36 index of its topic. */
  topics?: string[];
  topicOf?: string;
}

export interface AckedRecord {
  run: string;
  seed: number;
  startedAt: string;
  finishedAt: string;
  devices: Map<string, DeviceAcks>;
}

export function encodeAcked(rec: AckedRecord): string {
  const devices: Record<string, Record<string, string | number | string[]>> = {};
  for (const [id, d] of [...rec.devices].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    devices[id] = {
      sent: d.sent,
      acked: d.acked.toString(),
      qos0: d.qos0.toString(),
      retried: d.retried.toString(),
      unacked: d.unacked.toString(),
      ...(d.topics && d.topics.length > 0 ? { topics: d.topics, topicOf: d.topicOf ?? '' } : {}),
    };
  }
  const { run, seed, startedAt, finishedAt } = rec;
  return `${JSON.stringify({ format: ACKED_FORMAT, version: ACKED_VERSION, run, seed, startedAt, finishedAt, devices })}\n`;
}

export function decodeAcked(text: string, path = 'acked file'): AckedRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new OutpostError('RECORD_CORRUPT', `${path} is not JSON: ${(cause as Error).message}`, {
      path,
      cause,
    });
  }
  const parsed = ackedFileSchema.safeParse(raw);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new OutpostError('RECORD_CORRUPT', `${path} is not a simulator acked file: ${why}`, {
      path,
      reason: why,
    });
  }
  const f = parsed.data;
  if (f.version !== ACKED_VERSION) {
    throw new OutpostError(
      'FORMAT_UNSUPPORTED',
      `${path}: acked file version ${f.version} is not supported`,
      {
        path,
      },
    );
  }
  const devices = new Map<string, DeviceAcks>();
  for (const [id, d] of Object.entries(f.devices)) {
    devices.set(id, {
      sent: d.sent,
      acked: RangeSet.parse(d.acked),
      qos0: RangeSet.parse(d.qos0),
      retried: RangeSet.parse(d.retried),
      unacked: RangeSet.parse(d.unacked),
      ...(d.topics !== undefined ? { topics: d.topics, topicOf: d.topicOf ?? '' } : {}),
    });
  }
  return { run: f.run, seed: f.seed, startedAt: f.startedAt, finishedAt: f.finishedAt, devices };
}

export async function writeAckedFile(path: string, rec: AckedRecord): Promise<void> {
  await writeFile(path, encodeAcked(rec));
}

export async function readAckedFile(path: string): Promise<AckedRecord> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new OutpostError('CONFIG_UNREADABLE', `cannot read acked file ${path}: ${String(cause)}`, {
      path,
      cause,
    });
  }
  return decodeAcked(text, path);
}
