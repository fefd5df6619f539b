/**
 * Invariant: a kill -9 while commits are being sealed, compressed (zstd, on the thread pool) and
 * written loses nothing that was acknowledged, duplicates nothing and corrupts nothing.
 *
 * The real service (`outpost run`) takes QoS 1 publishes (MQTT 3.1.1 and 5) of 2-48 KiB payloads,
 * half compressible JSON lines and half incompressible bytes, from 32 connections: with
 * log.commitMaxBytes 2 MiB (twice the default) and the longest window (1000 ms), commits close on
 * size, back to back, while the next records arrive, so while the stream flows some batch is being
 * sealed, compressed or written. The test SIGKILLs the process at a random point of each round's
 * stream, several rounds. Publishers never resend
 * (a message is sent once: a PUBACKed one must be stored exactly once). After every kill, with the
 * process gone, it checks the data dir:
 *   - every stored entry is a record-v2 batch that decodes with a valid CRC-32C, compressed with zstd;
 *   - entries per partition start at offset 0 and are dense (each key = previous last offset + 1);
 *   - every stored payload is byte-for-byte what its publisher sent;
 *   - per publisher: every PUBACKed message is stored, sequence numbers only grow (order, no
 *     duplicate), and what a connection stored is a prefix of what it sent (nothing after a hole);
 *   - the reopened log's durable end equals what is stored, and it takes a new append.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { open } from 'lmdb';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, test } from 'vitest';
import { batchRawBytes, decodeBatch, isBatchV2, peekBatch } from '../../src/log/codec/record-v2-read.ts';
import { openLog } from '../../src/log/index.ts';
import { startOutpost, tempDir, writeConfig } from '../service/helpers.ts';

const KILLS = Number(process.env['KILLS'] ?? 8);
/**
 * A connection's next socket read waits until every PUBLISH of the previous read is acknowledged
 * (src/ingest/pipeline.ts), so each connection adds about one read (up to 64 KiB) per commit: 32 of
 * them fill COMMIT_MAX_BYTES before the window ends, and commits close on size, back to back.
 */
const PUBLISHERS = 32;
const WINDOW = 8;
/** Messages per publisher per round: bounds what every check reads again (12-13 MiB a round). */
const PER_ROUND = 16;
const PARTITIONS = 3;
const COMMIT_MAX_BYTES = 2 * 1024 ** 2;
const TOPIC = 'telemetry';
const PROBE = 'probe';

/** Payload `client:seq:` + 2-48 KiB: even seq compressible JSON lines, odd seq AES-CTR bytes. */
function payload(client: number, seq: number): Buffer {
  const head = Buffer.from(`${client}:${seq}:`);
  const size = 2048 + ((seq * 7919 + client * 104_729) % 47_104);
  let body: Buffer;
  if (seq % 2 === 0) {
    const line = `{"dev":${client},"seq":${seq},"temp":${(seq % 40) + 0.5},"state":"nominal"}\n`;
    body = Buffer.from(line.repeat(Math.ceil(size / line.length))).subarray(0, size);
  } else {
    const key = createHash('sha256').update(`${client}/${seq}`).digest().subarray(0, 16);
    body = createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
  }
  return Buffer.concat([head, body]);
}

class Publisher {
  readonly index: number;
  readonly id: string;
  /** Next sequence number to send; each is sent once, never resent. */
  next = 0;
  acked = new Set<number>();
  /** Sequence numbers sent per round (connection), in order. */
  rounds: number[][] = [];
  limit = Number.POSITIVE_INFINITY;
  #client: MqttClient | null = null;

  constructor(index: number) {
    this.index = index;
    this.id = `seal${index}`;
  }

  attach(port: number, round: number): void {
    this.detach();
    const sent: number[] = [];
    this.rounds[round] = sent;
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      clientId: this.id,
      protocolVersion: this.index % 2 === 0 ? 4 : 5,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      clean: true,
    });
    this.#client = client;
    client.on('error', () => {});
    client.once('connect', () => {
      let inflight = 0;
      const pump = (): void => {
        while (inflight < WINDOW && this.next < this.limit && this.#client === client && client.connected) {
          const seq = this.next++;
          sent.push(seq);
          inflight++;
          client.publish(`vehicles/${this.id}/telemetry`, payload(this.index, seq), { qos: 1 }, (err) => {
            inflight--;
            if (err) return; // no PUBACK (killed), or an MQTT 5 refusal: not acknowledged
            this.acked.add(seq);
            pump();
          });
        }
      };
      pump();
    });
  }

  /** The last round sent everything up to its limit and got every PUBACK. */
  finished(): boolean {
    const last = this.rounds.at(-1) ?? [];
    return this.next >= this.limit && last.every((s) => this.acked.has(s));
  }

  detach(): void {
    this.#client?.end(true);
    this.#client = null;
  }
}

interface Stored {
  client: string;
  value: Buffer;
}

