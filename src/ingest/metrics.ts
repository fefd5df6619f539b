/**
 * Ingest metrics (registered on the Registry the service gives us) plus the in-process counters
 * behind `status()`, which must not depend on scraping.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Why a connection, publish or subscription was refused. Stable label values. */
export type RefusalReason =
  // CONNECT
  | 'unknown-device'
  | 'bad-credentials'
  | 'disabled'
  | 'throttled'
  | 'anonymous-refused'
  | 'cert-mismatch'
  | 'max-connections'
  | 'client-id-too-long'
  | 'keepalive-too-large'
  | 'keepalive-required'
  | 'client-id-rejected'
  | 'protocol-version'
  | 'will-invalid'
  | 'will-refused'
  | 'log-full-connect'
  | 'stopping'
  | 'auth-error'
  | 'auth-method'
  // PUBLISH
  | 'unrouted'
  | 'unauthorized'
  | 'too-large'
  | 'topic-too-long'
  | 'topic-too-many-levels'
  | 'log-full'
  | 'append-failed'
  | 'record-invalid'
  | 'invalid-topic'
  | 'payload-format'
  | 'topic-alias-invalid'
  | 'receive-maximum'
  | 'rate-limited'
  // any packet
  | 'invalid-utf8'
  | 'null-character'
  | 'packet-id-zero'
  | 'protocol-error'
  | 'keepalive-timeout'
  | 'connect-timeout'
  // other
  | 'subscribe-denied'
  | 'tls-handshake'
  | 'device-revoked';

export interface IngestMetrics {
  messages: Counter<'topic' | 'qos'>;
  bytes: Counter<'topic' | 'qos'>;
  refusals: Counter<'reason'>;
  puback: Histogram;
  connections: Gauge;
  connectedDevices: Gauge;
  paused: Counter;
  /** Messages not queued for a session (queue full) and retained messages not kept. */
  sessionDropped: Counter<'reason'>;
  /** MQTT 5 sessions removed because their Session Expiry Interval passed. */
  sessionExpired: Counter;
  /** MQTT 5 wills by what became of them, and how many wait on their delay. */
  willOutcomes: Counter<'outcome'>;
  willsWaiting: Gauge;
  /** Where the session gauges read from (null while sessions are off: they read 0). */
  sessionStats: { source: (() => SessionStats) | null };
}

export interface SessionStats {
  sessions: number;
  subscriptions: number;
  queued: number;
  retained: number;
}

function getOrCreate<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function createMetrics(registry: Registry): IngestMetrics {
  const registers = [registry];
  const sessionStats: IngestMetrics['sessionStats'] = { source: null };
  sessionGauges(registry, sessionStats);
  return {
    sessionStats,
    sessionDropped: sessionDropped(registry),
    sessionExpired: sessionExpired(registry),
    ...willMetrics(registry),
    messages: getOrCreate(
      registry,
      'outpost_ingest_messages_total',
      () =>
        new Counter({
          name: 'outpost_ingest_messages_total',
          help: 'MQTT messages appended durably to the log, by log topic and MQTT QoS.',
          labelNames: ['topic', 'qos'] as const,
          registers,
        }),
    ),
    bytes: getOrCreate(
      registry,
      'outpost_ingest_bytes_total',
      () =>
        new Counter({
          name: 'outpost_ingest_bytes_total',
          help: 'Payload bytes appended durably to the log, by log topic and MQTT QoS.',
          labelNames: ['topic', 'qos'] as const,
          registers,
        }),
    ),
    refusals: getOrCreate(
      registry,
      'outpost_ingest_refusals_total',
      () =>
        new Counter({
          name: 'outpost_ingest_refusals_total',
          help: 'Refused connections, publishes and subscriptions, by reason.',
          labelNames: ['reason'] as const,
          registers,
        }),
    ),
    puback: getOrCreate(
      registry,
      'outpost_ingest_puback_seconds',
      () =>
        new Histogram({
          name: 'outpost_ingest_puback_seconds',
          help: 'PUBLISH received to acknowledgement released (record durable), QoS 1 and 2.',
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
          registers,
        }),
    ),
    connections: getOrCreate(
      registry,
      'outpost_ingest_connections',
      () =>
        new Gauge({
          name: 'outpost_ingest_connections',
          help: 'Open MQTT connections (all listeners, CONNECT accepted).',
          registers,
        }),
    ),
    connectedDevices: getOrCreate(
      registry,
      'outpost_ingest_connected_devices',
      () =>
        new Gauge({
          name: 'outpost_ingest_connected_devices',
          help: 'Distinct authenticated devices with at least one open connection.',
          registers,
        }),
    ),
    paused: getOrCreate(
      registry,
      'outpost_ingest_backpressure_total',
      () =>
        new Counter({
          name: 'outpost_ingest_backpressure_total',
          help: 'Publishes held back (socket reads paused) by the device rate or the in-flight bound.',
          registers,
        }),
    ),
  };
}

