/** Types of MQTT ingest: the aedes shapes it relies on, an admitted PUBLISH, per-connection state. */
import type { Config } from '../config/index.ts';
import type { DeviceIdentity } from '../devices/index.ts';
import type { AppendRecord, Headers } from '../log/index.ts';
import type { DeviceRateBucket } from './device-rate.ts';
import type { RefusalReason } from './metrics.ts';
import type { CompiledPattern, CompiledRoute } from './routing.ts';

/** The parts of an aedes Client we rely on (public fields plus the keepalive timer). */
export interface AedesClientLike {
  id: string;
  closed: boolean;
  conn: {
    destroy(err?: Error): void;
    cork?(): void;
    uncork?(): void;
    writableLength?: number;
    once?(event: 'drain' | 'close', listener: () => void): unknown;
  };
  _keepaliveTimer?: NodeJS.Timeout | null;
  _keepaliveInterval?: number;
  /** QoS 2 message ids stored by aedes awaiting PUBREL (lib/handlers/publish.js, pubrel.js). */
  _inboundInflight?: Set<number>;
}

export interface PublishPacketLike {
  topic: string;
  payload: Buffer | string;
  qos: 0 | 1 | 2;
  retain: boolean;
  dup?: boolean;
  messageId?: number;
  /** Headers from MQTT 5 PUBLISH properties (src/ingest/mqtt5/properties.ts), added to the record's. */
  extraHeaders?: Headers;
  /** A will, published after its connection closed (also after a refusal doomed the connection). */
  isWill?: boolean;
  /**
   * The device a will speaks for, when it is published with no connection state (a will stored by
   * the previous process): its record's device.id header.
   */
  willDeviceId?: string;
  /** A refusal the protocol handler found in the packet itself (MQTT 5 payload format), in FIFO order. */
  invalid?: RefusalReason;
}

export type Callback = (err?: Error | null) => void;

/**
 * One admitted PUBLISH. It is also the record handed to `log.append` (it has the AppendRecord
 * fields), so the hot path allocates one object per message instead of two plus an array.
 */
export interface Admitted extends AppendRecord {
  topic: string;
  key: Buffer | null;
  value: Buffer;
  headers: Headers;
  qos: 0 | 1 | 2;
  bytes: number;
  received: number;
  cb: Callback;
  done: boolean;
  err: Error | null;
  /** A QoS 2 retransmission already appended: acknowledge again (PUBREC) without appending. */
  skip: boolean;
  /** Not a record: the refusal that closes the connection once everything before it is acknowledged. */
  refusal: boolean;
  /** Not a record: a refused PUBLISH whose negative acknowledgement (MQTT 5) waits for its turn. */
  rejected: boolean;
  /** The sending client's id (for log lines about a will, whose connection state may be gone). */
  clientId: string | undefined;
  state: ClientState | null;
}

export interface ClientState {
  client: AedesClientLike;
  identity: DeviceIdentity;
  /** Token bucket key: device id, or "anon:<clientId>". */
  bucketKey: string;
  overrides: CompiledPattern[];
  clientIdBuf: Buffer;
  deviceIdBuf: Buffer | null;
  queue: Admitted[];
  acks: Admitted[];
  inflight: number;
  closed: boolean;
  /** Refused: closes once earlier packets are acknowledged; nothing more is appended. */
  doomed: boolean;
  /**
   * MQTT 5: a refused PUBLISH is answered in FIFO order with a reason code (its callback gets the
   * error) and the connection goes on; a failed append does not drop what is queued behind it.
   */
  negativeAcks: boolean;
  /** Publishes refused over the rate (MQTT 5, overLimitMqtt5 "refuse"): only the first is logged. */
  rateRefused: number;
  timer: NodeJS.Timeout | null;
  routeCache: Map<string, Resolved | RefusalReason>;
  routeGeneration: number;
  /** Shared by the connections of one device (and by successive connections of one anonymous client id). */
  bucket: DeviceRateBucket;
}

export interface Resolved {
  logTopic: string;
  key: Buffer | null;
  topicBuf: Buffer;
  /**
   * The record headers for this (connection, topic), one set per qos × retain (index qos * 2 +
   * retain), built on first use and shared by every record that uses them: the log only reads them.
   */
  headerSets: Array<Headers | undefined>;
}

export interface PipelineSettings {
  routes: CompiledRoute[];
  unrouted: string | null;
  limits: Config['mqtt']['limits'];
  /** Sessions forward device publishes: a retained PUBLISH is kept as the topic's retained message. */
  keepRetained: boolean;
}
