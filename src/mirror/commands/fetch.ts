/**
 * Reading the command topic on one cluster: partition count, start/end offsets (the mirror's
 * RemoteSession admin), and long-poll Fetch v12 to each partition leader without a fetch session
 * (sessionId 0 / epoch -1, KIP-227), read_committed. A raw fetch returns aborted transactional
 * records too: they are dropped here the way Kafka's consumer does (the response's
 * abortedTransactions list, then the ABORT control record that ends each one; KIP-98).
 */
import { Connection, FetchIsolationLevels, fetchV12 } from '@platformatic/kafka';
import type { ClusterConfig } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import { clientOptions, RemoteSession } from '../session/remote.ts';
import type { CommandRecord } from './types.ts';

/** A Fetch v12 response partition (the package does not export the type by name). */
type FetchResponsePartition = Awaited<
  ReturnType<typeof fetchV12.api.async>
>['responses'][number]['partitions'][number];

const MAX_BYTES = 4 * 1024 ** 2;
const PARTITION_MAX_BYTES = 1024 ** 2;
/** RecordBatch attributes (DefaultRecordBatch): bit 4 transactional, bit 5 control. */
const TRANSACTIONAL = 0x10;
const CONTROL = 0x20;
/** Fetch error codes we act on. */
export const OFFSET_OUT_OF_RANGE = 1;

export interface PartitionFetch {
  partition: number;
  records: CommandRecord[];
  /** Next offset to fetch (past control batches and aborted records too). */
  next: number;
  errorCode: number;
  logStartOffset: number;
  highWatermark: number;
}

/** Drops records of aborted transactions and control batches; returns [records, next offset]. */
export function committedRecords(part: FetchResponsePartition, from: number): [CommandRecord[], number] {
  const aborted = [...(part.abortedTransactions ?? [])].sort((a, b) => Number(a.firstOffset - b.firstOffset));
  const open = new Set<bigint>();
  const out: CommandRecord[] = [];
  let next = from;
  for (const batch of part.records ?? []) {
    const base = Number(batch.firstOffset);
    const last = base + batch.lastOffsetDelta;
    while (aborted.length > 0 && Number(aborted[0]?.firstOffset) <= last)
      open.add((aborted.shift() as { producerId: bigint }).producerId);
    if (batch.attributes & CONTROL) {
      // Control record key: version INT16, type INT16 (0 = ABORT, 1 = COMMIT).
      const type = batch.records[0]?.key?.readInt16BE(2);
      if (type === 0) open.delete(batch.producerId);
    } else if (!(batch.attributes & TRANSACTIONAL && open.has(batch.producerId))) {
      for (const r of batch.records) {
        const offset = base + r.offsetDelta;
        if (offset < from) continue;
        out.push({
          partition: part.partitionIndex,
          offset,
          timestamp: Number(batch.firstTimestamp + r.timestampDelta),
          key: r.key,
          value: r.value,
          headers: r.headers.map(([k, v]) => [k?.toString('utf8') ?? '', v ?? Buffer.alloc(0)]),
        });
      }
    }
    next = Math.max(next, last + 1);
  }
  return [out, next];
}

export class CommandSource {
  readonly alias: string;
  readonly remote: RemoteSession;
  readonly #cfg: ClusterConfig;
  readonly #timeoutMs: number;
  readonly #conns = new Map<number, Connection>();

  constructor(alias: string, cfg: ClusterConfig, timeoutMs: number) {
    this.alias = alias;
    this.#cfg = cfg;
    this.#timeoutMs = timeoutMs;
    this.remote = new RemoteSession(alias, cfg, timeoutMs);
  }

  async #leaders(topic: string): Promise<Map<number, { host: string; port: number; id: number }>> {
    const md = await this.remote.admin.metadata({ topics: [topic], forceUpdate: true });
    const t = md.topics.get(topic);
    const out = new Map<number, { host: string; port: number; id: number }>();
    for (const [i, p] of (t?.partitions ?? []).entries()) {
      const b = md.brokers.get(p.leader);
      if (b) out.set(i, { host: b.host, port: b.port, id: p.leader });
    }
    return out;
  }

  async #conn(b: { host: string; port: number; id: number }): Promise<Connection> {
    let c = this.#conns.get(b.id);
    if (!c) {
      const base = clientOptions(this.alias, this.#cfg, 'commands', this.#timeoutMs);
      c = new Connection(base.clientId, {
        connectTimeout: Math.min(this.#timeoutMs, 10_000),
        requestTimeout: this.#timeoutMs,
        ...(base.tls ? { tls: base.tls } : {}),
        ...(base.sasl ? { sasl: base.sasl } : {}),
      });
      this.#conns.set(b.id, c);
      await c.connect(b.host, b.port);
    }
    return c;
  }

  /** One long-poll fetch of every partition in `positions` (grouped by leader, in parallel). */
  async fetch(topic: string, positions: Map<number, number>, maxWaitMs: number): Promise<PartitionFetch[]> {
    const leaders = await this.#leaders(topic);
    const byLeader = new Map<
      number,
      { broker: { host: string; port: number; id: number }; parts: number[] }
    >();
    for (const p of positions.keys()) {
      const b = leaders.get(p);
      if (!b) {
        throw new OutpostError('COMMANDS_FETCH_FAILED', `no leader for ${topic}/${p} on ${this.alias}`, {
          cluster: this.alias,
          topic,
          partition: p,
          retriable: true,
        });
      }
      const e = byLeader.get(b.id) ?? { broker: b, parts: [] };
      e.parts.push(p);
      byLeader.set(b.id, e);
    }
    const answers = await Promise.all(
      [...byLeader.values()].map(async ({ broker, parts }) => {
        const conn = await this.#conn(broker);
        const res = await fetchV12.api.async(
          conn,
          maxWaitMs,
          1,
          MAX_BYTES,
          FetchIsolationLevels.READ_COMMITTED,
          0,
          -1,
          [
            {
              topicId: topic,
              partitions: parts.map((partition) => ({
                partition,
                currentLeaderEpoch: -1,
                fetchOffset: BigInt(positions.get(partition) ?? 0),
                lastFetchedEpoch: -1,
                partitionMaxBytes: PARTITION_MAX_BYTES,
              })),
            },
          ],
          [],
          '',
        );
        return res.responses[0]?.partitions ?? [];
      }),
    );
    return answers.flat().map((part) => {
      const from = positions.get(part.partitionIndex) ?? 0;
      const [records, next] = part.errorCode === 0 ? committedRecords(part, from) : [[], from];
      return {
        partition: part.partitionIndex,
        records,
        next,
        errorCode: part.errorCode,
        logStartOffset: Number(part.logStartOffset),
        highWatermark: Number(part.highWatermark),
      };
    });
  }

  holds(): string[] {
    return [
      ...this.remote.holds(),
      ...(this.#conns.size > 0 ? [`${this.#conns.size} command fetch connection(s)`] : []),
    ];
  }

  async close(): Promise<void> {
    const closing: Array<Promise<unknown>> = [this.remote.close()];
    for (const c of this.#conns.values()) closing.push(c.close());
    this.#conns.clear();
    await Promise.allSettled(closing);
  }
}
