/**
 * An aedes 1.x persistence (the async interface of aedes-persistence 11: every method returns a
 * Promise, streams are Readables, `setup` is an async function) on LMDB, in the log's environment
 * (store.ts has the layout). No maintained aedes persistence shares an existing LMDB environment
 * (aedes-persistence-level, -redis, -mongodb, -nedb bring their own stores), hence this one.
 *
 * Inbound QoS 2 ids and wills are kept by its base class (incoming-wills.ts).
 *
 * What stays in memory: the subscription trie (rebuilt from sessions.subs at setup) and each
 * session's queue length. Everything else is read from LMDB when needed.
 *
 * Deviations from the in-memory reference, on purpose:
 *   - addSubscriptions keeps only what the ACL allows: aedes stores a SUBSCRIBE's whole filter list
 *     once one of its filters is granted (lib/handlers/subscribe.js storeSubscriptions), so a denied
 *     filter would otherwise be stored and queued for.
 *   - one queued copy per session and message, however many of its filters match (keyed by
 *     brokerCounter), as aedes delivers one copy online (client.js dedupe).
 *   - each session's queue is bounded (hooks.maxQueued); what does not fit is dropped and reported.
 */
import { Readable } from 'node:stream';
import type { Aedes } from 'aedes';
import { FilterTrie, type TrieEntry, topicMatches } from './filters.ts';
import { IncomingAndWills } from './incoming-wills.ts';
import {
  type ClientRef,
  forwardedOf,
  idOf,
  type OutgoingValue,
  ofClient,
  openSessionDbs,
  optional,
  outgoingValue,
  type PacketLike,
  type RetainedValue,
  type StoreHost,
  type Sub,
  type SubValue,
  subFields,
  toBuffer,
  toPacket,
} from './store.ts';

/**
 * Why a message is not (or no longer) held: queue-full, retained-full (not kept), expired (its
 * Message Expiry passed before it was sent), too-large (over the client's Maximum Packet Size).
 */
export type DropReason = 'queue-full' | 'retained-full' | 'expired' | 'too-large';

export interface PersistenceHooks {
  /** The subscription ACL (no counting: the refusal was counted in authorizeSubscribe). */
  allowed(client: ClientRef, filter: string): boolean;
  maxQueued(): number;
  maxRetained(): number;
  /** A message not queued for a session, or a retained message not kept. Counts and logs. */
  dropped(reason: DropReason, clientId: string | null, topic: string): void;
  /**
   * Inside the LMDB transaction that stores a message's queued copies (synchronous): writes made
   * here to stores of the same environment commit atomically with them. A throw aborts them all.
   */
  inTransaction(brokerCounter: number, stored: number): void;
  /** A message went to sessions' queues (durable): how many took it, how many were full. */
  enqueued(brokerCounter: number, stored: number, dropped: number): void;
  /** A PUBACK or PUBCOMP for `messageId` from `client` (clean or persistent). */
  acked(client: ClientRef, messageId: number): void;
  /** The device a connection authenticated as (undefined: anonymous, or not authenticated). */
  deviceOf(client: ClientRef): string | undefined;
}

export class LmdbPersistence extends IncomingAndWills {
  readonly #hooks: PersistenceHooks;
  readonly #trie = new FilterTrie();
  /** Messages held per session (sessions.outgoing entries). */
  readonly #queued = new Map<string, number>();
  readonly #clients = new Set<string>();
  /** Retained topics whose expired message is being removed (counted once). */
  readonly #expiring = new Set<string>();
  /** Per resuming client: the highest brokerCounter its outgoingStream handed out. */
  readonly #streamed = new Map<string, number>();

  constructor(host: StoreHost, hooks: PersistenceHooks) {
    super(openSessionDbs(host));
    this.#hooks = hooks;
  }

  protected override deviceOf(client: ClientRef): string | undefined {
    return this.#hooks.deviceOf(client);
  }

