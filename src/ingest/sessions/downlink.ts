/**
 * The downlink: messages published by the broker itself (cloud-to-device commands) to every
 * session whose subscription matches, with an outcome that says where each copy is.
 *
 * A copy for a persistent session (online or offline) is durable once aedes' enqueueOffline has put
 * it in the session's queue (persistence.ts commits and fsyncs before it resolves); that happens
 * before aedes emits the message to online clients. A QoS 1/2 copy for an online clean session is
 * held by nobody but the client, so `deliver` waits for its PUBACK/PUBCOMP: the copy gets its
 * packet id here (aedes keeps an id the forwarded packet already has, lib/qos-packet.js) and the
 * acknowledgement comes back through persistence.outgoingClearMessageId (lib/handlers/puback.js).
 * A clean client that closes first counts as lost.
 *
 * `inTransaction` (DeliverOptions) runs inside the LMDB transaction that stores the persistent
 * copies (persistence.outgoingEnqueueCombi), so a caller's own record of the delivery (the command
 * consumer's handled id and position) is on disk exactly when the copies are.
 */
import type { Aedes } from 'aedes';
import { OutpostError } from '../../errors.ts';
import { topicMatches } from './filters.ts';
import type { LmdbPersistence } from './persistence.ts';
import { orderResume, type ResumingClient } from './resume.ts';
import { secondsLeft } from './store.ts';

export interface DeliveryOutcome {
  /** Sessions whose subscriptions match the topic. */
  matched: number;
  /** Copies acknowledged by an online clean-session subscriber (QoS 1/2), or written (QoS 0). */
  delivered: number;
  /** Copies durably stored in a persistent session's queue or in-flight state. */
  queued: number;
  /** Copies not queued: the session's queue was full (counted in outpost_mqtt_session_dropped_total). */
  dropped: number;
  /** Copies for a clean session that closed before acknowledging. */
  lost: number;
  /** DeliverOptions.inTransaction ran and its writes committed with the `queued` copies. */
  atomic: boolean;
}

export interface DeliverOptions {
  /**
   * Called synchronously inside the LMDB write transaction that stores this message's durable
   * copies (persistent sessions' queue / in-flight entries, online or offline), with how many it
   * stores and how many sessions matched. Writes it makes to stores of the SAME LMDB environment
   * (PartitionedLog.openStore of the log ingest uses) commit atomically with those copies: after a
   * crash both are on disk or neither is. A throw rolls the copies back and `deliver` rejects.
   * Not called when no copy is stored (QoS 0, no persistent subscriber with QoS > 0, full queues);
   * copies to clean sessions are never in it (they have no durable state).
   */
  inTransaction?: (stored: { matched: number; queued: number }) => void;
}

export interface DownlinkMessage {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  /** Kept as the topic's retained message [MQTT-3.3.1-5]. Default false. */
  retain?: boolean;
  /**
   * When the message expires (ms since the epoch). MQTT 5 subscribers get what is left of it as
   * the Message Expiry Interval; a copy whose turn comes after it is not sent and its stored entry
   * goes (every session: counted in outpost_mqtt_session_dropped_total{reason="expired"}).
   */
  expiresAt?: number;
}

export interface Downlink {
  /**
   * Publishes `msg` as the broker (not from a device) to every session whose subscription matches.
   * Resolves once each QoS>0 copy is either acknowledged by its online subscriber (PUBACK/PUBCOMP)
   * or durably stored (LMDB committed) in that session's offline queue / in-flight state, so a
   * crash after resolve loses nothing. matched = sessions that matched. `opts.inTransaction`:
   * see DeliverOptions.
   */
  deliver(msg: DownlinkMessage, opts?: DeliverOptions): Promise<DeliveryOutcome>;
}

/**
 * Subscribers outside aedes (the MQTT 5 front): their clean sessions are matched and their copies
 * accounted for as aedes' clean clients are. Persistent ones need nothing: their copies are counted
 * as queued by persistence.outgoingEnqueueCombi, like 3.1.1 ones.
 */
export interface DownlinkPeers {
  /** Client ids of open clean sessions (nothing stored) with a subscription matching `topic`. */
  cleanMatching(topic: string): Iterable<string>;
}

/** How a peer's copy ended: acknowledged (QoS 0: written), its connection closed first, or not queued. */
export type PeerOutcome = 'delivered' | 'lost' | 'dropped';

interface Track {
  outcome: DeliveryOutcome;
  waits: Array<Promise<void>>;
  inTransaction: DeliverOptions['inTransaction'];
  /** inTransaction ran in the enqueue transaction (committed once `enqueued` is called). */
  ran: boolean;
}

