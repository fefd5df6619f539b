/**
 * An idempotent producer (KIP-98, acks=all) that sends stored record-v2 batches as bytes: no record is
 * decoded or re-encoded on the way to Kafka. Built on @platformatic/kafka's exported primitives: an
 * Admin for bootstrap, ApiVersions and Metadata; one Connection per broker; the package's
 * initProducerIdV0…V5 for InitProducerId; produce-request.ts for Produce around the batch bytes.
 *
 * Kafka's idempotent-producer rules it follows (KIP-98; the broker's side is ProducerAppendInfo and
 * UnifiedLog.analyzeAndValidateProducerState in Kafka's storage module):
 *   - InitProducerId with a null transactional id gives a producer id and epoch; sequences start at 0
 *     on every partition, and the batch's baseSequence is the partition's next sequence;
 *   - after an ack the next sequence is baseSequence + recordCount, wrapping from 2^31-1 to 0 as
 *     DefaultRecordBatch.incrementSequence does (the broker accepts 0 after Integer.MAX_VALUE);
 *   - acks=all; at most one request in flight per partition (the link never sends the next batch of a
 *     partition before the previous one's ack, and produce() refuses a second one), so order holds
 *     with any number of requests in flight per connection;
 *   - a batch the broker already holds is answered as a success with its ORIGINAL base offset, not
 *     DUPLICATE_SEQUENCE_NUMBER: the broker keeps the last 5 batches per producer and partition
 *     (ProducerStateEntry.NUM_BATCHES_TO_RETAIN) and findDuplicateBatch matches epoch, baseSequence and
 *     lastSequence. A resend older than those 5 is OUT_OF_ORDER_SEQUENCE_NUMBER. So a resend of a lost
 *     ack's batch with its own sequence lands once (test/mirror/raw-producer.test.ts); an error named
 *     DUPLICATE_SEQUENCE_NUMBER (old brokers) is a failure like any other here, never a guessed offset;
 *   - the broker does not check that a producer id was ever issued: a new id's first batch may carry
 *     any sequence (no UNKNOWN_PRODUCER_ID since KIP-360), and an epoch below the partition's last one
 *     is INVALID_PRODUCER_EPOCH.
 *
 * No produce is retried inside (only InitProducerId, while the coordinator is still loading: nothing
 * was issued then; a failed init() is final). After any failed send the partition's sequence is
 * unknown (the request may have been appended), so the partition is marked failed and every later produce() to it rejects with
 * MIRROR_PRODUCE_FAILED; errors about the producer id itself (UNKNOWN_PRODUCER_ID,
 * INVALID_PRODUCER_EPOCH, PRODUCER_FENCED, …) fail every partition. The link then tears the session
 * down and resumes from the remote tail with a new RawProducer, whose new producer id starts at
 * sequence 0 everywhere, which is always safe. The first failure is thrown as the package's own
 * error (ResponseError → ProtocolError with the Kafka error name, NetworkError, TimeoutError), which
 * produce.ts maps by name through kafkaErrorText.
 *
 * What @platformatic/kafka (2.12) lacked: a way to produce bytes already encoded. Its Producer and its
 * produceV* createRequest take message objects and always run createRecordsBatch; nothing accepts a
 * RecordBatch buffer. This file only needed createAPI + Writer to write the request itself. The API
 * that would have made it unnecessary, in the package's own style:
 *   produceV11.api(connection, acks, timeoutMs, [{ topic, partitions: [{ partition, records: Buffer }] }])
 *   or Producer.sendBatches({ batches: [{ topic, partition, records: Buffer, recordCount }] }), the
 *   producer stamping producerId / producerEpoch / baseSequence and the CRC into the batch and keeping
 *   its sequence bookkeeping as send() does.
 */
