/**
 * MQTT 5 PUBLISH properties (§3.3.2.3) → record headers, and the client → server Topic Alias map.
 *
 * Headers (all values are the property's bytes, UTF-8 for strings):
 *   mqtt.content.type         Content Type (§3.3.2.3.9)
 *   mqtt.payload.format       "1" (UTF-8, checked: (§3.3.2.3.2), 0x99 if not) or "0" when sent
 *   mqtt.response.topic       Response Topic (§3.3.2.3.5)
 *   mqtt.correlation.data     Correlation Data, binary as sent (§3.3.2.3.6)
 *   mqtt.message.expiry       Message Expiry Interval in seconds, decimal, as received (§3.3.2.3.3);
 *                             the log keeps the record whatever the expiry: consumers decide
 *   mqtt.user.<name>          User Property (§3.3.2.3.7), in the order received; the n-th repeat of a
 *                             name (n ≥ 2) is `mqtt.user.<name>#<n>` [MQTT-3.3.2-18: order kept]
 *
 * mqtt-packet hands user properties over as an object (name → value or values, in first-seen order
 * of the names); a name that looks like an array index ("1") sorts first in a JS object, so across
 * such names the original interleaving is lost. Values of one name keep their order.
 */
import { isUtf8 } from 'node:buffer';
import type { IConnectPacket } from 'mqtt-packet';
import type { Headers } from '../../log/index.ts';
import type { RefusalReason } from '../metrics.ts';
import type { PublishPacketLike } from '../types.ts';

export interface PublishProperties {
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  topicAlias?: number;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Record<string, string | string[]>;
  contentType?: string;
}

/** Most topic aliases a client may set up on one connection (CONNACK Topic Alias Maximum). */
export const TOPIC_ALIAS_MAXIMUM = 32;

export const USER_PREFIX = 'mqtt.user.';

/** The headers a PUBLISH's (or will's) properties add, or undefined when there are none. */
export function propertyHeaders(p: PublishProperties | undefined): Headers | undefined {
  if (p === undefined) return undefined;
  const h: Headers = {};
  if (p.contentType !== undefined) h['mqtt.content.type'] = Buffer.from(p.contentType);
  if (p.payloadFormatIndicator !== undefined)
    h['mqtt.payload.format'] = Buffer.from(p.payloadFormatIndicator ? '1' : '0');
  if (p.responseTopic !== undefined) h['mqtt.response.topic'] = Buffer.from(p.responseTopic);
  if (p.correlationData !== undefined) h['mqtt.correlation.data'] = Buffer.from(p.correlationData);
  if (p.messageExpiryInterval !== undefined)
    h['mqtt.message.expiry'] = Buffer.from(String(p.messageExpiryInterval));
  for (const [name, value] of Object.entries(p.userProperties ?? {})) {
    const values = Array.isArray(value) ? value : [value];
    values.forEach((v, i) => {
      h[`${USER_PREFIX}${name}${i === 0 ? '' : `#${i + 1}`}`] = Buffer.from(v);
    });
  }
  return Object.keys(h).length === 0 ? undefined : h;
}

/** 'payload-format' when the payload says UTF-8 and is not (§3.3.2.3.2); null otherwise. */
export function payloadProblem(
  p: PublishProperties | undefined,
  payload: Buffer | string,
): RefusalReason | null {
  if (p?.payloadFormatIndicator !== true || typeof payload === 'string') return null;
  return isUtf8(payload) ? null : 'payload-format';
}

/**
 * Resolves a PUBLISH's topic through the connection's aliases (§3.3.2.3.4): a topic with an alias
 * sets it, an empty topic uses it. Returns the topic, or the refusal: an alias of 0 or above our
 * maximum [MQTT-3.3.2-8, MQTT-3.3.2-9], or an empty topic with an alias never set (a protocol error).
 */
export function resolveAlias(
  aliases: Map<number, string>,
  topic: string,
  p: PublishProperties | undefined,
): string | RefusalReason {
  const alias = p?.topicAlias;
  if (alias === undefined) return topic;
  if (alias === 0 || alias > TOPIC_ALIAS_MAXIMUM) return 'topic-alias-invalid';
  if (topic.length > 0) {
    aliases.set(alias, topic);
    return topic;
  }
  return aliases.get(alias) ?? 'protocol-error';
}

/**
 * Readies a PUBLISH for the pipeline, on the packet: its topic through the aliases, its properties
 * as headers, and the payload check (`invalid`). Returns the violation of a bad alias, or null.
 */
export function preparePublish(
  aliases: Map<number, string>,
  packet: PublishPacketLike & { properties?: PublishProperties },
): 'topic-alias-invalid' | 'protocol-error' | null {
  const topic = resolveAlias(aliases, packet.topic, packet.properties);
  if (topic === 'topic-alias-invalid' || topic === 'protocol-error') return topic;
  packet.topic = topic;
  const extra = propertyHeaders(packet.properties);
  if (extra !== undefined) packet.extraHeaders = extra;
  const problem = payloadProblem(packet.properties, packet.payload);
  if (problem !== null) packet.invalid = problem;
  return null;
}

/** The will as the PUBLISH the pipeline appends once the connection is gone [MQTT-3.1.2-8]. */
export function willPacket(will: NonNullable<IConnectPacket['will']>): PublishPacketLike {
  const packet: PublishPacketLike = {
    topic: will.topic,
    payload: will.payload,
    qos: will.qos ?? 0,
    retain: will.retain ?? false,
    isWill: true,
  };
  const extra = propertyHeaders(will.properties);
  if (extra !== undefined) packet.extraHeaders = extra;
  // Forwarded to subscribers with its properties, but the Will Delay Interval (not a PUBLISH one).
  const { willDelayInterval: _, ...props } = will.properties ?? {};
  if (Object.keys(props).length > 0) (packet as { properties?: object }).properties = props;
  return packet;
}
