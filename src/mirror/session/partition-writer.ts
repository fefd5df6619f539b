/**
 * The single writer of one session's remote partitions: reads the edge log from each partition's
 * next offset, plans wire batches, paces them, produces ONE request at a time per partition, and
 * on every ack records the index and moves the cursor (gathered with the session's other acks into
 * one LMDB transaction, group committed per link: ack-commits.ts) and queues offset syncs.
 *
 * One writer lives for one session (cluster-link.ts makes a new one per session); any failure is
 * handed to `fail`, which tears the whole session down, and the next session resumes from the
 * remote tail.
 */
import type { ClusterConfig } from '../../config/index.ts';
import { encodeOffsetSync } from '../formats/offset-sync.ts';
import { offsetSyncsTopic } from '../naming.ts';
import type { OffsetSyncQueue } from '../offsets/offset-syncs.ts';
import { accountAck, recordAck } from './ack-accounting.ts';
import { AckCommits } from './ack-commits.ts';
import type { ClusterLinkDeps } from './cluster-link.ts';
import { forwardContext, planBatches, trimLanded, type WireBatch } from './forward.ts';
import type { LinkStateMachine } from './link-state.ts';
import type { Pacer } from './pacer.ts';
import { produceBatch } from './produce.ts';
import type { RemoteSession } from './remote.ts';
import { cursorName, type Part } from './session-setup.ts';
import { timed } from './timed.ts';

/**
 * Produce requests in flight per partition: ONE. With two, a failed request followed by a successful
 * one could land records out of order: after a failed send the raw producer is not reused (a new
 * session brings a new producer id), so a second request already sent under the old id could land
 * without the failed batch before it (then resume-from-tail would skip that batch). One request at
 * a time keeps "the remote tail is a prefix of the edge" true.
 */
const MAX_IN_FLIGHT = 1;
/** Stored entries per log read: the planner coalesces the small ones within batch.maxBytes. */
const MAX_ENTRIES_PER_READ = 256;

/** What a session's writer shares with its link: the link's settings, pacer, syncs and state. */
export interface WriterDeps
  extends Pick<ClusterLinkDeps, 'alias' | 'edgeId' | 'log' | 'index' | 'logger' | 'metrics' | 'priority'> {
  /** The link's settings now (a reload takes effect from the next batch). */
  config: () => ClusterConfig;
  pacer: Pacer;
  syncs: OffsetSyncQueue;
  sm: LinkStateMachine;
  session: RemoteSession;
  signal: AbortSignal;
  /** Fails the session (first failure wins). */
  fail: (err: unknown) => void;
}

export class PartitionWriter {
  readonly #d: WriterDeps;
  #syncChain: Promise<void> = Promise.resolve();
  #throttledParts = 0;
  readonly #commits: AckCommits;

  constructor(deps: WriterDeps) {
    this.#d = deps;
    this.#commits = new AckCommits(() => deps.config().ackCommitMs);
  }

  /** Issues the acks' waiting index and cursor writes now (the session is ending). */
  flushCommits(): Promise<void> {
    return this.#commits.flush();
  }

  /** The offset-sync sends of this session (settled before the session is over). */
  get syncs(): Promise<void> {
    return this.#syncChain;
  }

