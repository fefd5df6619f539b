/**
 * The group commit of ingest: every record admitted during one event-loop turn, from every
 * connection, goes to the log in one `append` call (offsets in admission order; lmdb-js commits it in
 * one write transaction, fsynced once).
 *
 * Isolation: the log validates each record before it joins (PublishPipeline refuses a bad one for its
 * own connection). If the shared call is still rejected for a reason that is one record's own (not a
 * full, closed or failed log), no offset was handed out, and the records are appended apart.
 */
import type { PartitionedLog } from '../log/index.ts';
import { isSharedFailure, toError } from './append-steps.ts';
import type { RefusalReason } from './metrics.ts';
import type { Admitted, ClientState } from './types.ts';

/** `reason`: the refusal to count for a failure (undefined: sorted by the error; null: counted already). */
export type AppendDone = (batch: Admitted[], err: Error | null, reason?: RefusalReason | null) => void;

export class GroupAppender {
  #log: PartitionedLog;
  #done: AppendDone;
  /** Records admitted this turn; appended together in one log.append call. */
  #batch: Admitted[] = [];
  #batchScheduled = false;

  constructor(log: PartitionedLog, done: AppendDone) {
    this.#log = log;
    this.#done = done;
  }

  /** Records waiting for this turn's append. */
  waiting(): number {
    return this.#batch.length;
  }

  add(p: Admitted): void {
    this.#batch.push(p);
    if (!this.#batchScheduled) {
      this.#batchScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** One log.append for everything admitted since the last flush: offsets follow admission order. */
  #flush(): void {
    this.#batchScheduled = false;
    const batch = this.#batch;
    this.#batch = [];
    if (batch.length === 0) return;
    let promise: Promise<unknown>;
    try {
      promise = this.#log.append(batch); // a Admitted is its own AppendRecord
    } catch (err) {
      promise = Promise.reject(err);
    }
    promise.then(
      () => this.#done(batch, null),
      (err: unknown) => {
        // The log rejects the whole call, before handing out any offset, for one record it cannot
        // store (every record was validated, so this is a defence): retry them apart.
        if (batch.length > 1 && !isSharedFailure(err)) void this.#appendApart(batch);
        else
          this.#done(
            batch,
            toError(err),
            batch.length === 1 && !isSharedFailure(err) ? 'record-invalid' : undefined,
          );
      },
    );
  }

  /**
   * Isolation fallback: each connection's records are appended one call at a time, in order, and
   * connections in parallel. A record that fails, fails alone: its connection is refused with its own
   * log line, and its later records are not appended (their acknowledgements could never be sent).
   * Other connections are not affected.
   */
  async #appendApart(batch: Admitted[]): Promise<void> {
    const byClient = new Map<ClientState | Admitted, Admitted[]>();
    for (const p of batch) {
      const k = p.state ?? p; // a will stands alone
      const list = byClient.get(k);
      if (list) list.push(p);
      else byClient.set(k, [p]);
    }
    await Promise.all(
      [...byClient.values()].map(async (records) => {
        for (let i = 0; i < records.length; i++) {
          const p = records[i] as Admitted;
          try {
            await this.#log.append([p]);
            this.#done([p], null);
          } catch (err) {
            const e = toError(err);
            this.#done([p], e, isSharedFailure(err) ? undefined : 'record-invalid');
            const rest = records.slice(i + 1);
            if (rest.length > 0) this.#done(rest, e, null);
            return;
          }
        }
      }),
    );
  }
}