/** The parts of an aedes Client the downlink wraps (lib/client.js). */
interface ClientInternals {
  id: string;
  clean: boolean;
  closed: boolean;
  _nextId: number;
  duplicates: Record<string, number>;
  subscriptions: Record<string, unknown>;
  conn: { once(event: 'close', fn: () => void): unknown };
  deliver0: (packet: DeliveredPacket, cb: () => void) => void;
  deliverQoS: (packet: DeliveredPacket, cb: () => void) => void;
}

interface DeliveredPacket {
  qos: number;
  brokerId?: string;
  brokerCounter?: number;
  messageId?: number;
}

const MAX_TOPIC_BYTES = 65535;

export class BrokerDownlink implements Downlink {
  readonly #broker: Aedes;
  readonly #persistence: LmdbPersistence;
  /** Messages being delivered, by aedes brokerCounter. */
  readonly #tracks = new Map<number, Track>();
  /** Clean-session copies awaiting PUBACK/PUBCOMP, by client and packet id. */
  readonly #acks = new Map<object, Map<number, { track: Track; done: () => void }>>();
  #stopped = false;
  #peers: DownlinkPeers | null = null;

  constructor(broker: Aedes, persistence: LmdbPersistence) {
    this.#broker = broker;
    this.#persistence = persistence;
  }

