/**
 * The server's side of QoS 1/2 PUBLISHes an MQTT 5 client sends: our Receive Maximum
 * [MQTT-3.3.4-7] (unacknowledged QoS 1/2 PUBLISHes, a QoS 2 one until PUBREL), the QoS 2 ids
 * answered PUBREC and awaiting PUBREL [MQTT-4.3.3-2], and the acknowledgements with the reason code
 * of the outcome (§3.4.2.1, §3.5.2.1, §3.7.2.1).
 *
 * A stored session (Session Expiry > 0, or resumed) keeps those QoS 2 ids in sessions.incoming, the
 * store 3.1.1 sessions use (store.ts): an id is committed and fsynced before its PUBREC, removed
 * before its PUBCOMP, and read back when the session resumes, so a PUBLISH resent after a reconnect
 * or a crash, before PUBREL, is acknowledged and not appended again [MQTT-4.3.3-2, MQTT-4.4.0-1].
 */
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { pubackCode, publishRefusal, RC } from './codes.ts';
import { publishReasonText } from './reason-string.ts';

/** A stored session's QoS 2 ids (sessions.incoming). */
export interface IncomingStore {
  /** The ids stored by earlier connections. */
  ids(): number[];
  /** Resolve once committed and fsynced. */
  put(messageId: number, topic: string): Promise<void>;
  del(messageId: number): Promise<void>;
}

export interface AckIo {
  /** Writes the packet (nothing once the connection is gone). */
  write(packet: Packet): void;
  failed(err: unknown): void;
}

export class Inbound {
  /** QoS 2 packet ids acknowledged with PUBREC, awaiting PUBREL [MQTT-4.3.3-2]. */
  readonly held = new Set<number>();
  #unacked = 0;
  #store: IncomingStore | null = null;
  /** A stored session's acknowledgements, in order, each after the store write it depends on. */
  #chain: Promise<void> = Promise.resolve();

  /** The session is stored: its ids from earlier connections are held again, new ones stored. */
  persist(store: IncomingStore): void {
    this.#store = store;
    for (const id of store.ids()) {
      if (this.held.has(id)) continue;
      this.held.add(id);
      this.#unacked++;
    }
  }

  /**
   * Writes `ack`: at once, or for a stored session after the earlier ones and after `before` (its
   * store write). A failed store write sends no acknowledgement (io.failed; the client resends).
   */
  respond(ack: Packet, before: Promise<void> | null, io: AckIo): void {
    if (this.#store === null) {
      io.write(ack);
      return;
    }
    before?.catch(() => {}); // awaited below, in turn
    const prior = this.#chain;
    this.#chain = (async () => {
      await prior;
      try {
        await before;
      } catch (err) {
        io.failed(err);
        return;
      }
      io.write(ack);
    })();
  }

  /** Resolves once every acknowledgement handed to `respond` so far is written (or given up). */
  written(): Promise<void> {
    return this.#chain;
  }

  /** A resend of a QoS 2 PUBLISH answered PUBREC: not appended, not counted again. */
  isHeldDup(packet: IPublishPacket): boolean {
    return packet.qos === 2 && this.held.has(packet.messageId as number);
  }

  /** Counts a new QoS 1/2 PUBLISH; false when it is one more than `max` allows. */
  admit(packet: IPublishPacket, max: number): boolean {
    if (packet.qos === 0 || this.isHeldDup(packet)) return true;
    return ++this.#unacked <= max;
  }

  /** PUBACK / PUBREC for the outcome (null: none for QoS 0). */
  ack(packet: IPublishPacket, err: Error | null): Packet | null {
    if (packet.qos === 0) return null;
    const messageId = packet.messageId as number;
    const reasonCode = err === null ? RC.success : pubackCode(err);
    const properties =
      err === null ? undefined : { reasonString: publishReasonText(publishRefusal(err), err) };
    const ack = { messageId, reasonCode, ...(properties ? { properties } : {}) };
    if (packet.qos === 1) {
      this.#unacked--;
      return { cmd: 'puback', ...ack };
    }
    // A PUBREC with an error code ends the exchange (§4.3.3); a success waits for PUBREL.
    if (reasonCode >= RC.unspecified) {
      if (!this.held.has(messageId)) this.#unacked--;
    } else this.held.add(messageId);
    return { cmd: 'pubrec', ...ack };
  }

  /** What must be durable before `ack` goes out: a new QoS 2 id of a stored session. */
  before(packet: IPublishPacket, ack: Packet | null, dupOfHeld: boolean): Promise<void> | null {
    const code = (ack as { reasonCode?: number } | null)?.reasonCode ?? RC.unspecified;
    if (this.#store === null || ack?.cmd !== 'pubrec' || code >= RC.unspecified || dupOfHeld) return null;
    return this.#store.put(packet.messageId as number, packet.topic);
  }

  /** §3.7.2.1: PUBCOMP, with 0x92 for an id we do not hold; a stored id is removed first. */
  pubrel(messageId: number): { pubcomp: Packet; before: Promise<void> | null } {
    const known = this.held.delete(messageId);
    if (known) this.#unacked--;
    const pubcomp: Packet = {
      cmd: 'pubcomp',
      messageId,
      reasonCode: known ? RC.success : RC.packetIdNotFound,
    };
    return { pubcomp, before: known && this.#store !== null ? this.#store.del(messageId) : null };
  }
}
