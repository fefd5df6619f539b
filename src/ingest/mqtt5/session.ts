/**
 * The session of one MQTT 5 connection (mqtt.sessions on): its subscriptions, what the broker
 * (aedes' mqemitter: the downlink, forwarded device publishes) sends it, retained messages on
 * SUBSCRIBE, and the Outbox (./outbox.ts) that keeps QoS 1/2 within the client's Receive Maximum.
 *
 * A stored session (Session Expiry > 0, or one resumed from the store) keeps its subscriptions in
 * sessions.subs, committed before SUBACK/UNSUBACK; aedes then queues QoS 1/2 copies for it in
 * sessions.outgoing (persistence.outgoingEnqueueCombi) before it emits them, and the Outbox sends
 * them from there. A clean session keeps everything in memory.
 *
 * Delivery of one message [MQTT-3.3.4-2]: one copy, however many of the session's filters match,
 * at the highest QoS they grant, capped at the message's [MQTT-3.8.4-8]; not to its publisher
 * through a No Local subscription [MQTT-3.8.3-3]; RETAIN as published only through a Retain As
 * Published subscription, else 0 [MQTT-3.3.1-12, MQTT-3.3.1-13]; every matching Subscription
 * Identifier attached [MQTT-3.3.4-3]. Retained messages on SUBSCRIBE follow Retain Handling:
 * 0 always, 1 only for a new subscription, 2 never [MQTT-3.3.1-9, MQTT-3.3.1-10, MQTT-3.3.1-11],
 * with RETAIN 1. A forwarded copy keeps the publish's properties (store.ts forwardedOf), a stored
 * copy too, and its Message Expiry as a time: the Outbox sends what is left of it, or nothing.
 */
import type { Aedes } from 'aedes';
import type { ISubscribePacket, IUnsubscribePacket, Packet } from 'mqtt-packet';
import type { RefusalReason } from '../metrics.ts';
import type { BrokerDownlink } from '../sessions/downlink.ts';
import { topicMatches } from '../sessions/filters.ts';
import type { LmdbPersistence } from '../sessions/persistence.ts';
import { forwardedOf, ofClient, type Sub } from '../sessions/store.ts';
import { RC } from './codes.ts';
import type { IncomingStore } from './inbound.ts';
import { Outbox, type OutboxDrop, type OutMessage } from './outbox.ts';
import { subscribeCode } from './subscribe5.ts';

interface Sub5 {
  topic: string;
  qos: 0 | 1 | 2;
  nl: boolean;
  rap: boolean;
  rh: 0 | 1 | 2;
  sid?: number;
}

/** What the broker's mqemitter hands a subscriber (aedes-packet). */
interface BrokerPacket {
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  brokerId?: string;
  brokerCounter?: number;
  clientId?: string;
  properties?: Record<string, unknown>;
  messageExpiry?: number;
}

export interface SessionDeps {
  /** The connection (persistence and the ACL know it by this object). */
  client: { id: string };
  /** Backed by the store (expiry > 0, or resumed): subscriptions and QoS 1/2 copies are stored. */
  stored: boolean;
  store: LmdbPersistence;
  broker: Aedes;
  downlink: BrokerDownlink | null;
  allowed(filter: string): boolean;
  refuse(reason: RefusalReason, fields: Record<string, unknown>): void;
  where(): Record<string, unknown>;
  write(packet: Packet): void;
  receiveMaximum: number;
  /** The client's Maximum Packet Size (CONNECT), undefined if it set none. */
  maximumPacketSize: number | undefined;
  maxQueued: number;
  dropped(reason: OutboxDrop, clientId: string, topic: string): void;
  failed(err: unknown): void;
}