import {
  Admin,
  Connection,
  initProducerIdV0,
  initProducerIdV1,
  initProducerIdV2,
  initProducerIdV3,
  initProducerIdV4,
  initProducerIdV5,
} from '@platformatic/kafka';
import type { ClusterConfig } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import { COUNT_AT, LAST_DELTA_AT } from '../../log/internal.ts';
import { clientOptions, kafkaErrorText } from '../session/remote.ts';
import { forProducer } from './batch-rewrite.ts';
import { PRODUCE_API_KEY, produceVersionFor, sendBatch } from './produce-request.ts';

const INIT_PRODUCER_ID_KEY = 22;
/** Ignored by the broker without a transactional id; Kafka's producer default. */
const TRANSACTION_TIMEOUT_MS = 60_000;
/** Requests in flight per broker connection (the package's default). One per partition holds anyway. */
const MAX_INFLIGHTS = 5;
const INT32_MAX = 0x7fffffff;
/** Kafka errors that concern the producer id or epoch, not one partition: every partition fails. */
const PRODUCER_FATAL =
  /UNKNOWN_PRODUCER_ID|INVALID_PRODUCER_EPOCH|PRODUCER_FENCED|INVALID_PRODUCER_ID_MAPPING|CLUSTER_AUTHORIZATION_FAILED/;

const COORDINATOR_MOVING = /COORDINATOR_LOAD_IN_PROGRESS|COORDINATOR_NOT_AVAILABLE|NOT_COORDINATOR/;
const INIT_RETRY_MS = 100;

type InitApi = (
  conn: Connection,
  transactionalId: null,
  transactionTimeoutMs: number,
) => Promise<{ producerId: bigint; producerEpoch: number }>;
const INIT_APIS: InitApi[] = [
  initProducerIdV0.api.async,
  initProducerIdV1.api.async,
  initProducerIdV2.api.async,
  initProducerIdV3.api.async,
  initProducerIdV4.api.async,
  initProducerIdV5.api.async,
];

/** Kafka's DefaultRecordBatch.incrementSequence: sequences are int32 and wrap to 0. */
export function nextSequence(sequence: number, increment: number): number {
  return sequence > INT32_MAX - increment ? increment - (INT32_MAX - sequence) - 1 : sequence + increment;
}

export interface ProducerId {
  producerId: bigint;
  producerEpoch: number;
}

interface PartitionState {
  next: number;
  busy: boolean;
  /** Why the partition can no longer be produced to by this producer. */
  failed?: string;
  leader?: number;
}

export class RawProducer {
  readonly alias: string;
  readonly #cfg: ClusterConfig;
  readonly #timeoutMs: number;
  readonly #clientId: string;
  readonly #admin: Admin;
  readonly #conns = new Map<number, Promise<Connection>>();
  readonly #parts = new Map<string, PartitionState>();
  #id: { producerId: bigint; producerEpoch: number } | undefined;
  readonly #given: ProducerId | undefined;
  #produceVersion = 0;
  #fatal: string | undefined;
  #closed = false;
  #initializing: Promise<void> | undefined;

  /**
   * `id`: a producer id and epoch an earlier RawProducer got (the link keeps its data producer's id
   * across sessions and restarts, see cluster-link.ts); init() then skips InitProducerId.
   */
  constructor(opts: {
    alias: string;
    cfg: ClusterConfig;
    timeoutMs: number;
    id?: ProducerId | undefined;
  }) {
    this.alias = opts.alias;
    this.#given = opts.id;
    this.#cfg = opts.cfg;
    this.#timeoutMs = opts.timeoutMs;
    const base = clientOptions(opts.alias, opts.cfg, 'mirror', opts.timeoutMs);
    this.#clientId = base.clientId;
    this.#admin = new Admin(base);
  }

  /** The producer id and epoch InitProducerId gave, once init() resolved. */
  get producer(): { producerId: bigint; producerEpoch: number } | undefined {
    return this.#id;
  }

  /** The Produce version in use (from the bootstrap broker's ApiVersions), once init() resolved. */
  get produceVersion(): number {
    return this.#produceVersion;
  }

