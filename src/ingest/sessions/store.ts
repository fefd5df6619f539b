/**
 * Session state of MQTT clients (3.1/3.1.1 through aedes, 5 through src/ingest/mqtt5), in the log's LMDB environment (PartitionedLog.openStore,
 * so one environment, one fsync stream, one backup). Layout version 1; keys ordered-binary, values
 * msgpack (lmdb-js msgpackr: Buffers come back as Buffers). Every value carries `v: 1`.
 *
 *   sessions.subs      key [clientId, filter]         → { v, qos, rh?, rap?, nl?, sid? }
 *                      rh, rap, nl: MQTT 5 subscription options (Retain Handling, Retain As
 *                      Published, No Local); sid: its Subscription Identifier. Absent for 3.1.1.
 *   sessions.outgoing  key [clientId, brokerCounter]  → { v, cmd: "publish" | "pubrel", topic, payload,
 *                                                        qos, retain, dup, messageId?, brokerId,
 *                                                        props?, expiresAt? }
 *                      One entry per message held for a persistent session: queued while offline,
 *                      or sent and not yet acknowledged (messageId set once assigned). brokerCounter
 *                      is aedes' per-broker message counter, carried on past a restart (setup), so
 *                      key order is queue order. A PUBREC turns the entry into its PUBREL.
 *                      props: the MQTT 5 properties a forwarded PUBLISH keeps (FORWARDED, without
 *                      Message Expiry); expiresAt: when its Message Expiry Interval ends (ms since the
 *                      epoch). Both optional (entries written before them have neither: no expiry).
 *   sessions.incoming  key [clientId, messageId]      → { v, topic }
 *                      An inbound QoS 2 PUBLISH appended to the log and answered PUBREC, awaiting
 *                      PUBREL [MQTT-4.3.3-2]: a resend of it (also after a crash) is not appended again.
 *   sessions.wills     key clientId                   → { v, topic, payload, qos, retain, brokerId,
 *                                                        clientId, deviceId? }
 *                      A 3.1.1 will (aedes' persistence); deviceId: the device it speaks for
 *                      (absent for anonymous clients and in entries written before it).
 *   sessions.wills5    key [clientId, connection]     → { v, topic, payload, qos, retain, props?, delay,
 *                                                        expiry, endedAt, deviceId? }
 *                      An MQTT 5 will (src/ingest/mqtt5/wills.ts), stored at CONNECT. connection: a
 *                      random id per connection, so the close of a connection that was taken over
 *                      never touches the will of the one that took it over. props: its will properties
 *                      but the Will Delay Interval; delay: that interval (s); expiry: the Session
 *                      Expiry Interval in force (s); endedAt: when its connection closed (ms since the
 *                      epoch), 0 while open; deviceId: the device it speaks for.
 *   sessions.retained  key topic                      → { v, topic, payload, qos, props?, expiresAt? }
 *                      The topic's retained message. props and expiresAt as in sessions.outgoing
 *                      (entries written before them have neither); once expiresAt has passed the
 *                      message is no longer sent and its entry goes [MQTT-3.3.2-5].
 *   sessions.expiry    key clientId                   → { v, expiry, endedAt }
 *                      An MQTT 5 session with a Session Expiry Interval > 0: expiry in seconds
 *                      (already clamped to mqtt.sessions.maxSessionExpirySeconds; 4294967295 never
 *                      expires), endedAt the time (ms since the epoch) its last connection closed,
 *                      0 while one is open. 3.1.1 sessions have no entry: they never expire.
 *
 * Writes an acknowledgement depends on are committed and fsynced (`durable`) before it is sent.
 */
import type { Database } from 'lmdb';
import type { PartitionedLog } from '../../log/index.ts';

export const SESSIONS_LAYOUT = 1;

export type StoreHost = Pick<PartitionedLog, 'openStore' | 'flushed'>;

export interface SubValue {
  v: 1;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  sid?: number;
}

export interface ExpiryValue {
  v: 1;
  expiry: number;
  endedAt: number;
}

export interface OutgoingValue {
  v: 1;
  cmd: 'publish' | 'pubrel';
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  dup: boolean;
  messageId?: number;
  brokerId: string;
  props?: Record<string, unknown>;
  expiresAt?: number;
}

export interface WillValue {
  v: 1;
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  brokerId: string;
  clientId: string;
  deviceId?: string;
}

export interface Will5Value {
  v: 1;
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  props?: Record<string, unknown>;
  delay: number;
  expiry: number;
  endedAt: number;
  deviceId?: string;
}

export interface RetainedValue {
  v: 1;
  topic: string;
  payload: Buffer;
  qos: number;
  props?: Record<string, unknown>;
  expiresAt?: number;
}

export interface SessionDbs {
  subs: Database<SubValue, [string, string]>;
  outgoing: Database<OutgoingValue, [string, number]>;
  incoming: Database<{ v: 1; topic: string }, [string, number]>;
  wills: Database<WillValue, string>;
  wills5: Database<Will5Value, [string, string]>;
  retained: Database<RetainedValue, string>;
  expiry: Database<ExpiryValue, string>;
  /** Resolves once every write so far is committed and fsynced. */
  durable: () => Promise<void>;
}

