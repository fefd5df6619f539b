/**
 * Steps 1-3 of the publish pipeline (topic limits, route, ACL), step 4 (the record and its headers),
 * and the keepalive refresh. Steps 1-3 depend only on (topic, settings, identity), so their result
 * is cached per connection.
 */
import type { Headers } from '../log/index.ts';
import type { RefusalReason } from './metrics.ts';
import { aclAllows, matchRoute, renderKey } from './routing.ts';
import type {
  Admitted,
  AedesClientLike,
  Callback,
  ClientState,
  PipelineSettings,
  PublishPacketLike,
  Resolved,
} from './types.ts';

const ROUTE_CACHE_SIZE = 64;
export const REFUSAL_TEXT: Partial<Record<RefusalReason, string>> = {
  'topic-too-long': 'topic too long',
  'topic-too-many-levels': 'topic has too many levels',
  unrouted: 'no route matches the topic',
  unauthorized: 'device may not publish to this topic',
  'payload-format': 'payload is not UTF-8 though its Payload Format Indicator says so',
};

/**
 * Steps 1-3 of the pipeline: topic limits, route, ACL. They depend only on (topic, settings, identity),
 * so the result is cached per connection; the cache is dropped on reload (`generation`) or when the
 * connection's identity changes.
 */
export function resolveTopic(
  state: ClientState | null,
  topic: string,
  settings: PipelineSettings,
  generation: number,
): Resolved | RefusalReason {
  if (state && state.routeGeneration === generation) {
    const hit = state.routeCache.get(topic);
    if (hit !== undefined) return hit;
  } else if (state) {
    state.routeCache = new Map();
    state.routeGeneration = generation;
  }
  const result = resolveUncached(state, topic, settings);
  if (state) {
    if (state.routeCache.size >= ROUTE_CACHE_SIZE) state.routeCache.clear();
    state.routeCache.set(topic, result);
  }
  return result;
}

function resolveUncached(
  state: ClientState | null,
  topic: string,
  settings: PipelineSettings,
): Resolved | RefusalReason {
  const { limits, routes, unrouted } = settings;
  // Step 1: topic limits.
  if (topic.length > limits.maxTopicLength) return 'topic-too-long';
  if (countLevels(topic) > limits.maxTopicLevels) return 'topic-too-many-levels';
  // Step 2: route (first match wins) or collect as unrouted.
  const match = matchRoute(routes, topic);
  const logTopic = match ? match.route.topic : unrouted;
  if (logTopic === null) return 'unrouted';
  // Step 3: {deviceId} ACL (wills of vanished clients carry the identity they connected with).
  const identity = state?.identity ?? { deviceId: null, anonymous: true };
  if (!aclAllows(match, topic, identity, state?.overrides ?? [])) return 'unauthorized';
  const key = match ? renderKey(match.route, match.captures) : null;
  return {
    logTopic,
    key: key === null ? null : Buffer.from(key),
    topicBuf: Buffer.from(topic),
    headerSets: [],
  };
}

const QOS_BUF = [Buffer.from('0'), Buffer.from('1'), Buffer.from('2')];
const TRUE_BUF = Buffer.from('true');
const FALSE_BUF = Buffer.from('false');

/**
 * Headers of a record: `mqtt.topic`, `mqtt.qos`, `mqtt.retain`, `client.id` and `device.id` (absent
 * for anonymous clients). For a live connection the set is cached on its resolved topic, so a
 * steady publisher allocates no headers at all. `clientId` is used when there is no state (a will).
 */
function headersFor(
  resolved: Resolved,
  state: ClientState | null,
  clientId: string | undefined,
  qos: 0 | 1 | 2,
  retain: boolean,
  willDeviceId: string | undefined,
): Headers {
  const slot = qos * 2 + (retain ? 1 : 0);
  if (state !== null) {
    const cached = resolved.headerSets[slot];
    if (cached !== undefined) return cached;
  }
  const headers: Headers = {
    'mqtt.topic': resolved.topicBuf,
    'mqtt.qos': QOS_BUF[qos] as Buffer,
    'mqtt.retain': retain ? TRUE_BUF : FALSE_BUF,
  };
  if (state) headers['client.id'] = state.clientIdBuf;
  else if (clientId) headers['client.id'] = Buffer.from(clientId);
  if (state?.deviceIdBuf) headers['device.id'] = state.deviceIdBuf;
  else if (state === null && willDeviceId !== undefined) headers['device.id'] = Buffer.from(willDeviceId);
  if (state !== null) resolved.headerSets[slot] = headers;
  return headers;
}

/** Step 4: the record of an admitted PUBLISH (the FIFO entry itself), not yet bound to its state. */
export function admittedRecord(
  resolved: Resolved,
  state: ClientState | null,
  client: AedesClientLike | null,
  packet: PublishPacketLike,
  payload: Buffer,
  received: number,
  cb: Callback,
): Admitted {
  const base = headersFor(resolved, state, client?.id, packet.qos, packet.retain, packet.willDeviceId);
  const headers = packet.extraHeaders === undefined ? base : { ...base, ...packet.extraHeaders };
  return {
    topic: resolved.logTopic,
    key: resolved.key,
    value: payload,
    headers,
    qos: packet.qos,
    bytes: payload.length,
    received,
    cb,
    done: false,
    err: null,
    // [MQTT-4.3.3-2]: a DUP QoS 2 PUBLISH whose id aedes still holds (PUBREC sent, no PUBREL yet) was
    // appended already. Scope: this connection (aedes keeps the id set per connection).
    skip:
      packet.qos === 2 &&
      packet.messageId !== undefined &&
      client?._inboundInflight?.has(packet.messageId) === true,
    refusal: false,
    rejected: false,
    clientId: client?.id,
    state: null,
  };
}

function countLevels(topic: string): number {
  let n = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 47) n++;
  return n;
}

/** aedes re-arms this timer on every packet it handles; we re-arm it while we hold the client's packets. */
export function refreshKeepalive(client: AedesClientLike): void {
  if (!client.closed && (client._keepaliveInterval ?? -1) > 0 && client._keepaliveTimer) {
    client._keepaliveTimer.refresh();
  }
}
