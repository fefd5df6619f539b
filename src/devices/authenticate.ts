/**
 * MQTT CONNECT authentication as named steps (in the manner of aedes' connectActions). Each step
 * either settles the verdict or passes. The MQTT side (CONNACK codes) belongs to src/ingest.
 *
 *   refuseThrottled → anonymousLogin → passwordLogin | certificateLogin → refuseDisabled → accept
 *
 * MQTT 3.1.1 lets a client send a user name without a password, never a password without a user
 * name [MQTT-3.1.2-22]; both malformed shapes are refused here as bad credentials.
 */
import type { Logger } from 'pino';
import { anonymousAllowed, normalizeAddress } from './anonymous.ts';
import type { DeviceRecord, ScryptCredential } from './format/device-record-v1.ts';
import type { VerifiedLoginCache } from './login-cache.ts';
import type { DeviceMetrics } from './metrics.ts';
import type { verifyPassword } from './password.ts';
import type { DeviceStore } from './store.ts';
import type { FailureThrottle } from './throttle.ts';
import type { AuthRefusal, AuthRequest, AuthResult, DeviceOverrides } from './types.ts';
import { isValidDeviceId, MAX_CERT_CN_LENGTH } from './validate.ts';

export interface AuthDeps {
  store: DeviceStore;
  throttle: FailureThrottle;
  /** Random credential checked when there is no real one (constant-ish time for unknown devices). */
  dummy: ScryptCredential;
  metrics: DeviceMetrics;
  logger: Logger | undefined;
  /** Password check; verifyPassword (scrypt) in production, counted in tests. */
  verify: typeof verifyPassword;
  /** Recently verified logins (skips scrypt for a reconnecting device with the same password). */
  cache: VerifiedLoginCache;
}

interface Ctx {
  req: AuthRequest;
  address: string;
  /** Device id the client claims (user name) or that its certificate resolved to. */
  deviceId: string | null;
  device: DeviceRecord | undefined;
}

type Verdict = AuthResult | undefined;
type Step = (ctx: Ctx, deps: AuthDeps) => Verdict | Promise<Verdict>;

const addrKey = (address: string) => `addr:${address}`;
const devKey = (id: string) => `dev:${id}`;
const refuse = (reason: AuthRefusal): AuthResult => ({ ok: false, reason });

/** Failures that look like guessing count against the address and the device id. */
const THROTTLED_FAILURES: ReadonlySet<AuthRefusal> = new Set([
  'unknown-device',
  'bad-credentials',
  'cert-mismatch',
]);

const refuseThrottled: Step = ({ req, address }, { throttle }) => {
  if (throttle.isBlocked(addrKey(address))) return refuse('throttled');
  if (req.username !== undefined && throttle.isBlocked(devKey(req.username))) return refuse('throttled');
  return undefined;
};

const anonymousLogin: Step = ({ req }) => {
  const hasCert = (req.certIdentities?.length ?? 0) > 0;
  if (req.username !== undefined || req.password !== undefined || hasCert) return undefined;
  if (!anonymousAllowed(req.allowAnonymous, req.remoteAddress)) return refuse('anonymous-refused');
  return { ok: true, identity: { deviceId: null, anonymous: true } };
};

/** User name = device id; scrypt runs whether or not the device (or its password) exists. */
const passwordLogin: Step = async (ctx, { store, dummy, verify, cache }) => {
  const { req } = ctx;
  const hasCert = (req.certIdentities?.length ?? 0) > 0;
  if (req.password === undefined && hasCert) return undefined; // certificate login
  const id = req.username;
  ctx.deviceId = id ?? null;
  const device = id !== undefined && isValidDeviceId(id) ? store.get(id) : undefined;
  const cred = device?.cred ?? dummy;
  const password = req.password ?? Buffer.alloc(0);
  const cached = id !== undefined && device?.cred != null && cache.has(id, password, device.cred);
  const matches = cached || (await verify(password, cred));
  if (matches && !cached && id !== undefined && device?.cred != null)
    cache.remember(id, password, device.cred);
  if (id === undefined) return refuse('bad-credentials');
  if (device === undefined) return refuse('unknown-device');
  if (req.password === undefined || device.cred === null || !matches) return refuse('bad-credentials');
  ctx.device = device;
  return undefined;
};

