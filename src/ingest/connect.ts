/**
 * CONNECT-side aedes hooks, as named steps:
 *   preConnect:   admission (stopping, maxConnections, log full, client id length, keepalive)
 *   authenticate: the admission verdict as a CONNACK code, then src/devices (password / certificate /
 *                 anonymous policy) → per-client pipeline state
 *   authorizeSubscribe: denied (SUBACK 0x80, [MQTT-3.9.3-2]); Outpost devices publish only.
 *
 * CONNACK codes (MQTT 3.1.1 §3.2.2.3): 2 identifier rejected (client id too long, keepalive above the
 * limit, as Mosquitto does for 3.1.1), 3 server unavailable (stopping, connection limit, log full),
 * 4 bad user name or password, 5 not authorized (disabled, throttled, anonymous refused).
 * aedes sends the CONNACK and closes the connection on a refusal [MQTT-3.2.2-5].
 */
import type { Client as AedesClient, AuthenticateError } from 'aedes';
import type { Config } from '../config/index.ts';
import type { AuthRefusal, Devices } from '../devices/index.ts';
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
  onAuthenticated: (client: AedesClient, identity: import('../devices/index.ts').DeviceIdentity) => void;
}

interface ConnectPacketLike {
  clientId: string;
  keepalive: number;
}

const AUTH_CODE: Record<AuthRefusal, 4 | 5> = {
  'unknown-device': 4,
  'bad-credentials': 4,
  'cert-mismatch': 4,
  disabled: 5,
  throttled: 5,
  'anonymous-refused': 5,
};

function connackError(code: 2 | 3 | 4 | 5, reason: string): AuthenticateError {
  const err = new Error(reason) as AuthenticateError;
  err.returnCode = code;
  return err;
}

export function connectHooks(deps: ConnectHookDeps) {
  const verdicts = new WeakMap<AedesClient, { code: 2 | 3; reason: RefusalReason }>();

  /** Step 1: admission. The verdict is delivered as a CONNACK code by `authenticate`. */
  function admit(packet: ConnectPacketLike): { code: 2 | 3; reason: RefusalReason } | null {
    const a = deps.admission();
    if (a.stopping) return { code: 3, reason: 'stopping' };
    if (a.openConnections > a.limits.maxConnections) return { code: 3, reason: 'max-connections' };
    if (a.logFull()) return { code: 3, reason: 'log-full-connect' };
    if (packet.clientId.length > a.limits.maxClientIdLength) return { code: 2, reason: 'client-id-too-long' };
    if (packet.keepalive === 0 || packet.keepalive > a.limits.maxKeepaliveSeconds) {
      return { code: 2, reason: 'keepalive-too-large' };
    }
    return null;
  }

  const preConnect = (
    client: AedesClient,
    packet: ConnectPacketLike,
    callback: (e: Error | null, ok: boolean) => void,
  ) => {
    const verdict = admit(packet);
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
    const remoteAddress = meta?.remoteAddress ?? '';
    const verdict = verdicts.get(client);
    if (verdict) {
      deps.refuse(verdict.reason, { clientId: client.id, remoteAddress, listener: meta?.listener });
      callback(connackError(verdict.code, verdict.reason), false);
      return;
    }
    const a = deps.admission();
    deps.devices
      .authenticate({
        clientId: client.id,
        ...(username === undefined ? {} : { username }),
        ...(password === undefined ? {} : { password: Buffer.from(password) }),
        ...(meta?.certIdentities && meta.certIdentities.length > 0
          ? { certIdentities: meta.certIdentities }
          : {}),
        remoteAddress,
        allowAnonymous: a.allowAnonymous,
      })
      .then(
        (result) => {
          if (result.ok) {
            deps.onAuthenticated(client, result.identity);
            callback(null, true);
            return;
          }
          deps.refuse(result.reason, {
            clientId: client.id,
            username,
            remoteAddress,
            listener: meta?.listener,
          });
          callback(connackError(AUTH_CODE[result.reason], result.reason), false);
        },
        (err: unknown) => {
          deps.refuse('auth-error', { clientId: client.id, err: String(err) });
          callback(connackError(3, 'device registry unavailable'), false);
        },
      );
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
