/**
 * CONNECT-side aedes hooks, as named steps:
 *   preConnect:   admission (protocol level, stopping, maxConnections, log full, client id, keepalive)
 *   authenticate: the admission verdict as a CONNACK code, then src/devices (password / certificate /
 *                 anonymous policy) → per-client pipeline state → the will, checked like a PUBLISH
 *   authorizeSubscribe: denied (SUBACK 0x80, [MQTT-3.9.3-2]); Outpost devices publish only.
 *
 * CONNACK codes (MQTT 3.1.1 §3.2.2.3): 1 unacceptable protocol level [MQTT-3.1.2-2] (sent by aedes;
 * MQTT 5 connections never reach aedes: src/ingest/mqtt5/ runs these hooks and turns each refusal's
 * `reason` into an MQTT 5 reason code), 2 identifier rejected (client id too long, an empty client id with
 * CleanSession 0 [MQTT-3.1.3-8], keepalive above the limit, as Mosquitto does for 3.1.1), 3 server
 * unavailable (stopping, connection limit, log full), 4 bad user name or password, 5 not authorized
 * (disabled, throttled, anonymous refused, a will the device may not publish, as Mosquitto 2 does).
 * aedes sends the CONNACK and closes the connection on a refusal [MQTT-3.2.2-5].
 *
 * Keepalive 0 means "no keepalive" in MQTT 3.1.1 [MQTT-3.1.2-10] and is accepted unless
 * mqtt.limits.requireKeepalive is set; then it is refused by closing the connection without a CONNACK
 * (3.1.1 has no return code for it), counted as keepalive-required.
 * Every refusal is counted and logged once, here.
 */
import type { Client as AedesClient, AuthenticateError } from 'aedes';
import type { Config } from '../config/index.ts';
import type { AuthRefusal, DeviceIdentity, Devices } from '../devices/index.ts';
import { OutpostError } from '../errors.ts';
import type { ConnectionMeta } from './listeners/common.ts';
import type { RefusalReason } from './metrics.ts';

export interface Admission {
  stopping: boolean;
  openConnections: number;
  logFull: () => boolean;
  allowAnonymous: Config['mqtt']['allowAnonymous'];
  limits: Config['mqtt']['limits'];
}

export interface ConnectHookDeps {
  devices: Devices;
  admission: () => Admission;
  metaOf: (client: AedesClient) => ConnectionMeta | undefined;
  refuse: (reason: RefusalReason, fields: Record<string, unknown>) => void;
  onAuthenticated: (client: AedesClient, identity: DeviceIdentity) => void;
  /** Why the client's will could not be published (route, ACL, size), or null. Runs after onAuthenticated. */
  willRefusal: (client: AedesClient) => RefusalReason | null;
}

interface ConnectPacketLike {
  clientId: string;
  keepalive: number;
  clean?: boolean;
  protocolVersion?: number;
}

type Verdict = { code: 2 | 3; reason: RefusalReason } | { code: 'close'; reason: RefusalReason };

const AUTH_CODE: Record<AuthRefusal, 4 | 5> = {
  'unknown-device': 4,
  'bad-credentials': 4,
  'cert-mismatch': 4,
  disabled: 5,
  throttled: 5,
  'anonymous-refused': 5,
};

/** A CONNACK refusal; `reason` lets the MQTT 5 handler pick its own reason code (mqtt5/codes.ts). */
export type ConnackError = AuthenticateError & { reason: RefusalReason };

function connackError(code: 2 | 3 | 4 | 5, message: string, reason: RefusalReason): ConnackError {
  const err = new Error(message) as ConnackError;
  err.returnCode = code;
  err.reason = reason;
  return err;
}