function sessionExpired(registry: Registry): Counter {
  return getOrCreate(
    registry,
    'outpost_mqtt_sessions_expired_total',
    () =>
      new Counter({
        name: 'outpost_mqtt_sessions_expired_total',
        help: 'MQTT 5 sessions removed (subscriptions and queued messages) because their Session Expiry Interval passed while no connection was open.',
        registers: [registry],
      }),
  );
}

function willMetrics(registry: Registry): Pick<IngestMetrics, 'willOutcomes' | 'willsWaiting'> {
  const registers = [registry];
  return {
    willOutcomes: getOrCreate(
      registry,
      'outpost_mqtt_wills_total',
      () =>
        new Counter({
          name: 'outpost_mqtt_wills_total',
          help: 'MQTT wills (3.1.1 and 5) by outcome: published (appended, or refused by the log and counted there), cancelled (MQTT 5: a new connection for the client id came within the Will Delay Interval), discarded (a DISCONNECT: 3.1.1, or MQTT 5 with 0x00; or the device was disabled or removed).',
          labelNames: ['outcome'] as const,
          registers,
        }),
    ),
    willsWaiting: getOrCreate(
      registry,
      'outpost_mqtt_wills_waiting',
      () =>
        new Gauge({
          name: 'outpost_mqtt_wills_waiting',
          help: 'MQTT 5 wills whose connection closed, waiting on their Will Delay Interval (or the end of their session).',
          registers,
        }),
    ),
  };
}

/** Messages a session's full queue did not take, and retained messages the full store did not keep. */
function sessionDropped(registry: Registry): Counter<'reason'> {
  return getOrCreate(
    registry,
    'outpost_mqtt_session_dropped_total',
    () =>
      new Counter({
        name: 'outpost_mqtt_session_dropped_total',
        help: 'Messages not queued for a session because its queue was full (reason queue-full; persistent sessions, and MQTT 5 clean sessions waiting on their Receive Maximum), retained messages not kept because mqtt.sessions.maxRetained topics are (retained-full), copies not sent because their Message Expiry passed first (expired) or they exceed the MQTT 5 client Maximum Packet Size (too-large).',
        labelNames: ['reason'] as const,
        registers: [registry],
      }),
  );
}

const SESSION_GAUGES: Array<[string, string, keyof SessionStats]> = [
  [
    'outpost_mqtt_sessions',
    'Persistent MQTT sessions with stored subscriptions (online or not).',
    'sessions',
  ],
  ['outpost_mqtt_subscriptions', 'Subscriptions stored for persistent sessions.', 'subscriptions'],
  [
    'outpost_mqtt_session_queued',
    'QoS 1/2 messages held for persistent sessions (queued offline or unacknowledged in flight).',
    'queued',
  ],
  ['outpost_mqtt_retained', 'Retained messages stored.', 'retained'],
];

/** Gauges read at scrape time from the sessions' store (mqtt.sessions); 0 while sessions are off. */
function sessionGauges(registry: Registry, holder: IngestMetrics['sessionStats']): void {
  for (const [name, help, field] of SESSION_GAUGES) {
    const existing = registry.getSingleMetric(name);
    if (existing !== undefined) registry.removeSingleMetric(name);
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(holder.source?.()[field] ?? 0);
      },
    });
  }
}

/** Per-second buckets over the last 10 s, for status().msgsPerSecond. */
export class RateWindow {
  readonly #buckets = new Float64Array(10);
  #second = Math.floor(Date.now() / 1000);

  add(n: number, now = Date.now()): void {
    this.#advance(now);
    this.#buckets[this.#second % 10]! += n;
  }

  /** Mean per second over the last 10 s: the 9 previous whole seconds plus the current partial one. */
  perSecond(now = Date.now()): number {
    this.#advance(now);
    let sum = 0;
    for (const n of this.#buckets) sum += n;
    return sum / 10;
  }

  #advance(now: number): void {
    const s = Math.floor(now / 1000);
    if (s === this.#second) return;
    const steps = Math.min(10, s - this.#second);
    for (let i = 1; i <= steps; i++) this.#buckets[(this.#second + i) % 10] = 0;
    this.#second = s;
  }
}