  /** InitProducerId (no transactional id) → producer id and epoch; picks the Produce version. Once. */
  init(): Promise<void> {
    this.#initializing ??= this.#init();
    return this.#initializing;
  }

  async #init(): Promise<void> {
    const apis = await this.#admin.listApis();
    const produce = apis.find((a) => a.apiKey === PRODUCE_API_KEY);
    const init = apis.find((a) => a.apiKey === INIT_PRODUCER_ID_KEY);
    const version = produce && produceVersionFor(produce.minVersion, produce.maxVersion);
    const initVersion = init ? Math.min(init.maxVersion, INIT_APIS.length - 1) : -1;
    if (version === undefined || init === undefined || initVersion < init.minVersion) {
      throw new OutpostError(
        'MIRROR_PRODUCE_FAILED',
        `${this.alias} does not speak Produce v3-v11 with InitProducerId (idempotent record-v2 batches)`,
        { cluster: this.alias },
      );
    }
    if (this.#given !== undefined) {
      this.#produceVersion = version;
      this.#id = { ...this.#given };
      return;
    }
    const md = await this.#admin.metadata({ topics: [] });
    const conn = await this.#connection(Math.min(...md.brokers.keys()));
    const initProducerId = INIT_APIS[initVersion] as InitApi;
    // A broker that has just started answers COORDINATOR_LOAD_IN_PROGRESS for a moment: nothing was
    // issued yet, so asking again is safe (bounded by the timeout, as Kafka's producer retries it).
    const deadline = Date.now() + this.#timeoutMs;
    let res: Awaited<ReturnType<InitApi>>;
    for (;;) {
      try {
        res = await initProducerId(conn, null, TRANSACTION_TIMEOUT_MS);
        break;
      } catch (err) {
        if (Date.now() >= deadline || !COORDINATOR_MOVING.test(kafkaErrorText(err))) throw err;
        await new Promise((r) => setTimeout(r, INIT_RETRY_MS));
      }
    }
    this.#produceVersion = version;
    this.#id = { producerId: res.producerId, producerEpoch: res.producerEpoch };
  }

  /**
   * Sends one stored-or-coalesced record-v2 batch (any baseOffset / producer fields in it) to
   * topic/partition; resolves with the base offset the broker assigned. `recordCount` must be the
   * batch's record count (lastOffsetDelta + 1): the partition's sequence advances by it.
   * `sequence`: the batch's baseSequence, when the caller derives sequences itself (the mirror: from
   * the edge offset, so a repeat of the same edge records carries the same sequences under the same
   * producer id, and the broker refuses it).
   */
  async produce(
    topic: string,
    partition: number,
    batch: Buffer,
    recordCount: number,
    sequence?: number,
  ): Promise<number> {
    const where = { cluster: this.alias, topic, partition };
    const what = `raw produce ${topic}/${partition} to ${this.alias}`;
    const id = this.#id;
    if (this.#closed || id === undefined) {
      throw new OutpostError(
        'MIRROR_STATE',
        `${what}: the producer is ${this.#closed ? 'closed' : 'not initialized'}`,
        where,
      );
    }
    const key = `${topic}\u0000${partition}`;
    let st = this.#parts.get(key);
    if (st === undefined) {
      st = { next: 0, busy: false };
      this.#parts.set(key, st);
    }
    const failed = this.#fatal ?? st.failed;
    if (failed !== undefined) {
      throw new OutpostError(
        'MIRROR_PRODUCE_FAILED',
        `${what}: not sent, an earlier produce failed (${failed}); its sequence is unknown, a new producer is needed`,
        { ...where, retriable: true },
      );
    }
    if (st.busy)
      throw new OutpostError('MIRROR_STATE', `${what}: a produce to this partition is in flight`, where);
    if (
      batch.length < COUNT_AT + 4 ||
      batch.readInt32BE(LAST_DELTA_AT) + 1 !== recordCount ||
      batch.readInt32BE(COUNT_AT) !== recordCount
    ) {
      throw new OutpostError(
        'RECORD_INVALID',
        `${what}: the batch does not hold ${recordCount} records`,
        where,
      );
    }
    // Checked and stamped before anything is sent: a refusal here leaves the sequence as it is.
    const baseSequence = sequence ?? st.next;
    const wire = forProducer(batch, { ...id, baseSequence });
    st.busy = true;
    let sent = false;
    try {
      const conn = await this.#leaderConnection(topic, partition, st);
      sent = true;
      const res = await sendBatch(conn, this.#produceVersion, topic, partition, wire, this.#timeoutMs);
      if (res.baseOffset < 0n) {
        const text = `${what}: the broker answered base offset ${res.baseOffset}`;
        throw new OutpostError('MIRROR_PRODUCE_FAILED', text, { ...where, retriable: true });
      }
      st.next = nextSequence(baseSequence, recordCount);
      return Number(res.baseOffset);
    } catch (err) {
      if (sent) {
        const text = kafkaErrorText(err);
        st.failed = text;
        if (PRODUCER_FATAL.test(text)) this.#fatal = text;
      }
      throw err;
    } finally {
      st.busy = false;
    }
  }

  async #leaderConnection(topic: string, partition: number, st: PartitionState): Promise<Connection> {
    if (st.leader === undefined) {
      const md = await this.#admin.metadata({ topics: [topic] });
      const leader = md.topics.get(topic)?.partitions[partition]?.leader;
      if (leader === undefined || leader < 0) {
        throw new OutpostError(
          'MIRROR_PRODUCE_FAILED',
          `no leader for ${topic}/${partition} on ${this.alias}`,
          {
            cluster: this.alias,
            topic,
            partition,
            retriable: true,
          },
        );
      }
      st.leader = leader;
    }
    return this.#connection(st.leader);
  }

  /** The connection to broker `nodeId`, opened once (again only after it closed). */
  async #connection(nodeId: number): Promise<Connection> {
    const have = this.#conns.get(nodeId);
    if (have !== undefined) {
      const conn = await have;
      if (conn.isConnected()) return conn;
      this.#conns.delete(nodeId);
      void conn.close().catch(() => {});
    }
    const opening = (async () => {
      const broker = (await this.#admin.metadata({ topics: [] })).brokers.get(nodeId);
      if (broker === undefined) {
        const text = `broker ${nodeId} of ${this.alias} is not in its metadata`;
        throw new OutpostError('MIRROR_PRODUCE_FAILED', text, { cluster: this.alias, retriable: true });
      }
      const base = clientOptions(this.alias, this.#cfg, 'mirror', this.#timeoutMs);
      const conn = new Connection(this.#clientId, {
        connectTimeout: Math.min(this.#timeoutMs, 10_000),
        requestTimeout: this.#timeoutMs,
        maxInflights: MAX_INFLIGHTS,
        ...(base.tls ? { tls: base.tls } : {}),
        ...(base.sasl ? { sasl: base.sasl } : {}),
      });
      try {
        await conn.connect(broker.host, broker.port);
      } catch (err) {
        void conn.close().catch(() => {});
        throw err;
      }
      return conn;
    })();
    this.#conns.set(nodeId, opening);
    opening.catch(() => {
      if (this.#conns.get(nodeId) === opening) this.#conns.delete(nodeId);
    });
    return opening;
  }

  /** What it has open, for a stop that missed its deadline. */
  holds(): string[] {
    if (this.#closed) return [];
    const open = ['admin client'];
    if (this.#conns.size > 0) open.push(`${this.#conns.size} broker connection(s)`);
    const id = this.#id ? `, producer id ${this.#id.producerId} epoch ${this.#id.producerEpoch}` : '';
    return [`raw producer with ${this.alias}: ${open.join(', ')}${id}`];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closing: Array<Promise<unknown>> = [this.#admin.close()];
    for (const c of this.#conns.values()) closing.push(c.then((conn) => conn.close()));
    this.#conns.clear();
    await Promise.allSettled(closing);
  }
}