export function connectHooks(deps: ConnectHookDeps) {
  const verdicts = new WeakMap<AedesClient, { code: 2 | 3; reason: RefusalReason }>();

  /** Step 1: admission. A CONNACK verdict is delivered by `authenticate`; 'close' closes at once. */
  function admit(packet: ConnectPacketLike): Verdict | null {
    const a = deps.admission();
    if (a.stopping) return { code: 3, reason: 'stopping' };
    if (a.openConnections > a.limits.maxConnections) return { code: 3, reason: 'max-connections' };
    if (a.logFull()) return { code: 3, reason: 'log-full-connect' };
    if (packet.clientId.length > a.limits.maxClientIdLength) return { code: 2, reason: 'client-id-too-long' };
    // [MQTT-3.1.3-8]: a server-assigned id cannot carry a persistent session.
    if (packet.clientId.length === 0 && packet.clean === false)
      return { code: 2, reason: 'client-id-rejected' };
    if (packet.keepalive === 0) {
      return a.limits.requireKeepalive ? { code: 'close', reason: 'keepalive-required' } : null;
    }
    if (packet.keepalive > a.limits.maxKeepaliveSeconds) return { code: 2, reason: 'keepalive-too-large' };
    return null;
  }

  const preConnect = (
    client: AedesClient,
    packet: ConnectPacketLike,
    callback: (e: Error | null, ok: boolean) => void,
  ) => {
    const meta = deps.metaOf(client);
    const where = { clientId: packet.clientId, remoteAddress: meta?.remoteAddress, listener: meta?.listener };
    // [MQTT-3.1.2-2]: aedes answers levels other than 3 (3.1) and 4 (3.1.1) with CONNACK 1 itself.
    // Level 5 never reaches aedes: src/ingest/sniff.ts hands it to the MQTT 5 handler, which runs
    // these hooks too.
    if (packet.protocolVersion !== 3 && packet.protocolVersion !== 4 && packet.protocolVersion !== 5) {
      deps.refuse('protocol-version', { ...where, protocolVersion: packet.protocolVersion });
      callback(null, true);
      return;
    }
    const verdict = admit(packet);
    if (verdict?.code === 'close') {
      deps.refuse(verdict.reason, where);
      callback(new OutpostError('INGEST_REFUSED', verdict.reason, { reason: verdict.reason }), false);
      return;
    }
    if (verdict) verdicts.set(client, verdict);
    callback(null, true);
  };

  const authenticate = (
    client: AedesClient,
    username: Readonly<string> | undefined,
    password: Readonly<Buffer> | undefined,
    callback: (error: AuthenticateError | null, success: boolean | null) => void,
  ) => {
    const meta = deps.metaOf(client);
    const verdict = verdicts.get(client);
    if (verdict) {
      deps.refuse(verdict.reason, {
        clientId: client.id,
        remoteAddress: meta?.remoteAddress ?? '',
        listener: meta?.listener,
      });
      callback(connackError(verdict.code, verdict.reason, verdict.reason), false);
      return;
    }
    authenticateDevice(deps, client, username, password, callback);
  };

  const authorizeSubscribe = (
    client: AedesClient | null,
    sub: { topic: string; qos: number },
    callback: (err: Error | null, sub: null) => void,
  ) => {
    deps.refuse('subscribe-denied', { clientId: client?.id, filter: sub.topic });
    callback(null, null);
  };

  return { preConnect, authenticate, authorizeSubscribe };
}

/** Step 2: src/devices (password / certificate / anonymous policy), then the will. */
function authenticateDevice(
  deps: ConnectHookDeps,
  client: AedesClient,
  username: Readonly<string> | undefined,
  password: Readonly<Buffer> | undefined,
  callback: (error: AuthenticateError | null, success: boolean | null) => void,
): void {
  const meta = deps.metaOf(client);
  const remoteAddress = meta?.remoteAddress ?? '';
  deps.devices
    .authenticate({
      clientId: client.id,
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password: Buffer.from(password) }),
      ...(meta?.certIdentities && meta.certIdentities.length > 0
        ? { certIdentities: meta.certIdentities }
        : {}),
      remoteAddress,
      allowAnonymous: deps.admission().allowAnonymous,
    })
    .then(
      (result) => {
        if (result.ok) {
          callback(...authenticated(deps, client, result.identity, remoteAddress));
          return;
        }
        deps.refuse(result.reason, {
          clientId: client.id,
          username,
          remoteAddress,
          listener: meta?.listener,
        });
        callback(connackError(AUTH_CODE[result.reason], result.reason, result.reason), false);
      },
      (err: unknown) => {
        deps.refuse('auth-error', { clientId: client.id, err: String(err) });
        callback(connackError(3, 'device registry unavailable', 'auth-error'), false);
      },
    );
}

/** Step 3: the per-client pipeline state, then the will, checked like a PUBLISH on its topic. */
function authenticated(
  deps: ConnectHookDeps,
  client: AedesClient,
  identity: DeviceIdentity,
  remoteAddress: string,
): [ConnackError | null, boolean] {
  deps.onAuthenticated(client, identity);
  const will = deps.willRefusal(client);
  if (will === null) return [null, true];
  deps.refuse('will-refused', {
    clientId: client.id,
    deviceId: identity.deviceId ?? undefined,
    remoteAddress,
    willRefusal: will,
  });
  return [connackError(5, `will refused: ${will}`, 'will-refused'), false];
}