/** A verified client certificate whose CN/SAN equals the device id or the device's certCn. */
const certificateLogin: Step = (ctx, { store }) => {
  if (ctx.device !== undefined) return undefined; // password login succeeded
  const identities = ctx.req.certIdentities ?? [];
  const username = ctx.req.username;
  if (username !== undefined) {
    ctx.deviceId = username;
    const device = isValidDeviceId(username) ? store.get(username) : undefined;
    if (device === undefined) return refuse('unknown-device');
    const matches = identities.some(
      (x) => x === device.id || (device.certCn !== null && x === device.certCn),
    );
    if (!matches) return refuse('cert-mismatch');
    ctx.device = device;
    return undefined;
  }
  // No user name: the first identity naming a device wins; a device id beats a certCn.
  for (const x of identities) {
    const device = isValidDeviceId(x) ? store.get(x) : undefined;
    if (device !== undefined) {
      ctx.device = device;
      ctx.deviceId = device.id;
      return undefined;
    }
  }
  for (const x of identities) {
    if (x.length === 0 || x.length > MAX_CERT_CN_LENGTH) continue; // cannot be a stored certCn
    const id = store.idForCertCn(x);
    const device = id === undefined ? undefined : store.get(id);
    if (device !== undefined) {
      ctx.device = device;
      ctx.deviceId = device.id;
      return undefined;
    }
  }
  return refuse('unknown-device');
};

const refuseDisabled: Step = ({ device }) =>
  device !== undefined && !device.enabled ? refuse('disabled') : undefined;

const accept: Step = ({ device }, { throttle }) => {
  if (device === undefined) return refuse('unknown-device'); // unreachable: a step above settled it
  throttle.reset(devKey(device.id));
  const overrides = toOverrides(device);
  return {
    ok: true,
    identity: { deviceId: device.id, anonymous: false, ...(overrides ? { overrides } : {}) },
  };
};

const STEPS: readonly Step[] = [
  refuseThrottled,
  anonymousLogin,
  passwordLogin,
  certificateLogin,
  refuseDisabled,
  accept,
];

export async function authenticate(req: AuthRequest, deps: AuthDeps): Promise<AuthResult> {
  const ctx: Ctx = {
    req,
    address: normalizeAddress(req.remoteAddress),
    deviceId: req.username ?? null,
    device: undefined,
  };
  let verdict: AuthResult = refuse('unknown-device');
  for (const step of STEPS) {
    const v = await step(ctx, deps);
    if (v !== undefined) {
      verdict = v;
      break;
    }
  }
  if (!verdict.ok) recordRefusal(ctx, verdict.reason, deps);
  return verdict;
}

function recordRefusal(ctx: Ctx, reason: AuthRefusal, { throttle, metrics, logger }: AuthDeps): void {
  metrics.authFailure(reason);
  const fields = {
    event: 'device.auth.refused',
    deviceId: ctx.deviceId,
    clientId: ctx.req.clientId,
    remoteAddress: ctx.address,
    reason,
  };
  if (reason === 'throttled') {
    logger?.info(fields, 'login refused: too many failed logins (throttled)');
    return;
  }
  logger?.warn(fields, `login refused: ${reason}`);
  if (!THROTTLED_FAILURES.has(reason)) return;
  const keys = [addrKey(ctx.address), ...(ctx.deviceId !== null ? [devKey(ctx.deviceId)] : [])];
  for (const key of keys) {
    if (throttle.fail(key)) {
      logger?.warn(
        { event: 'device.auth.throttle', key, deviceId: ctx.deviceId, remoteAddress: ctx.address },
        'too many failed logins: blocking further attempts',
      );
    }
  }
}

export function toOverrides(rec: DeviceRecord): DeviceOverrides | undefined {
  if (rec.overrides === null) return undefined;
  const o: DeviceOverrides = {};
  if (rec.overrides.topics !== null) o.topics = [...rec.overrides.topics];
  if (rec.overrides.rate !== null) o.rate = { ...rec.overrides.rate };
  return o.topics === undefined && o.rate === undefined ? undefined : o;
}
