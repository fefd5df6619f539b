/**
 * MQTT 5 reason codes (MQTT 5 §2.4) Outpost sends, and which refusal gets which.
 *
 * CONNACK (§3.2.2.2): the refusal reasons of src/ingest/connect.ts, one code each.
 * PUBACK / PUBREC (§3.4.2.1, §3.5.2.1): a refused PUBLISH is answered, in FIFO order, with a code
 * instead of closing the connection [MQTT-3.4.2-1]; QoS 0 has no acknowledgement, so it is only
 * counted and logged.
 * DISCONNECT (§3.14.2.1): protocol violations found by the wire guard (src/ingest/wire.ts), drain on
 * stop, session takeover, a device revoked while connected.
 * Each refusal also carries a Reason String where the client allows it (./reason-string.ts).
 */
import { isOutpostError } from '../../errors.ts';
import type { RefusalReason } from '../metrics.ts';

export const RC = {
  success: 0x00,
  /** DISCONNECT from the client: publish the will [MQTT-3.14.4-3]. */
  disconnectWithWill: 0x04,
  noSubscriptionExisted: 0x11,
  unspecified: 0x80,
  malformed: 0x81,
  protocolError: 0x82,
  implementationSpecific: 0x83,
  unsupportedProtocolVersion: 0x84,
  clientIdNotValid: 0x85,
  badCredentials: 0x86,
  notAuthorized: 0x87,
  serverUnavailable: 0x88,
  serverBusy: 0x89,
  banned: 0x8a,
  serverShuttingDown: 0x8b,
  badAuthMethod: 0x8c,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicNameInvalid: 0x90,
  packetIdNotFound: 0x92,
  receiveMaximumExceeded: 0x93,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  /** "The Connection is closed due to an administrative action" (§3.14.2.1): a device revoked. */
  administrativeAction: 0x98,
  payloadFormatInvalid: 0x99,
} as const;

/** CONNACK reason code of each CONNECT refusal (§3.2.2.2). */
const CONNACK: Partial<Record<RefusalReason, number>> = {
  'unknown-device': RC.badCredentials,
  'bad-credentials': RC.badCredentials,
  'cert-mismatch': RC.badCredentials,
  disabled: RC.notAuthorized,
  'anonymous-refused': RC.notAuthorized,
  'will-refused': RC.notAuthorized,
  throttled: RC.banned,
  'client-id-too-long': RC.clientIdNotValid,
  'client-id-rejected': RC.clientIdNotValid,
  stopping: RC.serverUnavailable,
  'auth-error': RC.serverUnavailable,
  'max-connections': RC.serverBusy,
  'log-full-connect': RC.quotaExceeded,
  'auth-method': RC.badAuthMethod,
  'payload-format': RC.payloadFormatInvalid,
  'protocol-version': RC.unsupportedProtocolVersion,
};

export function connackCode(reason: RefusalReason): number {
  return CONNACK[reason] ?? violationCode(reason);
}

/** The refusal reason of a refused PUBLISH's error (the pipeline's), as counted. */
export function publishRefusal(err: Error): RefusalReason {
  if (isOutpostError(err, 'LOG_FULL')) return 'log-full';
  if (isOutpostError(err, 'INGEST_REFUSED') && err.fields.reason !== undefined)
    return err.fields.reason as RefusalReason;
  return 'append-failed';
}

/** PUBACK / PUBREC reason code of a refused PUBLISH (§3.4.2.1): the pipeline's error. */
export function pubackCode(err: Error): number {
  switch (publishRefusal(err)) {
    case 'unauthorized':
      return RC.notAuthorized;
    // "The Topic Name is not malformed, but is not accepted by this Client or Server."
    case 'unrouted':
    case 'topic-too-long':
    case 'topic-too-many-levels':
      return RC.topicNameInvalid;
    case 'payload-format':
      return RC.payloadFormatInvalid;
    case 'log-full':
    case 'rate-limited': // mqtt.limits.publishRate.overLimitMqtt5 "refuse"
      return RC.quotaExceeded;
    case 'too-large':
    case 'record-invalid':
      return RC.implementationSpecific;
    default:
      return RC.unspecified; // append-failed and anything unforeseen
  }
}

/** DISCONNECT (or, before CONNACK, CONNACK) reason code of a protocol violation (§4.13). */
export function violationCode(reason: RefusalReason): number {
  switch (reason) {
    case 'too-large':
      return RC.packetTooLarge;
    case 'invalid-topic':
      return RC.topicNameInvalid;
    case 'topic-alias-invalid':
      return RC.topicAliasInvalid;
    case 'receive-maximum':
      return RC.receiveMaximumExceeded;
    case 'invalid-utf8':
    case 'null-character':
    case 'will-invalid':
      return RC.malformed;
    case 'keepalive-timeout':
      return RC.keepAliveTimeout;
    // An operator disabled or removed the device: 0x98 says the server closed it by an administrative
    // action, where 0x87 would blame the device's last request.
    case 'device-revoked':
      return RC.administrativeAction;
    default:
      return RC.protocolError;
  }
}
