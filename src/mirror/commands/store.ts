/**
 * The command consumer's durable state, in the log's LMDB environment (PartitionedLog.openStore:
 * the log knows nothing of Kafka; this is a named store like the device registry's).
 *
 * Store `commands`, format 1: ordered-binary array keys, msgpack values, five key spaces:
 *   ['v']                              -> 1 (format version; another value is refused)
 *   ['p', cluster, topic, partition]   -> next offset to read on that cluster (a position)
 *   ['i', id]                          -> { o: outcome, at: epoch ms }  (handled ids, dedup)
 *   ['t', at, id]                      -> 1   (the same ids by time, for pruning after dedupRetentionMs)
 *   ['u', id]                          -> { c: cluster, p: partition, f: offset, at }  (delivery began)
 *   ['o', seq]                         -> OutcomeRecord (outbox: outcome records not yet produced)
 *
 * `handled` writes the position, the id (both spaces), the outbox record and removes the 'u' entry in
 * ONE transaction, then waits for the environment's fsync: after it resolves a crash loses nothing
 * and the command is never handed to the downlink again. `begin` writes the 'u' entry (also fsynced)
 * before the downlink is called, so a crash between the downlink's resolve and `handled` is known on
 * restart (counted, logged; config onUncertain) instead of silent.
 *
 * `handledInTransaction` makes the same writes synchronously inside a transaction someone else
 * opened: the downlink's, which stores the persistent sessions' queued copies (Downlink
 * DeliverOptions.inTransaction). The id is then handled exactly when the copies are on disk, and the
 * 'u' window is closed for those commands. A later `handled` with the returned outbox seq rewrites
 * the same keys with the final outcome.
 */
import type { Database, Key } from 'lmdb';
import { OutpostError } from '../../errors.ts';
import type { PartitionedLog } from '../../log/index.ts';
import type { OutcomeKind, OutcomeRecord } from './types.ts';

export const COMMANDS_STORE = 'commands';
const FORMAT = 1;

/** How a handled id ended; 'uncertain': skipped after an unrecorded delivery (onUncertain: skip). */
export type HandledAs = OutcomeKind | 'uncertain';

interface Handled {
  o: HandledAs;
  at: number;
}
interface Began {
  c: string;
  p: number;
  f: number;
  at: number;
}

type Db = Database<unknown, Key>;

export class CommandStore {
  readonly #db: Db;
  readonly #log: Pick<PartitionedLog, 'flushed'>;
  #seq: number;

  constructor(log: Pick<PartitionedLog, 'openStore' | 'flushed'>) {
    this.#log = log;
    this.#db = log.openStore(COMMANDS_STORE, { keyEncoding: 'ordered-binary', encoding: 'msgpack' }) as Db;
    const v = this.#db.get(['v']);
    if (v !== undefined && v !== FORMAT) {
      throw new OutpostError('FORMAT_UNSUPPORTED', `store ${COMMANDS_STORE} has format ${String(v)}`, {
        reason: `expected format ${FORMAT}`,
      });
    }
    if (v === undefined) this.#db.putSync(['v'], FORMAT);
    let last = 0;
    for (const { key } of this.#db.getRange({
      start: ['o', Number.MAX_SAFE_INTEGER],
      end: ['o'],
      reverse: true,
      limit: 1,
    }))
      last = (key as [string, number])[1];
    this.#seq = last;
  }

  position(cluster: string, topic: string, partition: number): number | undefined {
    return this.#db.get(['p', cluster, topic, partition]) as number | undefined;
  }

  /** Every stored position on a topic, by cluster: has this gateway ever consumed it anywhere? */
  hasAnyPosition(topic: string, clusters: readonly string[]): boolean {
    for (const c of clusters) {
      for (const _ of this.#db.getRange({
        start: ['p', c, topic],
        end: ['p', c, topic, Number.MAX_SAFE_INTEGER],
        limit: 1,
      }))
        return true;
    }
    return false;
  }

  handledAs(id: string): HandledAs | undefined {
    return (this.#db.get(['i', id]) as Handled | undefined)?.o;
  }

  began(id: string): Began | undefined {
    return this.#db.get(['u', id]) as Began | undefined;
  }

  /** Durable 'u' entry before the downlink is called. */
  async begin(id: string, cluster: string, partition: number, offset: number): Promise<void> {
    await this.#db.put(['u', id], { c: cluster, p: partition, f: offset, at: Date.now() } satisfies Began);
    await this.#log.flushed();
  }

  /** Moves the position without a command of ours (skipped or duplicate records). Durable. */
  async advance(cluster: string, topic: string, partition: number, next: number): Promise<void> {
    await this.#db.put(['p', cluster, topic, partition], next);
    await this.#log.flushed();
  }

  /**
   * One transaction: position, handled id, outbox record, 'u' removed; then fsync. `seq`: the outbox
   * record handledInTransaction wrote for this command, replaced (not added to).
   */
  async handled(
    cluster: string,
    topic: string,
    partition: number,
    next: number,
    id: string,
    outcome: OutcomeRecord | null,
    kind: HandledAs,
    seq: number | null = null,
  ): Promise<void> {
    await this.#db.transaction(() => {
      this.handledInTransaction(cluster, topic, partition, next, id, outcome, kind, seq);
    });
    await this.#log.flushed();
  }

  /** The writes of `handled`, inside an open write transaction of this environment; the outbox seq. */
  handledInTransaction(
    cluster: string,
    topic: string,
    partition: number,
    next: number,
    id: string,
    outcome: OutcomeRecord | null,
    kind: HandledAs,
    seq: number | null = null,
  ): number | null {
    const at = Date.now();
    this.#db.put(['p', cluster, topic, partition], next);
    const prev = this.#db.get(['i', id]) as Handled | undefined;
    if (prev) this.#db.remove(['t', prev.at, id]);
    this.#db.put(['i', id], { o: kind, at } satisfies Handled);
    this.#db.put(['t', at, id], 1);
    this.#db.remove(['u', id]);
    if (!outcome) return null;
    const s = seq ?? ++this.#seq;
    this.#db.put(['o', s], outcome);
    return s;
  }

  /** Oldest outcome records first, up to `limit`. */
  outbox(limit: number): Array<{ seq: number; record: OutcomeRecord }> {
    const out: Array<{ seq: number; record: OutcomeRecord }> = [];
    for (const { key, value } of this.#db.getRange({
      start: ['o'],
      end: ['o', Number.MAX_SAFE_INTEGER],
      limit,
    }))
      out.push({ seq: (key as [string, number])[1], record: value as OutcomeRecord });
    return out;
  }

  outboxSize(): number {
    return this.#db.getKeysCount({ start: ['o'], end: ['o', Number.MAX_SAFE_INTEGER] });
  }

  async dropOutbox(seqs: readonly number[]): Promise<void> {
    await this.#db.transaction(() => {
      for (const s of seqs) this.#db.remove(['o', s]);
    });
    await this.#log.flushed();
  }

  /** Forgets handled ids older than `before` (epoch ms); returns how many. */
  async prune(before: number, limit = 10_000): Promise<number> {
    const old: Array<[number, string]> = [];
    for (const { key } of this.#db.getRange({ start: ['t'], end: ['t', before], limit }))
      old.push([(key as [string, number, string])[1], (key as [string, number, string])[2]]);
    if (old.length === 0) return 0;
    await this.#db.transaction(() => {
      for (const [at, id] of old) {
        this.#db.remove(['t', at, id]);
        this.#db.remove(['i', id]);
      }
    });
    await this.#log.flushed();
    return old.length;
  }
}
