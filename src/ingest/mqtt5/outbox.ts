/**
 * What the server sends an MQTT 5 subscriber at QoS 1/2, under the client's Receive Maximum
 * (§4.9): at most that many PUBLISHes unacknowledged (until PUBACK, or PUBCOMP) [MQTT-4.9.0-2,
 * MQTT-3.3.4-9]; QoS 0 is not counted and goes at once [MQTT-4.9.0-3].
 *
 * Two sources wait for a free slot:
 *   held     a persistent session's stored copies (sessions.outgoing), read in key order (skipping
 *            those sent and not yet removed); nothing else is kept in memory for them, they stay
 *            in LMDB until acknowledged (so a copy committed out of counter order is not skipped).
 *            On resume, a copy stored with a packet id was sent before: it goes again with DUP 1
 *            and that id, a stored PUBREL as PUBREL [MQTT-4.4.0-1].
 *   waiting  copies not stored (clean sessions, retained messages on subscribe): in memory,
 *            bounded by mqtt.sessions.maxQueuedPerSession; beyond it a copy is dropped (counted).
 * A held copy's packet id is committed before the PUBLISH is written, its PUBREL state before the
 * PUBREL, and it is removed at PUBACK/PUBCOMP; those steps run in order (one promise chain).
 * A PUBACK/PUBREC with a reason code >= 0x80 ends the exchange: the message counts as acknowledged
 * [MQTT-4.4.0-2]. A PUBREC for an id not in flight gets PUBREL 0x92 (§3.6.2.1).
 *
 * When a copy's turn comes (not for a resend, whose onward delivery has started):
 *   expired     its Message Expiry has passed: it is not sent and a stored one is removed
 *               [MQTT-3.3.2-5]; otherwise it carries what is left of the interval [MQTT-3.3.2-6];
 *   too-large   over the client's Maximum Packet Size (a resend too): not sent, and the exchange
 *               counts as done [MQTT-3.1.2-24, MQTT-3.1.2-25].
 * Both are counted (outpost_mqtt_session_dropped_total{reason}) and logged through `dropped`.
 */
import mqttPacket, { type Packet } from 'mqtt-packet';
import type { PeerOutcome } from '../sessions/downlink.ts';
import { secondsLeft } from '../sessions/store.ts';
import { RC } from './codes.ts';

export interface OutMessage {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  properties?: Record<string, unknown> | undefined;
  /** A stored copy's brokerCounter (its key in sessions.outgoing). */
  counter?: number;
  /** A stored copy sent before with this id (resume). */
  messageId?: number;
  /** A stored copy that had reached PUBREL. */
  pubrel?: boolean;
  /** When its Message Expiry ends (ms since the epoch); undefined: never. */
  expiresAt?: number | undefined;
  /** Settles the downlink's wait for a clean session's copy. */
  settle?: (outcome: PeerOutcome) => void;
}

export interface HeldStore {
  /** Stored copies whose brokerCounter is not in `skip`, in key order, at most `limit`. */
  next(skip: ReadonlySet<number>, limit: number): OutMessage[];
  assigned(counter: number, messageId: number): Promise<void>;
  released(messageId: number): Promise<void>;
  cleared(messageId: number): Promise<void>;
  /** A stored copy not sent (expired, too large): its entry goes. */
  discard(counter: number): Promise<void>;
}

export type OutboxDrop = 'queue-full' | 'expired' | 'too-large';

export interface OutboxDeps {
  write(packet: Packet): void;
  receiveMaximum: number;
  /** The client's Maximum Packet Size (CONNECT), undefined if it set none. */
  maximumPacketSize: number | undefined;
  maxWaiting: number;
  /** A persistent session's store; null for a clean session. */
  held: HeldStore | null;
  /** Packet ids of stored copies sent before (resume): not handed out to new copies. */
  reserved: Iterable<number>;
  dropped(reason: OutboxDrop, topic: string): void;
  failed(err: unknown): void;
  /** The clock (ms since the epoch); Date.now by default. */
  now?: () => number;
}

interface Flight {
  msg: OutMessage;
  stage: 'publish' | 'pubrel';
}

