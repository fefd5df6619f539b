/**
 * One session with one central Kafka cluster, over @platformatic/kafka: an Admin client, one
 * idempotent raw producer of record batches (wire/raw-producer.ts: acks=all, KIP-98 sequence
 * numbers per partition, stored batches sent as they are), and sessionless Fetch
 * requests to partition leaders for reading a remote tail back (Fetch v12, sessionId 0 / epoch -1 =
 * "full fetch, no session", KIP-227). A session is thrown away whole on any error; the link builds a
 * new one, so no state (producer id, sequence numbers, metadata) survives a failure.
 */

import { readFileSync } from 'node:fs';
import {
  Admin,
  type BaseOptions,
  Connection,
  FetchIsolationLevels,
  fetchV12,
  ListOffsetTimestamps,
} from '@platformatic/kafka';
import type { ClusterConfig } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import { encodeBatch, type Headers } from '../../log/index.ts';
import { type ProducerId, RawProducer } from '../wire/raw-producer.ts';

export interface RemoteRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[string, Buffer]>;
}

export interface OutRecord {
  key: Buffer | null;
  value: Buffer;
  timestamp: number;
  headers: Map<Buffer, Buffer>;
}

/**
 * One line for an error from @platformatic/kafka: its message plus the nested errors' messages and
 * Kafka error names (MultipleErrors / ProtocolError carry `errors` and `apiId`), so a log line says
 * e.g. "Producing messages failed. (MESSAGE_TOO_LARGE: …)" instead of just the outer message.
 */
export function kafkaErrorText(err: unknown, depth = 0): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { errors?: unknown[]; apiId?: string; cause?: unknown };
  const inner = [...(e.errors ?? []), ...(e.cause ? [e.cause] : [])]
    .slice(0, 3)
    .map((x) => (depth < 3 ? kafkaErrorText(x, depth + 1) : ''))
    .filter((x) => x !== '');
  const head = e.apiId ? `${e.apiId}: ${e.message}` : e.message;
  return inner.length > 0 ? `${head} (${inner.join('; ')})` : head;
}

/** Waiting for a new topic's leaders: LEADER_WAIT_STEPS polls LEADER_WAIT_STEP_MS apart (5 s). */
const LEADER_WAIT_STEPS = 200;
const LEADER_WAIT_STEP_MS = 25;
const LEADER_MOVING = /NOT_LEADER_OR_FOLLOWER|LEADER_NOT_AVAILABLE|UNKNOWN_TOPIC_OR_PARTITION/;

/** Kafka topic configs for MM2's internal topics: one partition, compacted. */
export const COMPACTED = [{ name: 'cleanup.policy', value: 'compact' }];

export function clientOptions(
  alias: string,
  cfg: ClusterConfig,
  role: string,
  timeoutMs: number,
): BaseOptions {
  const opts: BaseOptions = {
    clientId: `outpost-${role}-${alias}`,
    bootstrapBrokers: cfg.bootstrap,
    timeout: timeoutMs,
    connectTimeout: Math.min(timeoutMs, 10_000),
    retries: 0,
    metadataMaxAge: 30_000,
  };
  if (cfg.tls) {
    opts.tls = {
      rejectUnauthorized: cfg.tls.rejectUnauthorized,
      ...(cfg.tls.ca ? { ca: readFileSync(cfg.tls.ca) } : {}),
      ...(cfg.tls.cert ? { cert: readFileSync(cfg.tls.cert) } : {}),
      ...(cfg.tls.key ? { key: readFileSync(cfg.tls.key) } : {}),
    };
  }
  if (cfg.sasl) opts.sasl = { ...cfg.sasl };
  return opts;
}

export class RemoteSession {
  readonly alias: string;
  readonly admin: Admin;
  readonly #cfg: ClusterConfig;
  readonly #timeoutMs: number;
  #producer: RawProducer | undefined;
  #producerReady: Promise<RawProducer> | undefined;
  #internal: RawProducer | undefined;
  #internalReady: Promise<RawProducer> | undefined;
  readonly #producerId: ProducerId | undefined;
  readonly #fetchConns = new Map<number, Connection>();

  /** `producerId`: the data producer's id to keep (the link's, across sessions); a new one when absent. */
  constructor(
    alias: string,
    cfg: ClusterConfig,
    timeoutMs: number = cfg.produceTimeoutMs,
    producerId?: ProducerId,
  ) {
    this.#producerId = producerId;
    this.alias = alias;
    this.#cfg = cfg;
    this.#timeoutMs = timeoutMs;
    this.admin = new Admin(clientOptions(alias, cfg, 'admin', timeoutMs));
  }