export function openSessionDbs(host: StoreHost): SessionDbs {
  const open = <K extends import('lmdb').Key, V>(name: string) =>
    host.openStore<K, V>(name, { encoding: 'msgpack', keyEncoding: 'ordered-binary' });
  return {
    subs: open<[string, string], SubValue>('sessions.subs'),
    outgoing: open<[string, number], OutgoingValue>('sessions.outgoing'),
    incoming: open<[string, number], { v: 1; topic: string }>('sessions.incoming'),
    wills: open<string, WillValue>('sessions.wills'),
    wills5: open<[string, string], Will5Value>('sessions.wills5'),
    retained: open<string, RetainedValue>('sessions.retained'),
    expiry: open<string, ExpiryValue>('sessions.expiry'),
    durable: () => host.flushed(),
  };
}

/** Entries of one client in a [clientId, …] keyed store, in key order. */
export function* ofClient<V, N extends string | number>(
  db: Database<V, [string, N]>,
  clientId: string,
): Generator<{ key: [string, N]; value: V }> {
  for (const entry of db.getRange({ start: [clientId] as unknown as [string, N] })) {
    if (entry.key[0] !== clientId) return;
    yield entry;
  }
}

export function toBuffer(payload: Buffer | string | Uint8Array | undefined): Buffer {
  if (payload === undefined) return Buffer.alloc(0);
  if (typeof payload === 'string') return Buffer.from(payload);
  return Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
}

export type ClientRef = { id: string };
export type Sub = { topic: string; qos: number; rh?: number; rap?: boolean; nl?: boolean; sid?: number };
export type PacketLike = {
  cmd?: string;
  topic: string;
  payload?: Buffer | string;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
  /** The publishing client (aedes-packet keeps it): No Local. */
  clientId?: string;
  /** MQTT 5 properties (aedes-packet keeps them). */
  properties?: Record<string, unknown>;
  /** When the message expires (ms since the epoch), if it does: set by the downlink. */
  messageExpiry?: number;
};

/**
 * The properties a forwarded PUBLISH keeps [MQTT-3.3.2-4, -15, -16, -17, -20]; Topic Alias and
 * Subscription Identifier are per hop. Message Expiry is kept as a time (expiresAt) and sent as what
 * is left of it [MQTT-3.3.2-6].
 */
const FORWARDED = [
  'payloadFormatIndicator',
  'contentType',
  'responseTopic',
  'correlationData',
  'userProperties',
];

/** A Message Expiry Interval for what is left until `expiresAt`: whole seconds, rounded up, at least 1. */
export function secondsLeft(expiresAt: number, now: number): number {
  return Math.max(1, Math.ceil((expiresAt - now) / 1000));
}

/** A publish's forwarded properties (undefined if none) and when it expires (undefined: never). */
export function forwardedOf(
  packet: Pick<PacketLike, 'properties' | 'messageExpiry'>,
  now: number,
): { props: Record<string, unknown> | undefined; expiresAt: number | undefined } {
  const p = packet.properties;
  const out: Record<string, unknown> = {};
  if (p !== undefined) for (const k of FORWARDED) if (p[k] !== undefined) out[k] = p[k];
  const interval = p?.['messageExpiryInterval'];
  const expiresAt =
    packet.messageExpiry ?? (typeof interval === 'number' ? now + interval * 1000 : undefined);
  return { props: Object.keys(out).length === 0 ? undefined : out, expiresAt };
}

/** The stored form of a held PUBLISH (or PUBREL). */
export function outgoingValue(packet: PacketLike, brokerId: string, now: number): OutgoingValue {
  const { props, expiresAt } = forwardedOf(packet, now);
  return {
    v: 1,
    cmd: packet.cmd === 'pubrel' ? 'pubrel' : 'publish',
    topic: packet.topic,
    payload: toBuffer(packet.payload),
    qos: packet.qos ?? 0,
    retain: packet.retain ?? false,
    dup: packet.dup ?? false,
    ...idOf(packet),
    brokerId: packet.brokerId ?? brokerId,
    ...(props === undefined ? {} : { props }),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}

export function idOf(packet: { messageId?: number }): { messageId?: number } {
  return packet.messageId === undefined ? {} : { messageId: packet.messageId };
}

export function optional(sub: Omit<Sub, 'topic' | 'qos'>): Partial<SubValue> {
  return {
    ...(sub.rh === undefined ? {} : { rh: sub.rh }),
    ...(sub.rap === undefined ? {} : { rap: sub.rap }),
    ...(sub.nl === undefined ? {} : { nl: sub.nl }),
    ...(sub.sid === undefined ? {} : { sid: sub.sid }),
  };
}

export function subFields(value: SubValue): Omit<Sub, 'topic'> {
  return { qos: value.qos, ...optional(value) };
}

export function toPacket(brokerCounter: number, value: OutgoingValue): PacketLike & { cmd: string } {
  return {
    cmd: value.cmd,
    topic: value.topic,
    payload: value.payload,
    qos: value.qos,
    retain: value.retain,
    dup: value.dup,
    ...idOf(value),
    brokerId: value.brokerId,
    brokerCounter,
  };
}