export class Outbox {
  readonly #deps: OutboxDeps;
  readonly #flights = new Map<number, Flight>();
  readonly #waiting: OutMessage[] = [];
  readonly #reserved: Set<number>;
  /** Stored copies sent on this connection whose removal (PUBACK/PUBCOMP) is not yet committed. */
  readonly #sent = new Set<number>();
  #nextId = 1;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(deps: OutboxDeps) {
    this.#deps = deps;
    this.#reserved = new Set(deps.reserved);
  }

  get inFlight(): number {
    return this.#flights.size;
  }

  /** A copy not stored: QoS 0 now, QoS 1/2 when a slot is free (or waiting, bounded). */
  offer(msg: OutMessage): void {
    if (this.#closed) {
      msg.settle?.('lost');
      return;
    }
    if (msg.qos === 0) {
      const packet = this.#ready(msg, undefined, false);
      if (packet === null) return;
      this.#run(() => this.#deps.write(packet));
      msg.settle?.('delivered');
      return;
    }
    if (this.#room() > 0 && this.#waiting.length === 0) {
      this.#send(msg);
      return;
    }
    if (this.#waiting.length >= this.#deps.maxWaiting) {
      this.#deps.dropped('queue-full', msg.topic);
      msg.settle?.('dropped');
      return;
    }
    this.#waiting.push(msg);
  }

  /** Sends what fits: waiting copies first, then stored ones not sent yet, in key order. */
  pump(): void {
    while (!this.#closed && this.#room() > 0 && this.#waiting.length > 0) {
      this.#send(this.#waiting.shift() as OutMessage);
    }
    const held = this.#deps.held;
    if (held === null || this.#closed || this.#room() <= 0) return;
    for (const msg of held.next(this.#sent, this.#room())) {
      this.#sent.add(msg.counter as number);
      if (msg.pubrel === true && msg.messageId !== undefined) {
        this.#reserved.delete(msg.messageId);
        this.#flights.set(msg.messageId, { msg, stage: 'pubrel' });
        this.#run(() => this.#deps.write({ cmd: 'pubrel', messageId: msg.messageId as number }));
      } else this.#send(msg);
    }
  }

  /** PUBACK, PUBREC or PUBCOMP from the client. */
  acked(cmd: 'puback' | 'pubrec' | 'pubcomp', messageId: number, reasonCode: number): void {
    const flight = this.#flights.get(messageId);
    if (cmd === 'pubrec' && (flight === undefined || flight.msg.qos !== 2)) {
      this.#run(() => this.#deps.write({ cmd: 'pubrel', messageId, reasonCode: RC.packetIdNotFound }));
      return;
    }
    if (flight === undefined) return; // not ours (or a duplicate acknowledgement): nothing to do
    const held = this.#deps.held !== null && flight.msg.counter !== undefined;
    if (cmd === 'pubrec' && reasonCode < RC.unspecified && flight.stage === 'publish') {
      flight.stage = 'pubrel';
      this.#run(async () => {
        if (held) await this.#deps.held?.released(messageId);
        this.#deps.write({ cmd: 'pubrel', messageId });
      });
      return;
    }
    this.#flights.delete(messageId);
    if (held) {
      const counter = flight.msg.counter as number;
      this.#run(async () => {
        await this.#deps.held?.cleared(messageId);
        this.#sent.delete(counter);
      });
    }
    flight.msg.settle?.('delivered');
    this.pump();
  }

  /** The connection closed: what a clean session had not got acknowledged is lost. */
  close(): void {
    this.#closed = true;
    for (const { msg } of this.#flights.values()) msg.settle?.('lost');
    for (const msg of this.#waiting.splice(0)) msg.settle?.('lost');
    this.#flights.clear();
  }

  /** Resolves once the store writes so far are done. */
  settled(): Promise<void> {
    return this.#chain;
  }

  #room(): number {
    return this.#deps.receiveMaximum - this.#flights.size;
  }

  #send(msg: OutMessage): void {
    const resend = msg.messageId !== undefined;
    const id = msg.messageId ?? this.#allocate();
    this.#reserved.delete(id);
    const packet = this.#ready(msg, id, resend);
    if (packet === null) return;
    this.#flights.set(id, { msg, stage: 'publish' });
    const held = this.#deps.held;
    this.#run(async () => {
      if (held !== null && msg.counter !== undefined && !resend) await held.assigned(msg.counter, id);
      this.#deps.write(packet);
    });
  }

  /** The PUBLISH of `msg`, or null if it is not to be sent (expired, too large: then discarded). */
  #ready(msg: OutMessage, messageId: number | undefined, resend: boolean): Packet | null {
    let properties = msg.properties;
    if (msg.expiresAt !== undefined) {
      const now = (this.#deps.now ?? Date.now)();
      if (msg.expiresAt <= now && !resend) return this.#discard(msg, 'expired');
      properties = { ...properties, messageExpiryInterval: secondsLeft(msg.expiresAt, now) };
    }
    const packet = publishOf({ ...msg, properties }, messageId, resend);
    const max = this.#deps.maximumPacketSize;
    if (max !== undefined && mqttPacket.generate(packet, GENERATE).length > max) {
      return this.#discard(msg, 'too-large');
    }
    return packet;
  }

  /** Not sent, as if it had been [MQTT-3.1.2-25]: counted, settled, a stored copy removed. */
  #discard(msg: OutMessage, reason: 'expired' | 'too-large'): null {
    this.#deps.dropped(reason, msg.topic);
    msg.settle?.('dropped');
    const { held } = this.#deps;
    const counter = msg.counter;
    if (held !== null && counter !== undefined) {
      this.#run(async () => {
        await held.discard(counter);
        this.#sent.delete(counter);
        this.pump(); // its slot was never taken, but the batch `next` read was cut by one
      });
    }
    return null;
  }

  #allocate(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.#nextId;
      this.#nextId = id >= 65535 ? 1 : id + 1;
      if (!this.#flights.has(id) && !this.#reserved.has(id)) return id;
    }
    throw new Error('no free packet id'); // unreachable: flights are bounded by Receive Maximum
  }

  /** Runs `step` after the previous ones (store writes, then the packet they make durable). */
  #run(step: () => void | Promise<void>): void {
    this.#chain = this.#chain.then(step).catch((err: unknown) => this.#deps.failed(err));
  }
}

const GENERATE = { protocolVersion: 5 } as const;

function publishOf(msg: OutMessage, messageId: number | undefined, dup: boolean): Packet {
  return {
    cmd: 'publish',
    topic: msg.topic,
    payload: msg.payload,
    qos: msg.qos,
    retain: msg.retain,
    dup,
    ...(messageId === undefined ? {} : { messageId }),
    ...(msg.properties === undefined ? {} : { properties: msg.properties }),
  } as Packet;
}