  /**
   * The session's idempotent producer of edge records (KIP-98: acks=all), initialized once: with the
   * link's producer id when it has one, so sequences derived from edge offsets stay valid across
   * sessions.
   */
  producer(): Promise<RawProducer> {
    this.#producerReady ??= (async () => {
      const p = new RawProducer({
        alias: this.alias,
        cfg: this.#cfg,
        timeoutMs: this.#timeoutMs,
        id: this.#producerId,
      });
      this.#producer = p;
      await p.init();
      return p;
    })();
    return this.#producerReady;
  }

  /** A producer of its own (new id, sequences from 0) for MM2's internal records. */
  #internalProducer(): Promise<RawProducer> {
    this.#internalReady ??= (async () => {
      const p = new RawProducer({ alias: this.alias, cfg: this.#cfg, timeoutMs: this.#timeoutMs });
      this.#internal = p;
      await p.init();
      return p;
    })();
    return this.#internalReady;
  }

  /** Partition count of a topic, or undefined when it does not exist. */
  async partitionCount(topic: string): Promise<number | undefined> {
    const topics = await this.admin.listTopics({ includeInternals: false });
    if (!topics.includes(topic)) return undefined;
    const md = await this.admin.metadata({ topics: [topic], forceUpdate: true });
    return md.topics.get(topic)?.partitionsCount;
  }

  /** Creates the topic unless it exists; returns the partition count now in place. */
  async ensureTopic(
    topic: string,
    partitions: number,
    configs: Array<{ name: string; value: string }> = [],
  ): Promise<number> {
    const have = await this.partitionCount(topic);
    if (have !== undefined) return have;
    try {
      await this.admin.createTopics({
        topics: [topic],
        partitions,
        replicas: this.#cfg.replicationFactor,
        configs,
      });
    } catch (err) {
      // TOPIC_ALREADY_EXISTS (36) from a concurrent creator, or from our own earlier session whose
      // create the listing did not show yet, is fine; anything else is not. The code sits two levels
      // down (MultipleErrors → ResponseError → ProtocolError; AggregateError's `errors` does not
      // serialize), so match on the whole chain's text.
      if (!kafkaErrorText(err).includes('TOPIC_ALREADY_EXISTS')) throw err;
    }
    // A new topic's partitions have no leader for a moment: wait (bounded) so the first ListOffsets
    // or Produce does not fail with LEADER_NOT_AVAILABLE and cost a session restart.
    for (let i = 0; i < LEADER_WAIT_STEPS; i++) {
      const md = await this.admin.metadata({ topics: [topic], forceUpdate: true });
      const t = md.topics.get(topic);
      if (t && t.partitions.length >= partitions && t.partitions.every((p) => p.leader >= 0))
        return t.partitionsCount;
      await new Promise((r) => setTimeout(r, LEADER_WAIT_STEP_MS));
    }
    return (await this.partitionCount(topic)) ?? partitions;
  }

  /**
   * Log start and end offsets (ListOffsets EARLIEST / LATEST) of partitions of one topic. A topic
   * created a moment ago can answer NOT_LEADER_OR_FOLLOWER / LEADER_NOT_AVAILABLE although metadata
   * already names a leader (the leader has not loaded the partition yet): retried, bounded, instead of
   * failing the whole session (a teardown and a backoff).
   */
  async offsets(topic: string, partitions: number[]): Promise<Map<number, { start: number; end: number }>> {
    const ask = async (timestamp: bigint) => {
      for (let i = 0; ; i++) {
        try {
          return await this.admin.listOffsets({
            topics: [{ name: topic, partitions: partitions.map((p) => ({ partitionIndex: p, timestamp })) }],
            isolationLevel: FetchIsolationLevels.READ_COMMITTED,
          });
        } catch (err) {
          if (i >= LEADER_WAIT_STEPS || !LEADER_MOVING.test(kafkaErrorText(err))) throw err;
          await new Promise((r) => setTimeout(r, LEADER_WAIT_STEP_MS));
        }
      }
    };
    const [earliest, latest] = await Promise.all([
      ask(ListOffsetTimestamps.EARLIEST),
      ask(ListOffsetTimestamps.LATEST),
    ]);
    const out = new Map<number, { start: number; end: number }>();
    for (const p of earliest[0]?.partitions ?? [])
      out.set(p.partitionIndex, { start: Number(p.offset), end: 0 });
    for (const p of latest[0]?.partitions ?? []) {
      const e = out.get(p.partitionIndex) ?? { start: 0, end: 0 };
      e.end = Number(p.offset);
      out.set(p.partitionIndex, e);
    }
    return out;
  }

  async #leaderConnection(topic: string, partition: number): Promise<Connection> {
    const md = await this.admin.metadata({ topics: [topic], forceUpdate: true });
    const leader = md.topics.get(topic)?.partitions[partition]?.leader;
    const broker = leader === undefined ? undefined : md.brokers.get(leader);
    if (leader === undefined || !broker) {
      throw new OutpostError('MIRROR_FETCH_FAILED', `no leader for ${topic}/${partition} on ${this.alias}`, {
        cluster: this.alias,
        topic,
        partition,
        retriable: true,
      });
    }
    let conn = this.#fetchConns.get(leader);
    if (!conn) {
      const base = clientOptions(this.alias, this.#cfg, 'fetch', this.#timeoutMs);
      conn = new Connection(base.clientId, {
        connectTimeout: Math.min(this.#timeoutMs, 10_000),
        requestTimeout: this.#timeoutMs,
        ...(base.tls ? { tls: base.tls } : {}),
        ...(base.sasl ? { sasl: base.sasl } : {}),
      });
      await conn.connect(broker.host, broker.port);
      this.#fetchConns.set(leader, conn);
    }
    return conn;
  }

  /** Committed records of [from, to) in order (read_committed, Fetch v12, no fetch session). */
  async *read(topic: string, partition: number, from: number, to: number): AsyncGenerator<RemoteRecord[]> {
    let next = from;
    while (next < to) {
      const conn = await this.#leaderConnection(topic, partition);
      const res = await fetchV12.api.async(
        conn,
        0,
        0,
        4 * 1024 ** 2,
        FetchIsolationLevels.READ_COMMITTED,
        0,
        -1,
        [
          {
            topicId: topic,
            partitions: [
              {
                partition,
                currentLeaderEpoch: -1,
                fetchOffset: BigInt(next),
                lastFetchedEpoch: -1,
                partitionMaxBytes: 4 * 1024 ** 2,
              },
            ],
          },
        ],
        [],
        '',
      );
      const part = res.responses[0]?.partitions[0];
      const where = { cluster: this.alias, topic, partition, offset: next, retriable: true };
      if (!part)
        throw new OutpostError(
          'MIRROR_FETCH_FAILED',
          `empty fetch response for ${topic}/${partition}`,
          where,
        );
      if (part.errorCode !== 0) {
        const text = `fetch ${topic}/${partition}@${next}: error code ${part.errorCode}`;
        throw new OutpostError('MIRROR_FETCH_FAILED', text, where);
      }
      const out: RemoteRecord[] = [];
      let last = next - 1;
      for (const batch of part.records ?? []) {
        for (const r of batch.records) {
          const offset = Number(batch.firstOffset) + r.offsetDelta;
          last = Math.max(last, offset);
          if (offset < next || offset >= to) continue;
          out.push({
            offset,
            timestamp: Number(batch.firstTimestamp + r.timestampDelta),
            key: r.key,
            value: r.value,
            headers: r.headers.map(([k, v]) => [k?.toString('utf8') ?? '', v ?? Buffer.alloc(0)]),
          });
        }
        // Control batches (transaction markers) hold no records for us but still take offsets.
        last = Math.max(last, Number(batch.firstOffset) + batch.lastOffsetDelta);
      }
      if (last < next) {
        // Nothing at or after `next` below `to` was returned: the range is beyond what is readable.
        if (Number(part.lastStableOffset) <= next) return;
        const text = `fetch ${topic}/${partition}@${next}: no progress (lso ${part.lastStableOffset})`;
        throw new OutpostError('MIRROR_FETCH_FAILED', text, where);
      }
      next = last + 1;
      if (out.length > 0) yield out;
    }
  }

  /**
   * Produces one record-v2 batch (stored, coalesced or recoded: forward.ts) of `count` records to
   * one partition; resolves with the base offset the broker assigned. The mirror's hot path.
   */
  async produceBatch(
    topic: string,
    partition: number,
    batch: Buffer,
    count: number,
    sequence: number,
  ): Promise<number> {
    const p = await this.producer();
    return p.produce(topic, partition, batch, count, sequence);
  }

  /** Produces records (MM2's internal records: heartbeats, offset syncs) as one uncompressed batch. */
  async produce(topic: string, partition: number, records: OutRecord[]): Promise<number> {
    const fields = records.map((r) => {
      const headers: Headers = {};
      for (const [k, v] of r.headers) headers[k.toString('utf8')] = v;
      return { timestamp: r.timestamp, key: r.key, headers, value: r.value };
    });
    const p = await this.#internalProducer();
    return p.produce(topic, partition, encodeBatch(0, fields, 'none'), records.length);
  }

  /** What this session has open, for a stop that missed its deadline. */
  holds(): string[] {
    const open = [
      'admin client',
      ...(this.#producer ? ['producer'] : []),
      ...(this.#internal ? ['internal producer'] : []),
    ];
    if (this.#fetchConns.size > 0) open.push(`${this.#fetchConns.size} fetch connection(s)`);
    return [`session with ${this.alias}: ${open.join(', ')}`];
  }

  async close(): Promise<void> {
    const closing: Array<Promise<unknown>> = [this.admin.close()];
    if (this.#producer) closing.push(this.#producer.close());
    if (this.#internal) closing.push(this.#internal.close());
    for (const c of this.#fetchConns.values()) closing.push(c.close());
    this.#fetchConns.clear();
    await Promise.allSettled(closing);
  }
}
