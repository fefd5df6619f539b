/**
 * The server's side of QoS 1/2 PUBLISHes an MQTT 5 client sends: our Receive Maximum
 * [MQTT-3.3.4-7] (unacknowledged QoS 1/2 PUBLISHes, a QoS 2 one until PUBREL), the QoS 2 ids
 * answered PUBREC and awaiting PUBREL [MQTT-4.3.3-2], and the acknowledgements with the reason code
 * of the outcome (§3.4.2.1, §3.5.2.1, §3.7.2.1).
 */
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { pubackCode, publishRefusal, RC } from './codes.ts';
import { publishReasonText } from './reason-string.ts';

export class Inbound {
  /** QoS 2 packet ids acknowledged with PUBREC, awaiting PUBREL [MQTT-4.3.3-2]. */
  readonly held = new Set<number>();
  #unacked = 0;

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

  /** §3.7.2.1: PUBCOMP, with 0x92 for an id we do not hold. */
  pubrel(messageId: number): Packet {
    const known = this.held.delete(messageId);
    if (known) this.#unacked--;
    return { cmd: 'pubcomp', messageId, reasonCode: known ? RC.success : RC.packetIdNotFound };
  }
}