interface Scan {
  perPartition: Stored[][];
  batches: number;
  maxBatchRecords: number;
  maxBatchRawBytes: number;
  storedBytes: number;
  rawBytes: number;
}

/** Reads every entry of the topic straight from LMDB (service gone): decode, CRC, density. */
async function scan(dataDir: string): Promise<Scan> {
  const env = open({ path: join(dataDir, 'lmdb'), maxDbs: 64 });
  const out: Scan = {
    perPartition: [],
    batches: 0,
    maxBatchRecords: 0,
    maxBatchRawBytes: 0,
    storedBytes: 0,
    rawBytes: 0,
  };
  try {
    const topics = env.openDB<{ id: number }, string>('log.topics', { encoding: 'msgpack' });
    const records = env.openDB<Buffer, [number, number, number]>('log.records', { encoding: 'binary' });
    const tid = topics.get(TOPIC)?.id as number;
    expect(tid).toBeTypeOf('number');
    for (let p = 0; p < PARTITIONS; p++) {
      const stored: Stored[] = [];
      let next = 0;
      for (const { key, value } of records.getRange({ start: [tid, p, 0], end: [tid, p + 1, 0] })) {
        expect(key[2], `t/${p}: entries are dense`).toBe(next);
        expect(isBatchV2(value), `t/${p}@${key[2]} is a record-v2 batch`).toBe(true);
        expect(peekBatch(value).compression).toBe('zstd');
        const batch = decodeBatch(value); // throws RECORD_CORRUPT on a bad CRC, length or varint
        for (const r of batch) {
          expect(r.offset, `t/${p}: offsets inside the batch are dense`).toBe(next++);
          stored.push({ client: r.key?.toString() ?? '', value: r.value });
        }
        const raw = batchRawBytes(value);
        out.batches++;
        out.maxBatchRecords = Math.max(out.maxBatchRecords, batch.length);
        out.maxBatchRawBytes = Math.max(out.maxBatchRawBytes, raw);
        out.storedBytes += value.length;
        out.rawBytes += raw;
      }
      out.perPartition.push(stored);
    }
  } finally {
    await env.close();
  }
  return out;
}

/** Totals, except lostUnacked: for the round just ended. */
interface RoundReport {
  stored: number;
  acked: number;
  /** Sent, never acknowledged and not stored: the kill caught them before their commit was durable. */
  lostUnacked: number;
  /** Stored but never acknowledged: committed, the PUBACK did not get out before the kill. */
  storedUnacked: number;
}

function checkPublishers(pubs: Publisher[], s: Scan, round: number): RoundReport {
  const byClient = new Map<string, number[]>();
  let probesSeen = 0;
  for (const stored of s.perPartition) {
    for (const { client, value } of stored) {
      if (client === PROBE) {
        expect(value.toString()).toMatch(/^probe-\d+$/);
        probesSeen++;
        continue;
      }
      const m = /^(\d+):(\d+):/.exec(value.toString('latin1', 0, 24));
      expect(m, `${client}: payload header`).not.toBeNull();
      const [index, seq] = [Number(m?.[1]), Number(m?.[2])];
      expect(`seal${index}`).toBe(client);
      expect(value.equals(payload(index, seq)), `${client}#${seq} stored byte for byte`).toBe(true);
      byClient.set(client, [...(byClient.get(client) ?? []), seq]);
    }
  }
  expect(probesSeen, 'one probe per earlier round').toBe(round);
  expect([...byClient.keys()].every((c) => pubs.some((p) => p.id === c))).toBe(true);
  const report: RoundReport = { stored: 0, acked: 0, lostUnacked: 0, storedUnacked: 0 };
  for (const pub of pubs) {
    const seqs = byClient.get(pub.id) ?? [];
    for (let i = 1; i < seqs.length; i++) {
      expect(seqs[i], `${pub.id}: order kept, nothing twice`).toBeGreaterThan(seqs[i - 1] as number);
    }
    const present = new Set(seqs);
    for (const a of pub.acked) expect(present.has(a), `${pub.id}: PUBACKed ${a} is stored`).toBe(true);
    for (const [r, sent] of pub.rounds.entries()) {
      const hole = sent.findIndex((q) => !present.has(q));
      if (hole < 0) continue;
      const after = sent.slice(hole).filter((q) => present.has(q));
      expect(after, `${pub.id} round ${r}: stored after a hole`).toEqual([]);
      if (r === round) report.lostUnacked += sent.length - hole;
    }
    report.stored += seqs.length;
    report.acked += pub.acked.size;
    report.storedUnacked += seqs.filter((q) => !pub.acked.has(q)).length;
  }
  return report;
}