  async #advanceCursor(p: Part, offset: number): Promise<void> {
    await this.#d.log.setCursor(cursorName(this.#d.alias), p.topic, p.partition, offset, {
      protected: this.#d.config().required,
    });
  }

  /** Streams one partition until the session's signal aborts or a send fails. */
  async run(p: Part): Promise<void> {
    const { signal } = this.#d;
    const cfg = this.#d.config();
    const tail = this.#d.log.tailEntries(p.topic, p.partition, p.next, {
      maxBytes: cfg.batch.maxBytes,
      maxEntries: MAX_ENTRIES_PER_READ,
      signal,
    });
    // MAX_IN_FLIGHT (1) produce request per partition, acknowledged in order; any failure tears the
    // session down and the next one resumes from the remote tail.
    const window: Array<Promise<void>> = [];
    try {
      for await (const entries of tail) {
        // Settings in force from the next read (reload); the first read starts at p.next.
        const now = this.#d.config();
        const ctx = forwardContext(this.#d.edgeId, now.batch, now.compression);
        for (const planned of planBatches(entries, p.next, ctx)) {
          if (signal.aborted) return;
          const fresh = trimLanded(planned, p.maxEdge, ctx);
          if (!fresh) {
            this.#skipLanded(p, planned);
            continue;
          }
          for (const out of fresh) {
            await this.#pace(p, out);
            if (signal.aborted) return;
            const produced = this.#produce(p, out);
            produced.catch(() => {}); // handled through `done` below
            const done = (window.at(-1) ?? Promise.resolve())
              .then(() => produced)
              .then((remoteBase) => this.#acked(p, out, remoteBase));
            done.catch((err: unknown) => this.#d.fail(err));
            window.push(done);
            if (window.length >= MAX_IN_FLIGHT) await window.shift();
          }
        }
      }
    } finally {
      await Promise.allSettled(window);
    }
  }

  /**
   * A whole batch already landed (an ack's rescan found these edge offsets on the remote, indexed):
   * not sent again; the cursor moves past it after the previous commits.
   */
  #skipLanded(p: Part, out: WireBatch): void {
    const last = out.offsets[out.offsets.length - 1] as number;
    p.next = last + 1;
    p.acking = p.acking.then(() => this.#advanceCursor(p, last + 1));
    p.acking.catch((err: unknown) => this.#d.fail(err));
    this.#d.logger.info(
      { cluster: this.#d.alias, topic: p.topic, partition: p.partition, from: out.offsets[0], to: last },
      'mirror: edge records already on the cluster are not sent again',
    );
  }

  /** Waits for pacing tokens (state throttled while waiting). */
  async #pace(p: Part, out: WireBatch): Promise<void> {
    const { pacer, sm, signal } = this.#d;
    const last = out.offsets[out.offsets.length - 1] as number;
    const live = last + 1 >= this.#d.log.offsets(p.topic, p.partition).endOffset;
    const req = { bytes: out.bytes, live, priority: this.#d.priority(p.topic), signal };
    if (!pacer.wouldWait(out.bytes)) return pacer.acquire(req);
    p.throttled = true;
    this.#throttledParts++;
    if (sm.state === 'streaming') sm.to('throttled');
    try {
      await pacer.acquire(req);
    } finally {
      p.throttled = false;
      this.#throttledParts--;
    }
    if (sm.state === 'throttled' && this.#throttledParts === 0) sm.to('streaming');
  }

  /** One produce request, bounded; errors mapped in produce.ts (a too-large batch blocks its partition). */
  #produce(p: Part, out: WireBatch): Promise<number> {
    const { alias, logger, metrics, session } = this.#d;
    const ctx = { alias, logger, metrics, timeoutMs: this.#d.config().produceTimeoutMs };
    return produceBatch(ctx, p, session, out);
  }

  /** After Kafka's ack (in order): index + cursor (queued for the session's next commit) → status → offset syncs. */
  async #acked(p: Part, out: WireBatch, remoteBase: number): Promise<void> {
    const { alias, index, metrics, logger, edgeId, session, signal, syncs } = this.#d;
    const last = out.offsets[out.offsets.length - 1] as number;
    // A late ack of a torn-down session is indexed only when it is exactly where expected; anything
    // else is left to the next resume's scan of the remote tail (which classifies it the same way).
    const exact = remoteBase === p.remoteNext && (out.offsets[0] as number) > p.maxEdge;
    if (signal.aborted && !exact) return;
    const ctx = { session, alias, edgeId, logger, metrics, timeoutMs: this.#d.config().produceTimeoutMs };
    const plan = await accountAck(ctx, p, out.offsets, remoteBase);
    // Ack. In Kafka's order: p.next moves now; the index (exact translation) and the cursor (what
    // retention may delete) commit to LMDB while the next batches are in flight; the next send does
    // not wait for them (what waits is bounded by the acks that arrive while one group commits). A crash before they commit loses nothing: the next session finds these
    // records on the remote tail and indexes them (resume.ts).
    const count = out.offsets.length;
    const prev = p.acking;
    // Index and cursor wait in #commits with the other acks of this session and are issued in one
    // event turn, so lmdb-js commits them all in one write transaction (ack-commits.ts): the mirror
    // shares the environment's single writer with the ingest's group commits. The cursor never
    // needs the index first: a resume indexes whatever the index lacks from the remote tail,
    // wherever the cursor stands.
    const written = this.#commits.add(() =>
      Promise.all([
        recordAck(index, alias, p, out.offsets, remoteBase, plan),
        this.#advanceCursor(p, last + 1),
      ]),
    );
    p.acking = Promise.all([prev, written]).then(() => undefined);
    p.acking.catch((err: unknown) => this.#d.fail(err));
    if (!plan) syncs.ackedOffsets(p.topic, p.partition, out.offsets, remoteBase);
    else for (const r of plan.first) syncs.acked(p.topic, p.partition, r.edgeStart, r.remoteStart, r.count);
    // A late ack from a torn-down session is indexed (it is true) but moves nothing else.
    if (signal.aborted) return;
    p.next = last + 1;
    p.remoteEnd = remoteBase + count;
    p.lastAckedAt = Date.now();
    metrics.records.inc({ cluster: alias, topic: p.topic }, count);
    metrics.bytes.inc({ cluster: alias }, out.bytes);
    metrics.batches.inc({ cluster: alias, how: out.how });
    void this.flushSyncs();
  }

  /** Sends pending offset syncs to `mm2-offset-syncs.<edgeId>.internal` partition 0, one send at a time. */
  flushSyncs(): Promise<void> {
    const { alias, session } = this.#d;
    const syncs = this.#d.syncs.drain();
    if (syncs.length === 0) return this.#syncChain;
    const topic = offsetSyncsTopic(this.#d.edgeId);
    const records = syncs.map((s) => {
      // OffsetSync names the upstream (edge) topic and partition.
      const { key, value } = encodeOffsetSync(s);
      return { key, value, timestamp: Date.now(), headers: new Map<Buffer, Buffer>() };
    });
    const produce = () => session.produce(topic, 0, records);
    this.#syncChain = this.#syncChain
      .then(() => timed(produce(), this.#d.config().produceTimeoutMs, 'offset syncs', alias))
      .then(
        () => undefined,
        (err: unknown) => this.#d.fail(err),
      );
    return this.#syncChain;
  }
}