  async deliver(msg: DownlinkMessage, opts: DeliverOptions = {}): Promise<DeliveryOutcome> {
    if (this.#stopped || this.#broker.closed)
      throw new OutpostError('DOWNLINK_STOPPED', 'ingest is stopping');
    checkTopic(msg.topic);
    if (msg.expiresAt !== undefined && !Number.isFinite(msg.expiresAt)) {
      throw new OutpostError('DOWNLINK_INVALID', 'expiresAt must be a time in ms since the epoch');
    }
    if (msg.qos !== 0 && msg.qos !== 1 && msg.qos !== 2) {
      throw new OutpostError('DOWNLINK_INVALID', `qos must be 0, 1 or 2, not ${String(msg.qos)}`);
    }
    const b = this.#broker as unknown as { counter: number; id: string };
    const counter = ++b.counter;
    const track: Track = {
      outcome: {
        matched: this.#matched(msg.topic),
        delivered: 0,
        queued: 0,
        dropped: 0,
        lost: 0,
        atomic: false,
      },
      waits: [],
      inTransaction: opts.inTransaction,
      ran: false,
    };
    this.#tracks.set(counter, track);
    try {
      await new Promise<void>((resolve, reject) => {
        const packet = {
          cmd: 'publish' as const,
          topic: msg.topic,
          payload: msg.payload,
          qos: msg.qos,
          retain: msg.retain ?? false,
          dup: false,
          brokerId: b.id,
          brokerCounter: counter,
          ...(msg.expiresAt === undefined ? {} : expiryOf(msg.expiresAt)),
        };
        this.#broker.publish(packet as never, (err?: Error | null) => (err ? reject(err) : resolve()));
      });
      await Promise.all(track.waits);
      return { ...track.outcome };
    } finally {
      this.#tracks.delete(counter);
    }
  }

  /** From persistence.outgoingEnqueueCombi, inside the transaction storing `stored` copies. */
  inTransaction(brokerCounter: number, stored: number): void {
    const track = this.#tracks.get(brokerCounter);
    if (track?.inTransaction === undefined) return;
    track.inTransaction({ matched: track.outcome.matched, queued: stored });
    track.ran = true;
  }

  /** From persistence.outgoingEnqueueCombi, once the copies are durable. */
  enqueued(brokerCounter: number, stored: number, dropped: number): void {
    const track = this.#tracks.get(brokerCounter);
    if (track === undefined) return;
    track.outcome.queued += stored;
    track.outcome.dropped += dropped;
    if (track.ran) track.outcome.atomic = true;
  }

  /** From persistence.outgoingClearMessageId: a PUBACK or PUBCOMP. */
  acked(client: object, messageId: number): void {
    const pending = this.#acks.get(client);
    const entry = pending?.get(messageId);
    if (pending === undefined || entry === undefined) return;
    pending.delete(messageId);
    entry.track.outcome.delivered++;
    entry.done();
  }

  /**
   * Wraps an authenticated aedes client's delivery functions (before any subscription captures
   * them, lib/handlers/subscribe.js addSubs) so downlink copies to it are accounted for, and a
   * persistent session resumes in order with one copy per message (resume.ts).
   */
  watch(aedesClient: object): void {
    const c = aedesClient as ClientInternals;
    orderResume(aedesClient as ResumingClient, this.#persistence, this.#broker.id);
    const deliver0 = c.deliver0;
    const deliverQoS = c.deliverQoS;
    c.deliver0 = (packet, cb) => {
      const track = this.#trackOf(c, packet);
      if (track === undefined) return deliver0(packet, cb);
      deliver0(packet, () => {
        track.outcome.delivered++;
        cb();
      });
    };
    c.deliverQoS = (packet, cb) => {
      const track = packet.qos === 0 || !c.clean ? undefined : this.#trackOf(c, packet);
      if (track !== undefined) {
        const id = c._nextId;
        c._nextId = id >= 65535 ? 1 : id + 1;
        packet.messageId = id;
        const pending = this.#acks.get(c) ?? new Map();
        this.#acks.set(c, pending);
        track.waits.push(new Promise<void>((done) => pending.set(id, { track, done })));
      }
      deliverQoS(packet, cb);
    };
    c.conn.once('close', () => this.#gone(c));
  }

  /** The MQTT 5 front's clean sessions take part in `matched`. */
  setPeers(peers: DownlinkPeers): void {
    this.#peers = peers;
  }

  /**
   * A peer is about to send a copy of `packet` to a clean session, as the broker emits it: returns
   * the function that settles it (deliver waits for it), or undefined when it is no downlink message.
   * Must be called before the peer's emit callback (the waits are collected until the publish returns).
   */
  peerCopy(packet: DeliveredPacket): ((outcome: PeerOutcome) => void) | undefined {
    if (packet.brokerCounter === undefined || packet.brokerId !== this.#broker.id) return undefined;
    const track = this.#tracks.get(packet.brokerCounter);
    if (track === undefined) return undefined;
    let settle: (outcome: PeerOutcome) => void = () => {};
    track.waits.push(
      new Promise<void>((done) => {
        settle = (outcome) => {
          settle = () => {};
          track.outcome[outcome]++;
          done();
        };
      }),
    );
    return (outcome) => settle(outcome);
  }

  /** Ends every wait (stop): what is unacknowledged counts as lost. */
  stop(): void {
    this.#stopped = true;
    for (const client of [...this.#acks.keys()]) this.#gone(client);
  }

  #gone(client: object): void {
    const pending = this.#acks.get(client);
    this.#acks.delete(client);
    for (const { track, done } of pending?.values() ?? []) {
      track.outcome.lost++;
      done();
    }
  }

  /** A downlink copy this client will send (aedes dedupes overlapping subscriptions, client.js). */
  #trackOf(c: ClientInternals, packet: DeliveredPacket): Track | undefined {
    if (packet.brokerCounter === undefined || packet.brokerId !== this.#broker.id) return undefined;
    const track = this.#tracks.get(packet.brokerCounter);
    if (track === undefined) return undefined;
    return (c.duplicates[packet.brokerId] ?? 0) < packet.brokerCounter ? track : undefined;
  }

  #matched(topic: string): number {
    const sessions = this.#persistence.matchingSessions(topic);
    const clients = (this.#broker as unknown as { clients: Record<string, ClientInternals> }).clients;
    for (const id in clients) {
      const c = clients[id] as ClientInternals;
      if (!c.clean || c.closed || sessions.has(id)) continue;
      if (Object.keys(c.subscriptions).some((f) => topicMatches(f, topic))) sessions.add(id);
    }
    for (const id of this.#peers?.cleanMatching(topic) ?? []) sessions.add(id);
    return sessions.size;
  }
}

/** [MQTT-3.3.2-2]: no wildcards in a PUBLISH topic; [MQTT-4.7.3-1]: at least one character. */
function checkTopic(topic: string): void {
  if (typeof topic !== 'string' || topic.length === 0 || /[+#]/.test(topic) || topic.includes('\u0000')) {
    throw new OutpostError('DOWNLINK_INVALID', `invalid topic ${JSON.stringify(topic)}`, { topic });
  }
  if (Buffer.byteLength(topic) > MAX_TOPIC_BYTES) {
    throw new OutpostError('DOWNLINK_INVALID', 'topic longer than 65535 bytes', {
      topic: topic.slice(0, 64),
    });
  }
}

/** aedes-packet keeps `messageExpiry` (the time) and `properties` (the interval, for the wire). */
function expiryOf(expiresAt: number) {
  return {
    messageExpiry: expiresAt,
    properties: { messageExpiryInterval: secondsLeft(expiresAt, Date.now()) },
  };
}
