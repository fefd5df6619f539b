/**
 * The producer id of each link's edge-record producer, kept across sessions and restarts.
 *
 *   LMDB store `mirror.producers` (msgpack): key <alias> → { producerId: decimal string, producerEpoch }
 *
 * Why: the link sends every edge record under a sequence derived from its edge offset (produce.ts
 * sequenceOf). Under one producer id the broker appends a partition's batch only at lastSequence + 1
 * and answers a repeat of one of its last 5 batches with the original offset (KIP-98). So a request of
 * a torn-down session (or of a process killed with -9) that the broker appends late, after the next
 * session read the remote tail, can never land the same edge records twice: whichever copy comes
 * second is refused. The id is forgotten when the broker says it no longer fits (a sequence out of
 * order: the remote partition was truncated or recreated, or edge offsets jumped over records
 * retention deleted before this cluster got them; an unknown or fenced id): the next session asks
 * for a new one, whose first batch on each partition may carry any sequence.
 */
import type { PartitionedLog } from '../../log/index.ts';
import type { ProducerId } from '../wire/raw-producer.ts';

export const PRODUCERS_STORE = 'mirror.producers';

/** Kafka errors after which the link's producer id is dropped. */
export const PRODUCER_ID_STALE =
  /OUT_OF_ORDER_SEQUENCE_NUMBER|UNKNOWN_PRODUCER_ID|INVALID_PRODUCER_EPOCH|PRODUCER_FENCED|INVALID_PRODUCER_ID_MAPPING/;

interface Stored {
  producerId: string;
  producerEpoch: number;
}

export class ProducerIds {
  readonly #db: ReturnType<PartitionedLog['openStore']>;

  constructor(log: PartitionedLog) {
    this.#db = log.openStore(PRODUCERS_STORE, { encoding: 'msgpack' });
  }

  get(alias: string): ProducerId | undefined {
    const v = this.#db.get(alias) as Stored | undefined;
    return v === undefined ? undefined : { producerId: BigInt(v.producerId), producerEpoch: v.producerEpoch };
  }

  async set(alias: string, id: ProducerId): Promise<void> {
    await this.#db.put(alias, { producerId: String(id.producerId), producerEpoch: id.producerEpoch });
  }

  async forget(alias: string): Promise<void> {
    await this.#db.remove(alias);
  }
}
