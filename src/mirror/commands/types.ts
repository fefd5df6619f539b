/**
 * Types of the command consumer (cloud-to-device commands, the Kafka side). The MQTT side is the
 * Downlink, implemented by src/ingest; it is declared here structurally identical to ingest's face so
 * this folder does not import ingest (the service hands one to the other).
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../../config/index.ts';
import type { PartitionedLog } from '../../log/index.ts';

export interface DeliveryOutcome {
  matched: number;
  delivered: number;
  queued: number;
  /** `inTransaction` ran and its writes committed together with the `queued` copies. */
  atomic?: boolean;
}

export interface DeliverOptions {
  /** Runs synchronously inside the LMDB transaction that stores the durable (persistent-session)
   *  copies, when there are any; writes to stores of the same LMDB environment commit with them. */
  inTransaction?: (stored: { matched: number; queued: number }) => void;
}

export interface Downlink {
  /** Publishes msg as the broker to every session whose subscription matches. Resolves once each QoS>0
   *  copy is either acknowledged by its online subscriber or durably stored (LMDB committed) in that
   *  session's offline queue/in-flight state, so a crash after resolve loses nothing. */
  deliver(
    /** expiresAt: the command's TTL end (ms since the epoch): a queued copy not sent by then is not. */
    msg: { topic: string; payload: Buffer; qos: 0 | 1 | 2; expiresAt?: number },
    opts?: DeliverOptions,
  ): Promise<DeliveryOutcome>;
}

/** What became of one command record. `skipped` (not for this gateway) and duplicates have no outcome record. */
export type OutcomeKind = 'delivered' | 'queued' | 'expired' | 'rejected';

export type RejectReason =
  | 'no-device'
  | 'bad-topic'
  | 'bad-qos'
  | 'bad-ttl'
  | 'unknown-device'
  | 'disabled-device'
  | 'no-subscriber';

/** One record of the command topic, as fetched. */
export interface CommandRecord {
  partition: number;
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[string, Buffer]>;
}

/** A record parsed against the config (record.ts): what to do with it. */
export type Parsed =
  | { kind: 'skip' }
  | { kind: 'expired'; id: string; deviceId: string | null; expiredAt: number }
  | { kind: 'rejected'; id: string; deviceId: string | null; reason: RejectReason; detail: string }
  | {
      kind: 'deliver';
      id: string;
      deviceId: string;
      topic: string;
      qos: 0 | 1 | 2;
      payload: Buffer;
      /** The TTL's end (ms since the epoch); null: no TTL. */
      expiresAt: number | null;
    };

/** The outcome record published to `commands.outcomesTopic` (JSON value; key = id). */
export interface OutcomeRecord {
  id: string;
  edgeId: string;
  deviceId: string | null;
  outcome: OutcomeKind;
  reason: RejectReason | null;
  mqttTopic: string | null;
  matched: number;
  delivered: number;
  queued: number;
  cluster: string;
  topic: string;
  partition: number;
  offset: number;
  /** Epoch ms the outcome was recorded. */
  at: number;
}

/** The devices face the consumer may check a target against (src/devices Devices satisfies it). */
export interface DeviceLookup {
  get(id: string): { enabled: boolean } | undefined;
}

export interface CommandsDeps {
  config: Config;
  /** The owner log: its LMDB environment keeps the position, dedup ids and the outcome outbox. */
  log: PartitionedLog;
  downlink: Downlink;
  logger: Logger;
  metrics: Registry;
  /** When given, a command to an unknown or disabled device is rejected. */
  devices?: DeviceLookup;
}

export interface CommandsStatus {
  /** The cluster consumed now, or null while none answers. */
  cluster: string | null;
  state: 'connecting' | 'consuming' | 'waiting' | 'stopped';
  topic: string;
  /** Next offset to read, by partition, on `cluster`. */
  positions: Record<number, number>;
  /** Outcome records waiting in the outbox. */
  outboxPending: number;
}

export interface CommandConsumer {
  status(): CommandsStatus;
  /** Stops fetching, lets the command being delivered finish (bounded), closes the Kafka clients. */
  stop(opts?: { timeoutMs?: number }): Promise<void>;
}