/** Opens the log in-process: its durable end is what is stored, and it takes a new append. */
async function reopenAndAppend(dataDir: string, s: Scan, round: number): Promise<void> {
  const log = await openLog({
    dataDir,
    topics: {
      [TOPIC]: { partitions: PARTITIONS, retentionMs: 1e12, retentionBytes: 1e12, compression: 'zstd' },
    },
    maxBytes: 1e12,
    onFull: 'reject',
    minFreeBytes: 0,
  });
  try {
    for (let p = 0; p < PARTITIONS; p++) {
      expect(log.offsets(TOPIC, p)).toEqual({ startOffset: 0, endOffset: s.perPartition[p]?.length });
    }
    const value = Buffer.from(`probe-${round}`);
    const [r] = await log.append([{ topic: TOPIC, key: Buffer.from(PROBE), value }]);
    expect(r?.offset).toBe(s.perPartition[r?.partition as number]?.length);
    expect(log.read(TOPIC, r?.partition as number, r?.offset as number)[0]?.value.equals(value)).toBe(true);
  } finally {
    await log.close();
  }
}

describe('integrity › kill -9 while commits are sealed and compressed', () => {
  test(`integrity › ${KILLS} kill -9s of outpost run during large zstd commits: every PUBACKed message stored once, in order, intact`, async () => {
    const dir = tempDir('sealkill');
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir);
    const cfg = join(dir, 'config.json');
    writeConfig(cfg, {
      edgeId: 'sealkill',
      dataDir,
      log: {
        topics: { [TOPIC]: { partitions: PARTITIONS, compression: 'zstd' } },
        minFreeBytes: 0,
        commitWindowMs: 1000,
        commitMaxBytes: COMMIT_MAX_BYTES,
      },
      mqtt: {
        listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
        allowAnonymous: 'loopback',
        limits: { publishRate: { perSecond: 100_000, burst: 100_000 } },
      },
      routes: [{ match: 'vehicles/{deviceId}/telemetry', topic: TOPIC, key: '{deviceId}' }],
      http: { host: '127.0.0.1', port: 0 },
      logging: { level: 'info' },
    });
    const pubs = Array.from({ length: PUBLISHERS }, (_, i) => new Publisher(i));
    const reports: RoundReport[] = [];
    let last: Scan | null = null;
    try {
      for (let round = 0; round < KILLS; round++) {
        const svc = await startOutpost(cfg);
        const before = pubs.reduce((n, p) => n + p.acked.size, 0);
        for (const p of pubs) {
          p.limit = p.next + PER_ROUND;
          p.attach(svc.mqttPort, round);
        }
        // Kill at a random point of this round's stream: once 2-90 % of it is acknowledged (commits
        // are then back to back, one compressing or being written while the next fills), plus 0-20 ms.
        const target = before + Math.ceil(PUBLISHERS * PER_ROUND * (0.02 + Math.random() * 0.88));
        await expect
          .poll(() => pubs.reduce((n, p) => n + p.acked.size, 0) >= target, { timeout: 60_000, interval: 2 })
          .toBe(true);
        await sleep(Math.random() * 20);
        svc.proc.kill('SIGKILL');
        expect((await svc.exited).signal).toBe('SIGKILL');
        for (const p of pubs) p.detach();
        last = await scan(dataDir);
        const report = checkPublishers(pubs, last, round);
        expect(report.acked, `round ${round} took new PUBACKs`).toBeGreaterThan(before);
        reports.push(report);
        await reopenAndAppend(dataDir, last, round);
      }
      // Final run: every publisher sends PER_ROUND more and gets every PUBACK; then a clean stop.
      const svc = await startOutpost(cfg);
      for (const p of pubs) {
        p.limit = p.next + PER_ROUND;
        p.attach(svc.mqttPort, KILLS);
      }
      await expect
        .poll(() => pubs.every((p) => p.finished()), { timeout: 120_000, interval: 100 })
        .toBe(true);
      for (const p of pubs) p.detach();
      svc.proc.kill('SIGTERM');
      expect((await svc.exited).code).toBe(0);
    } finally {
      for (const p of pubs) p.detach();
    }
    last = await scan(dataDir);
    const final = checkPublishers(pubs, last, KILLS);
    console.log(
      `sealing kills: ${KILLS} rounds; per round stored/acked/lost-unacked/stored-unacked: ${reports
        .map((r) => `${r.stored}/${r.acked}/${r.lostUnacked}/${r.storedUnacked}`)
        .join(
          ' ',
        )}; final ${final.stored} messages in ${last.batches} batches (largest ${last.maxBatchRecords} records, ${(last.maxBatchRawBytes / 1024 ** 2).toFixed(2)} MiB raw), ${(last.storedBytes / 1024 ** 2).toFixed(1)} MiB stored of ${(last.rawBytes / 1024 ** 2).toFixed(1)} MiB raw`,
    );
    // The kills landed while records were on their way to disk: some sent messages never made a
    // durable commit (and were never acknowledged), in some rounds.
    expect(reports.some((r) => r.lostUnacked > 0)).toBe(true);
    // Commits were large: the biggest batch (one partition's share of a commit) held over 512 KiB.
    expect(last.maxBatchRawBytes).toBeGreaterThan(512 * 1024);
  }, 300_000);
});
