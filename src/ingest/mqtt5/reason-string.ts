/**
 * Reason Strings on what Outpost sends an MQTT 5 client, and the two CONNECT properties that bound
 * them (§3.1.2.11):
 *   Request Problem Information 0 (§3.1.2.11.7): no Reason String on any packet other than PUBLISH,
 *     CONNACK or DISCONNECT [MQTT-3.1.2-29]. CONNACK and DISCONNECT keep theirs (the spec allows it:
 *     they say why the connection ends); PUBACK, PUBREC and SUBACK go without. Absent means 1.
 *   Maximum Packet Size (§3.1.2.11.4): the server sends no packet larger than the client's
 *     [MQTT-3.1.2-24]; a Reason String that would make a packet larger is left out [MQTT-3.2.2-19,
 *     MQTT-3.4.2-2, MQTT-3.5.2-2, MQTT-3.9.2-1, MQTT-3.14.2-3] and the packet goes without it.
 *
 * The text is short and names the cause: the refusal reason (the `reason` label of
 * outpost_ingest_refusals_total, so a device's developer and the operator speak of the same thing),
 * then for Outpost's own checks a few words on what was wrong. Errors of the log itself (log-full,
 * append-failed) say only their label: their details stay in Outpost's log. The three login
 * refusals share one text, as they share CONNACK 0x86, so a Reason String never tells a guesser
 * whether a device id exists.
 */
import mqttPacket, { type Packet } from 'mqtt-packet';
import { isOutpostError } from '../../errors.ts';
import type { RefusalReason } from '../metrics.ts';

export interface ProblemPolicy {
  /** Request Problem Information from CONNECT: false only when the client sent 0. */
  requestProblemInformation: boolean;
  /** Maximum Packet Size from CONNECT, or undefined (no limit beyond the protocol's). */
  maximumPacketSize: number | undefined;
}

export const DEFAULT_POLICY: ProblemPolicy = {
  requestProblemInformation: true,
  maximumPacketSize: undefined,
};

const GENERATE = { protocolVersion: 5 } as const;
/** Reason Strings longer than this are cut: they are diagnostics, not payloads. */
const MAX_TEXT = 160;
/** The packets that may carry a Reason String when Request Problem Information is 0 [MQTT-3.1.2-29]. */
const ALWAYS = new Set(['connack', 'disconnect', 'publish']);
const LOGIN = 'bad user name, password or certificate';

const TEXT: Partial<Record<RefusalReason, string>> = {
  'unknown-device': LOGIN,
  'bad-credentials': LOGIN,
  'cert-mismatch': LOGIN,
  'rate-limited': 'rate-limited: over the device publish rate',
  'subscribe-denied': 'subscribe-denied: Outpost takes publishes only',
  'device-revoked': 'device-revoked: the device was disabled or removed',
  'keepalive-timeout': 'keepalive-timeout: nothing received for 1.5 x keepalive',
};

/** The Reason String of a refusal; `detail` (our own message) follows the label. */
export function reasonText(reason: RefusalReason, detail?: string): string {
  const text = TEXT[reason] ?? (detail === undefined || detail === reason ? reason : `${reason}: ${detail}`);
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 3)}...` : text;
}

/** The Reason String of a refused PUBLISH's error (from the pipeline). */
export function publishReasonText(reason: RefusalReason, err: Error): string {
  return reasonText(reason, isOutpostError(err, 'INGEST_REFUSED') ? err.message : undefined);
}

function withoutReason(packet: Packet): Packet {
  const { properties, ...rest } = packet as Packet & { properties?: Record<string, unknown> };
  if (properties?.['reasonString'] === undefined) return packet;
  const { reasonString: _, ...others } = properties;
  return (Object.keys(others).length === 0 ? rest : { ...rest, properties: others }) as Packet;
}

/** First bytes of the success acknowledgements (§3.4-3.7 fixed headers; PUBREL has flags 0010). */
const ACK_HEADER: Partial<Record<Packet['cmd'], number>> = {
  puback: 0x40,
  pubrec: 0x50,
  pubrel: 0x62,
  pubcomp: 0x70,
};

/**
 * A success acknowledgement without properties, in its 4-byte short form: Reason Code 0x00 and
 * Property Length are left out [MQTT-3.4.2-1] (what mqtt-packet writes too, without its stream
 * machinery: every PUBACK of a busy gateway takes this path).
 */
function shortAck(packet: Packet): Buffer | null {
  const p = packet as { reasonCode?: number; properties?: unknown; messageId?: number };
  const header = ACK_HEADER[packet.cmd];
  if (header === undefined || p.reasonCode !== 0 || p.properties !== undefined) return null;
  const id = p.messageId;
  if (typeof id !== 'number') return null;
  const out = Buffer.allocUnsafe(4);
  out[0] = header;
  out[1] = 2;
  out[2] = id >> 8;
  out[3] = id & 0xff;
  return out;
}

/** Encodes `packet` for this client: its Reason String kept only where the policy allows it. */
export function encodeForClient(packet: Packet, policy: ProblemPolicy): Buffer {
  const short = shortAck(packet);
  if (short !== null) return short;
  const reason = (packet as { properties?: { reasonString?: string } }).properties?.reasonString;
  if (reason === undefined) return mqttPacket.generate(packet, GENERATE);
  if (!policy.requestProblemInformation && !ALWAYS.has(packet.cmd)) {
    return mqttPacket.generate(withoutReason(packet), GENERATE);
  }
  const bytes = mqttPacket.generate(packet, GENERATE);
  const max = policy.maximumPacketSize;
  return max !== undefined && bytes.length > max
    ? mqttPacket.generate(withoutReason(packet), GENERATE)
    : bytes;
}