export class Mqtt5Session {
  readonly #deps: SessionDeps;
  readonly #subs = new Map<string, Sub5>();
  readonly #outbox: Outbox;
  #closed = false;
  /** The packet last handled: mqemitter calls once per matching filter, in a row. */
  #last: BrokerPacket | null = null;
  readonly #onMessage = (packet: BrokerPacket, cb: () => void): void => {
    if (packet !== this.#last) {
      this.#last = packet;
      this.#deliver(packet);
    }
    cb();
  };

  constructor(deps: SessionDeps) {
    this.#deps = deps;
    const reserved: number[] = [];
    if (deps.stored) {
      for (const { value } of ofClient(deps.store.dbs.outgoing, deps.client.id))
        if (value.messageId !== undefined) reserved.push(value.messageId);
    }
    this.#outbox = new Outbox({
      write: deps.write,
      receiveMaximum: deps.receiveMaximum,
      maximumPacketSize: deps.maximumPacketSize,
      maxWaiting: deps.maxQueued,
      held: deps.stored ? this.#held() : null,
      reserved,
      dropped: (reason, topic) => deps.dropped(reason, deps.client.id, topic),
      failed: deps.failed,
    });
  }

  get stored(): boolean {
    return this.#deps.stored;
  }

  /** A resumed session: its stored subscriptions, checked against the ACL again (refused: counted, kept). */
  async restore(): Promise<void> {
    for (const sub of await this.#deps.store.subscriptionsByClient(this.#deps.client)) {
      if (!this.#deps.allowed(sub.topic)) {
        this.#deps.refuse('subscribe-denied', { ...this.#deps.where(), filter: sub.topic, resumed: true });
        continue;
      }
      await this.#listen(toSub5(sub));
    }
  }

  /** After CONNACK: what the store holds goes out (resends first, in order) [MQTT-4.4.0-1]. */
  start(): void {
    this.#outbox.pump();
  }

  matches(topic: string): boolean {
    for (const filter of this.#subs.keys()) if (topicMatches(filter, topic)) return true;
    return false;
  }

  async subscribe(p: ISubscribePacket): Promise<void> {
    const sid = p.properties?.subscriptionIdentifier as number | undefined;
    const codes: number[] = [];
    const granted: Array<{ sub: Sub5; existed: boolean }> = [];
    for (const s of p.subscriptions) {
      const { code, granted: ok } = subscribeCode(s.topic, s.qos, this.#deps.allowed);
      codes.push(code);
      if (code === RC.notAuthorized)
        this.#deps.refuse('subscribe-denied', { ...this.#deps.where(), filter: s.topic });
      if (!ok) continue;
      const sub: Sub5 = {
        topic: s.topic,
        qos: s.qos,
        nl: s.nl === true,
        rap: s.rap === true,
        rh: (s.rh ?? 0) as 0 | 1 | 2,
        ...(sid === undefined ? {} : { sid }),
      };
      granted.push({ sub, existed: this.#subs.has(s.topic) });
    }
    if (this.#deps.stored && granted.length > 0) {
      await this.#deps.store.addSubscriptions(
        this.#deps.client,
        granted.map(({ sub }) => ({ ...sub, ...(sub.sid === undefined ? {} : { sid: sub.sid }) })),
      );
    }
    for (const { sub } of granted) await this.#listen(sub);
    if (this.#closed) return;
    this.#deps.write({ cmd: 'suback', messageId: p.messageId as number, granted: codes } as Packet);
    for (const { sub, existed } of granted) {
      if (sub.rh === 0 || (sub.rh === 1 && !existed)) this.#retained(sub);
    }
    // A copy stored between the commit above and the listener: sent now, not at the next resume.
    this.#outbox.pump();
  }

  async unsubscribe(p: IUnsubscribePacket): Promise<void> {
    const codes = p.unsubscriptions.map((f) => (this.#subs.has(f) ? RC.success : RC.noSubscriptionExisted));
    const gone = p.unsubscriptions.filter((f) => this.#subs.has(f));
    if (this.#deps.stored && gone.length > 0)
      await this.#deps.store.removeSubscriptions(this.#deps.client, gone);
    for (const f of gone) await this.#unlisten(f);
    if (this.#closed) return;
    // [MQTT-3.10.4-4, MQTT-3.10.4-5]: UNSUBACK, 0x11 where there was no such subscription.
    this.#deps.write({ cmd: 'unsuback', messageId: p.messageId as number, granted: codes } as Packet);
  }

  acked(p: Packet): void {
    if (p.cmd !== 'puback' && p.cmd !== 'pubrec' && p.cmd !== 'pubcomp') return;
    this.#outbox.acked(p.cmd, p.messageId as number, (p as { reasonCode?: number }).reasonCode ?? 0);
  }

  /** The connection closed or was taken over: nothing more is sent; clean copies count as lost. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#outbox.close();
    for (const filter of this.#subs.keys())
      this.#deps.broker.unsubscribe(filter, this.#onMessage as never, () => {});
  }

  settled(): Promise<void> {
    return this.#outbox.settled();
  }

  /** A stored session's inbound QoS 2 ids (sessions.incoming); null for a clean session. */
  incoming(): IncomingStore | null {
    if (!this.#deps.stored) return null;
    const { store, client } = this.#deps;
    return {
      ids: () => [...ofClient(store.dbs.incoming, client.id)].map((e) => e.key[1]),
      put: (messageId, topic) => store.incomingStorePacket(client, { topic, messageId }),
      del: (messageId) => store.incomingDelPacket(client, { topic: '', messageId }),
    };
  }

  /** A store write of this session failed (logged). */
  failed(err: unknown): void {
    this.#deps.failed(err);
  }

  async #listen(sub: Sub5): Promise<void> {
    const fresh = !this.#subs.has(sub.topic);
    this.#subs.set(sub.topic, sub);
    if (!fresh || this.#closed) return;
    await new Promise<void>((resolve) =>
      this.#deps.broker.subscribe(sub.topic, this.#onMessage as never, () => resolve()),
    );
  }

  async #unlisten(filter: string): Promise<void> {
    this.#subs.delete(filter);
    await new Promise<void>((resolve) =>
      this.#deps.broker.unsubscribe(filter, this.#onMessage as never, () => resolve()),
    );
  }

  /** The subscriptions a message from `origin` (null: stored, origin unknown) reaches. */
  #eligible(topic: string, origin: string | null): Sub5[] {
    const out: Sub5[] = [];
    for (const sub of this.#subs.values()) {
      if (!topicMatches(sub.topic, topic)) continue;
      if (sub.nl && origin === this.#deps.client.id) continue;
      out.push(sub);
    }
    return out;
  }

  #deliver(packet: BrokerPacket): void {
    if (this.#closed) return;
    const eligible = this.#eligible(packet.topic, packet.clientId ?? null);
    if (eligible.length === 0) return;
    const qos = Math.min(packet.qos, Math.max(...eligible.map((s) => s.qos))) as 0 | 1 | 2;
    if (qos > 0 && this.#deps.stored) {
      // Stored for this session before the emit (aedes enqueueOffline): the Outbox sends it from
      // there. Not stored: its queue was full (counted and logged by the persistence).
      this.#outbox.pump();
      return;
    }
    const settle = this.#deps.downlink?.peerCopy(packet);
    const { props, expiresAt } = forwardedOf(packet, Date.now());
    this.#outbox.offer({
      topic: packet.topic,
      payload: packet.payload,
      qos,
      retain: packet.retain && eligible.some((s) => s.rap),
      properties: withSids(props, eligible),
      expiresAt,
      ...(settle === undefined ? {} : { settle }),
    });
  }

  #retained(sub: Sub5): void {
    for (const value of this.#deps.store.retained([sub.topic])) {
      this.#outbox.offer({
        topic: value.topic,
        payload: value.payload,
        qos: Math.min(value.qos, sub.qos) as 0 | 1 | 2,
        retain: true,
        properties: withSids(value.props, [sub]),
        expiresAt: value.expiresAt, // sent as what is left of it [MQTT-3.3.2-6]
      });
    }
  }

  #held() {
    const { store, client } = this.#deps;
    return {
      next: (skip: ReadonlySet<number>, limit: number): OutMessage[] => {
        const out: OutMessage[] = [];
        for (const { key, value } of ofClient(store.dbs.outgoing, client.id)) {
          if (out.length >= limit) break;
          if (skip.has(key[1])) continue;
          const eligible = this.#eligible(value.topic, null);
          const granted = eligible.length === 0 ? value.qos : Math.max(...eligible.map((s) => s.qos));
          out.push({
            topic: value.topic,
            payload: value.payload,
            qos: Math.max(1, Math.min(value.qos, granted)) as 1 | 2,
            retain: value.retain && eligible.some((s) => s.rap),
            properties: withSids(value.props, eligible),
            expiresAt: value.expiresAt,
            counter: key[1],
            ...(value.messageId === undefined ? {} : { messageId: value.messageId }),
            ...(value.cmd === 'pubrel' ? { pubrel: true } : {}),
          });
        }
        return out;
      },
      assigned: (counter: number, messageId: number) =>
        store.outgoingUpdate(client, {
          topic: '',
          brokerId: this.#deps.broker.id,
          brokerCounter: counter,
          messageId,
        }),
      released: (messageId: number) => store.outgoingUpdate(client, { cmd: 'pubrel', topic: '', messageId }),
      cleared: async (messageId: number) => {
        await store.outgoingClearMessageId(client, { messageId });
      },
      discard: (counter: number) => store.outgoingDiscard(client.id, counter),
    };
  }
}

function toSub5(sub: Sub): Sub5 {
  return {
    topic: sub.topic,
    qos: sub.qos as 0 | 1 | 2,
    nl: sub.nl === true,
    rap: sub.rap === true,
    rh: (sub.rh ?? 0) as 0 | 1 | 2,
    ...(sub.sid === undefined ? {} : { sid: sub.sid }),
  };
}

function withSids(
  props: Record<string, unknown> | undefined,
  subs: Sub5[],
): Record<string, unknown> | undefined {
  const sids = [...new Set(subs.flatMap((s) => (s.sid === undefined ? [] : [s.sid])))];
  if (sids.length === 0) return props;
  return { ...props, subscriptionIdentifier: sids.length === 1 ? sids[0] : sids };
}
