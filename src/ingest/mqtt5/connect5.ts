/**
 * MQTT 5 CONNECT → CONNACK, as named steps, on the same hooks as 3.1.1 (src/ingest/connect.ts):
 *   enhanced auth   an Authentication Method is refused: CONNACK 0x8C (`auth-method`) [MQTT-4.12.0-1]
 *   client id       empty: Outpost assigns one, sent as Assigned Client Identifier [MQTT-3.2.2-16]
 *   keepalive       0 while mqtt.limits.requireKeepalive, or above maxKeepaliveSeconds: clamped and
 *                   sent as Server Keep Alive, which the client must use [MQTT-3.2.2-21]
 *   will            Payload Format Indicator 1 with a non-UTF-8 will payload: CONNACK 0x99
 *   admission       preConnect (stopping, connection limit, log full, client id length)
 *   authentication  authenticate (src/devices; the will checked as a PUBLISH on its topic)
 *   takeover        an open connection with the same client id is closed (DISCONNECT 0x8E)
 * A refusal is a CONNACK with the reason code of src/ingest/mqtt5/codes.ts and a Reason String
 * (./reason-string.ts), then the connection closes [MQTT-3.2.2-7]. With mqtt.sessions off no session
 * is kept: Session Present is always 0 and a requested Session Expiry Interval is answered with 0
 * (the session ends with the connection) [MQTT-3.2.2-3], and CONNACK says no wildcard subscriptions
 * and no Subscription Identifiers. With sessions on, ./session-manager.ts fills Session Present and
 * the Session Expiry Interval, and both are available; shared subscriptions never are.
 *
 * The will, once CONNECT is accepted, is kept, delayed and published by ./wills.ts.
 */
import { randomUUID } from 'node:crypto';
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import type { Config } from '../../config/index.ts';
import type { ConnackError, connectHooks } from '../connect.ts';
import type { RefusalReason } from '../metrics.ts';
import { maxRemainingLength } from '../wire.ts';
import { connackCode } from './codes.ts';
import { payloadProblem, TOPIC_ALIAS_MAXIMUM } from './properties.ts';
import { reasonText } from './reason-string.ts';

type Limits = Config['mqtt']['limits'];
type Hooks = ReturnType<typeof connectHooks>;

/** The connection as the CONNECT steps see it (Mqtt5Connection). */
export interface Connecting {
  id: string;
  closed: boolean;
  conn: object;
  _will?: { topic: string; payload: Buffer | string };
}

export type ConnectOutcome =
  | { ok: true; connack: IConnackPacket; keepaliveSeconds: number }
  | { ok: false; connack: IConnackPacket };

/** The largest Receive Maximum MQTT 5 can say (§3.2.2.3.3, a two-byte integer). */
const MAX_RECEIVE_MAXIMUM = 65535;

function refused(reason: RefusalReason | null): ConnectOutcome {
  const reasonCode = connackCode(reason ?? 'protocol-error');
  const properties = reason === null ? {} : { properties: { reasonString: reasonText(reason) } };
  return { ok: false, connack: { cmd: 'connack', sessionPresent: false, reasonCode, ...properties } };
}

/** The keepalive the connection uses: the client's, or ours when we clamp it (Server Keep Alive). */
function keepaliveOf(packet: IConnectPacket, limits: Limits): { seconds: number; clamped: boolean } {
  const asked = packet.keepalive ?? 0;
  if (asked === 0 && limits.requireKeepalive) return { seconds: limits.maxKeepaliveSeconds, clamped: true };
  if (asked > limits.maxKeepaliveSeconds) return { seconds: limits.maxKeepaliveSeconds, clamped: true };
  return { seconds: asked, clamped: false };
}

function acceptedConnack(
  sessions: boolean,
  limits: Limits,
  assigned: string | null,
  keepalive: { seconds: number; clamped: boolean },
  packet: IConnectPacket,
): IConnackPacket {
  return {
    cmd: 'connack',
    sessionPresent: false,
    reasonCode: 0,
    properties: {
      receiveMaximum: Math.min(limits.maxInflightPerClient, MAX_RECEIVE_MAXIMUM),
      maximumPacketSize: maxRemainingLength(limits),
      topicAliasMaximum: TOPIC_ALIAS_MAXIMUM,
      retainAvailable: true,
      wildcardSubscriptionAvailable: sessions,
      subscriptionIdentifiersAvailable: sessions,
      sharedSubscriptionAvailable: false,
      ...(assigned === null ? {} : { assignedClientIdentifier: assigned }),
      ...(keepalive.clamped ? { serverKeepAlive: keepalive.seconds } : {}),
      ...((packet.properties?.sessionExpiryInterval ?? 0) > 0 ? { sessionExpiryInterval: 0 } : {}),
    },
  };
}

export interface Connect5Deps {
  hooks: Hooks;
  limits: Limits;
  refuse: (reason: RefusalReason, fields: Record<string, unknown>) => void;
  where: Record<string, unknown>;
  /** mqtt.sessions on: subscriptions (wildcards, identifiers) are available. */
  sessions: boolean;
}

/** Runs the CONNECT steps for `conn` (whose `id` it sets) and returns the CONNACK to send. */
export async function connect5(
  conn: Connecting,
  packet: IConnectPacket,
  deps: Connect5Deps,
): Promise<ConnectOutcome> {
  const { hooks, limits, refuse } = deps;
  const fields = { ...deps.where, clientId: packet.clientId };
  if (packet.properties?.authenticationMethod !== undefined) {
    refuse('auth-method', { ...fields, authenticationMethod: packet.properties.authenticationMethod });
    return refused('auth-method');
  }
  const assigned = packet.clientId.length === 0 ? `outpost-${randomUUID()}` : null;
  conn.id = assigned ?? packet.clientId;
  if (packet.will) {
    conn._will = packet.will;
    if (payloadProblem(packet.will.properties, packet.will.payload) !== null) {
      refuse('payload-format', { ...fields, will: packet.will.topic });
      return refused('payload-format');
    }
  }
  const keepalive = keepaliveOf(packet, limits);
  const admitted = await new Promise<boolean>((resolve) =>
    hooks.preConnect(
      conn as never,
      { clientId: conn.id, keepalive: keepalive.seconds, clean: true, protocolVersion: 5 },
      (err) => resolve(err === null),
    ),
  );
  if (!admitted) return refused(null); // counted by preConnect
  const refusal = await new Promise<ConnackError | null>((resolve) =>
    hooks.authenticate(conn as never, packet.username, packet.password, (err) =>
      resolve(err as ConnackError | null),
    ),
  );
  if (refusal !== null) return refused(refusal.reason); // counted by authenticate
  return {
    ok: true,
    connack: acceptedConnack(deps.sessions, limits, assigned, keepalive, packet),
    keepaliveSeconds: keepalive.seconds,
  };
}