  /** Rebuilds the trie and queue lengths, and carries aedes' message counter past a restart. */
  async setup(broker: Aedes): Promise<void> {
    this.broker = broker;
    for (const { key, value } of this.dbs.subs.getRange()) {
      this.#trie.add({ clientId: key[0], topic: key[1], ...subFields(value) });
      this.#clients.add(key[0]);
    }
    let counter = 0;
    for (const key of this.dbs.outgoing.getKeys()) {
      this.#queued.set(key[0], (this.#queued.get(key[0]) ?? 0) + 1);
      if (key[1] > counter) counter = key[1];
    }
    const b = broker as unknown as { counter: number };
    b.counter = Math.max(b.counter, counter);
  }

  /** Sessions whose subscriptions match `topic` (every QoS), by client id. */
  matchingSessions(topic: string): Set<string> {
    return new Set(this.#trie.match(topic).map((e) => e.clientId));
  }

  stats(): { sessions: number; subscriptions: number; queued: number; retained: number } {
    let queued = 0;
    for (const n of this.#queued.values()) queued += n;
    return {
      sessions: this.#clients.size,
      subscriptions: this.#trie.size,
      queued,
      retained: this.dbs.retained.getKeysCount(),
    };
  }

  // Retained messages [MQTT-3.3.1-5..11].

  async storeRetained(packet: PacketLike): Promise<void> {
    const payload = toBuffer(packet.payload);
    const db = this.dbs.retained;
    if (payload.length === 0) {
      await db.remove(packet.topic); // [MQTT-3.3.1-10, MQTT-3.3.1-11]
    } else {
      if (!db.doesExist(packet.topic) && db.getKeysCount() >= this.#hooks.maxRetained()) {
        this.#hooks.dropped('retained-full', null, packet.topic);
        return;
      }
      // Its MQTT 5 properties and Message Expiry go with it to every later subscriber [MQTT-3.3.2-4].
      const { props, expiresAt } = forwardedOf(packet, Date.now());
      await db.put(packet.topic, {
        v: 1,
        topic: packet.topic,
        payload,
        qos: packet.qos ?? 0,
        ...(props === undefined ? {} : { props }),
        ...(expiresAt === undefined ? {} : { expiresAt }),
      });
    }
    await this.dbs.durable();
  }

  /**
   * The retained messages on topics that match one of `filters`, in topic order. One whose Message
   * Expiry has passed is left out and its entry removed [MQTT-3.3.2-5] (counted as dropped, reason
   * expired); a removal that fails leaves it to be skipped next time.
   */
  *retained(filters: readonly string[]): Generator<RetainedValue> {
    const db = this.dbs.retained;
    const now = Date.now();
    for (const { value } of db.getRange()) {
      if (!filters.some((f) => topicMatches(f, value.topic))) continue;
      if (value.expiresAt !== undefined && value.expiresAt <= now) {
        if (this.#expiring.has(value.topic)) continue; // counted once, its removal under way
        this.#expiring.add(value.topic);
        this.#hooks.dropped('expired', null, value.topic);
        db.transaction(() => {
          // Only if no newer retained message replaced it meanwhile.
          const current = db.get(value.topic);
          if (current?.expiresAt !== undefined && current.expiresAt <= now) db.remove(value.topic);
        })
          .catch(() => {})
          .finally(() => this.#expiring.delete(value.topic));
        continue;
      }
      yield value;
    }
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    const retained = this.retained(patterns);
    function* packets() {
      for (const value of retained) {
        yield { cmd: 'publish', topic: value.topic, payload: value.payload, qos: value.qos, retain: true };
      }
    }
    return Readable.from(packets());
  }

  createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern]);
  }

  // Subscriptions.

  async addSubscriptions(client: ClientRef, subs: Sub[]): Promise<void> {
    const writes: Array<Promise<unknown>> = [];
    for (const sub of subs) {
      if (!this.#hooks.allowed(client, sub.topic)) continue;
      const value: SubValue = { v: 1, qos: sub.qos, ...optional(sub) };
      this.#trie.add({ clientId: client.id, topic: sub.topic, ...subFields(value) });
      writes.push(this.dbs.subs.put([client.id, sub.topic], value));
      this.#clients.add(client.id);
    }
    await this.commit(writes);
  }

  async removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
    const writes = topics.map((topic) => {
      this.#trie.remove(client.id, topic);
      return this.dbs.subs.remove([client.id, topic]);
    });
    await this.commit(writes);
    if (ofClient(this.dbs.subs, client.id).next().done === true) this.#clients.delete(client.id);
  }

  async subscriptionsByClient(client: ClientRef): Promise<Sub[]> {
    return [...ofClient(this.dbs.subs, client.id)].map(({ key, value }) => ({
      topic: key[1],
      ...subFields(value),
    }));
  }

  async countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return { subsCount: this.#trie.size, clientsCount: this.#clients.size };
  }

  /** Persistent subscriptions with QoS > 0 (only those get offline copies, as in aedes). */
  async subscriptionsByTopic(topic: string): Promise<TrieEntry[]> {
    return this.#trie.match(topic).filter((e) => e.qos > 0);
  }

  /** A clean session starts [MQTT-3.1.2-6]: its subscriptions, queued messages and MQTT 5 expiry go. */
  async cleanSubscriptions(client: ClientRef): Promise<void> {
    const writes: Array<Promise<unknown>> = [];
    for (const { key } of ofClient(this.dbs.subs, client.id)) {
      this.#trie.remove(client.id, key[1]);
      writes.push(this.dbs.subs.remove(key));
    }
    for (const { key } of ofClient(this.dbs.outgoing, client.id)) writes.push(this.dbs.outgoing.remove(key));
    if (this.dbs.expiry.doesExist(client.id)) writes.push(this.dbs.expiry.remove(client.id));
    this.#queued.delete(client.id);
    this.#clients.delete(client.id);
    await this.commit(writes);
  }

  // Outgoing: the offline queue and the in-flight QoS 1/2 state of persistent sessions.

  async outgoingEnqueue(sub: { clientId: string }, packet: PacketLike): Promise<void> {
    await this.outgoingEnqueueCombi([sub], packet);
  }

  /** One child transaction: every copy plus hooks.inTransaction's writes (its throw undoes all). */
  async outgoingEnqueueCombi(
    subs: Array<{ clientId: string; nl?: boolean }>,
    packet: PacketLike,
  ): Promise<void> {
    const counter = packet.brokerCounter ?? 0;
    const take = new Set<string>();
    let dropped = 0;
    for (const { clientId, nl } of subs) {
      // No Local: not for the session that published it [MQTT-3.8.3-3] (packet.clientId: aedes-packet).
      if (take.has(clientId) || (nl === true && packet.clientId === clientId)) continue;
      const held = this.#queued.get(clientId) ?? 0;
      if (held >= this.#hooks.maxQueued()) {
        dropped++;
        this.#hooks.dropped('queue-full', clientId, packet.topic);
        continue;
      }
      take.add(clientId);
      this.#queued.set(clientId, held + 1);
    }
    if (take.size > 0) {
      const value = this.#outgoingValue(packet);
      const db = this.dbs.outgoing;
      try {
        await db.childTransaction(() => {
          for (const clientId of take) db.put([clientId, counter], value);
          this.#hooks.inTransaction(counter, take.size);
        });
      } catch (err) {
        for (const clientId of take) this.#release(clientId);
        throw err;
      }
      await this.dbs.durable();
    }
    this.#hooks.enqueued(counter, take.size, dropped);
  }

  /** A message is (re)sent with `messageId`, or a PUBREC turned it into its PUBREL. */
  async outgoingUpdate(client: ClientRef, packet: PacketLike): Promise<void> {
    const db = this.dbs.outgoing;
    if (packet.brokerId !== undefined && packet.brokerCounter !== undefined) {
      const key: [string, number] = [client.id, packet.brokerCounter];
      const value = db.get(key);
      if (value !== undefined && value.brokerId === packet.brokerId) {
        await db.put(key, { ...value, ...idOf(packet) });
        await this.dbs.durable();
        return;
      }
    }
    const found = this.#byMessageId(client.id, packet.messageId);
    // Not held (a copy its full queue did not take, reported as dropped): it goes out unheld. The
    // reference implementation throws, and aedes then closes the subscriber (client.js writeQoS).
    if (found === undefined) return;
    const { expiresAt } = found.value; // the message's own expiry, not one counted from now
    const next: OutgoingValue =
      packet.cmd === 'pubrel'
        ? { ...found.value, cmd: 'pubrel', ...idOf(packet) }
        : { ...this.#outgoingValue(packet), ...(expiresAt === undefined ? {} : { expiresAt }) };
    await db.put(found.key, next);
    await this.dbs.durable();
  }

  /** PUBACK / PUBCOMP (or a message not to be sent): the entry goes; resolves with what it was. */
  async outgoingClearMessageId(client: ClientRef, packet: { messageId?: number }): Promise<unknown> {
    if (packet.messageId !== undefined) this.#hooks.acked(client, packet.messageId);
    const found = this.#byMessageId(client.id, packet.messageId);
    if (found === undefined) return undefined;
    await this.dbs.outgoing.remove(found.key);
    this.#release(client.id);
    return toPacket(found.key[1], found.value);
  }

  /** A held message not to be sent (expired, or too large for the client): its entry goes. */
  async outgoingDiscard(clientId: string, brokerCounter: number): Promise<void> {
    if (!(await this.dbs.outgoing.remove([clientId, brokerCounter]))) return;
    this.#release(clientId);
    await this.dbs.durable();
  }

  /**
   * What a resuming session is sent, in queue order. A PUBLISH that already has a packet id was
   * (possibly) sent before, so it goes with DUP 1 [MQTT-3.3.1-1] (aedes would resend DUP 0).
   * The highest brokerCounter handed out is kept for resume.ts (takeStreamed).
   */
  outgoingStream(client: ClientRef): Readable {
    const packets = this.heldAfter(client.id, 0);
    this.#streamed.set(client.id, packets.at(-1)?.brokerCounter ?? 0);
    return Readable.from(packets);
  }

  /**
   * The session's stored messages after brokerCounter `after`, in queue order, as packets. One not
   * sent yet whose Message Expiry has passed is left out and its entry removed [MQTT-3.3.2-5]
   * (counted as dropped, reason expired); a removal that fails leaves it to be skipped next time.
   */
  heldAfter(clientId: string, after: number): Array<PacketLike & { cmd: string }> {
    const out: Array<PacketLike & { cmd: string }> = [];
    const now = Date.now();
    for (const { key, value } of this.dbs.outgoing.getRange({ start: [clientId, after + 1] })) {
      if (key[0] !== clientId) break;
      if (value.expiresAt !== undefined && value.expiresAt <= now && value.messageId === undefined) {
        this.#hooks.dropped('expired', clientId, value.topic);
        this.outgoingDiscard(clientId, key[1]).catch(() => {});
        continue;
      }
      const packet = toPacket(key[1], value);
      out.push(value.cmd === 'publish' && value.messageId !== undefined ? { ...packet, dup: true } : packet);
    }
    return out;
  }

  /** The session's queue holds this message (sync). */
  holds(clientId: string, brokerCounter: number): boolean {
    return this.dbs.outgoing.doesExist([clientId, brokerCounter]);
  }

  /** The highest brokerCounter the last outgoingStream of this client handed out (0: none); forgets it. */
  takeStreamed(clientId: string): number {
    const n = this.#streamed.get(clientId) ?? 0;
    this.#streamed.delete(clientId);
    return n;
  }

  #release(clientId: string): void {
    const held = (this.#queued.get(clientId) ?? 1) - 1;
    if (held > 0) this.#queued.set(clientId, held);
    else this.#queued.delete(clientId);
  }

  getClientList(topic: string): Readable {
    const out: string[] = [];
    for (const { key } of this.dbs.subs.getRange()) if (key[1] === topic) out.push(key[0]);
    return Readable.from(out);
  }

  async destroy(): Promise<void> {
    await this.dbs.durable();
  }

  #outgoingValue(packet: PacketLike): OutgoingValue {
    return outgoingValue(packet, this.brokerId(), Date.now());
  }

  #byMessageId(
    clientId: string,
    messageId: number | undefined,
  ): { key: [string, number]; value: OutgoingValue } | undefined {
    if (messageId === undefined) return undefined;
    for (const entry of ofClient(this.dbs.outgoing, clientId)) {
      if (entry.value.messageId === messageId) return entry;
    }
    return undefined;
  }
}
