/**
 * openDevices: the device registry over the log's LMDB environment, with change notification
 * across processes (changes.ts) and login checks (authenticate.ts).
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { OutpostError } from '../errors.ts';
import { authenticate, toOverrides } from './authenticate.ts';
import { watchChanges } from './changes.ts';
import type { DeviceRecord } from './format/device-record-v1.ts';
import { VerifiedLoginCache } from './login-cache.ts';
import { registerDeviceMetrics } from './metrics.ts';
import { dummyCredential, hashPassword, verifyPassword } from './password.ts';
import { DeviceStore, type StoreHost } from './store.ts';
import { FailureThrottle } from './throttle.ts';
import type {
  AddDeviceOptions,
  AuthRequest,
  AuthResult,
  DeviceInfo,
  Devices,
  ThrottleConfig,
} from './types.ts';
import { assertCertCn, assertDeviceId, assertOverrides, isValidDeviceId } from './validate.ts';

/** How often the change log is polled for writes by other processes. */
export const DEFAULT_CHANGE_POLL_MS = 1000;

export interface OpenDevicesOptions {
  throttle: ThrottleConfig;
  logger?: Logger;
  metrics?: Registry;
  /** Poll period for changes made by other processes (ms). */
  pollMs?: number;
  /** Clock for the login throttle (tests). */
  now?: () => number;
}

/**
 * `log` is the PartitionedLog (owner or reader role); only its `openStore` and `flushed` are used.
 * Nothing is cached: every read goes to LMDB, so changes by the CLI are seen at once.
 */
export function openDevices(log: StoreHost, opts: OpenDevicesOptions): Devices {
  /** Seqs of this process's own writes: announced directly, skipped by the poller. */
  const announced = new Set<number>();
  const store = new DeviceStore(log, (seq) => announced.add(seq));
  const logger = opts.logger;
  const throttle = new FailureThrottle(opts.throttle, opts.now);
  const metrics = registerDeviceMetrics(opts.metrics, () => (closed ? 0 : store.count()));
  const dummy = dummyCredential();
  const cache = new VerifiedLoginCache(opts.now);
  const changes = watchChanges(store, announced, cache, logger, opts.pollMs ?? DEFAULT_CHANGE_POLL_MS);
  let closed = false;

  const assertOpen = () => {
    if (closed) throw new OutpostError('LOG_CLOSED', 'device registry is closed');
  };

  return {
    async add(id: string, options: AddDeviceOptions): Promise<DeviceInfo> {
      assertOpen();
      const rec = await newDeviceRecord(id, options);
      await store.insert(rec);
      changes.changed(id);
      return toInfo(rec);
    },

    get(id: string): DeviceInfo | undefined {
      assertOpen();
      if (!isValidDeviceId(id)) return undefined;
      const rec = store.get(id);
      return rec === undefined ? undefined : toInfo(rec);
    },

    list(): DeviceInfo[] {
      assertOpen();
      return store.list().map(toInfo);
    },

    async setEnabled(id: string, enabled: boolean): Promise<void> {
      assertOpen();
      assertDeviceId(id);
      await store.update(id, (rec) => ({ ...rec, enabled, updatedAt: Date.now() }));
      changes.changed(id);
    },

    async remove(id: string): Promise<void> {
      assertOpen();
      assertDeviceId(id);
      await store.remove(id);
      changes.changed(id);
    },

    authenticate(req: AuthRequest): Promise<AuthResult> {
      assertOpen();
      return authenticate(req, { store, throttle, dummy, metrics, logger, verify: verifyPassword, cache });
    },

    onChange(cb: (deviceId: string) => void): () => void {
      return changes.onChange(cb);
    },

    setThrottle(cfg: ThrottleConfig): void {
      throttle.setConfig(cfg);
    },

    close(): void {
      if (closed) return;
      closed = true;
      changes.close();
      metrics.unregister();
    },
  };
}

/** Checks a new device's id, credential and overrides, and builds its record (password hashed). */
async function newDeviceRecord(id: string, options: AddDeviceOptions): Promise<DeviceRecord> {
  assertDeviceId(id);
  if (options.certCn !== undefined) assertCertCn(options.certCn, id);
  if (options.overrides !== undefined) assertOverrides(options.overrides, id);
  if (options.password === undefined && options.certCn === undefined) {
    // A device always has a credential; a cert whose CN/SAN is the id itself needs certCn = id.
    throw new OutpostError(
      'DEVICE_NO_CREDENTIAL',
      `device ${id} needs a password or a certificate CN (--password-stdin or --cert-cn)`,
      { deviceId: id },
    );
  }
  if (options.password !== undefined && options.password.length === 0) {
    throw new OutpostError('DEVICE_INVALID', 'empty password', { deviceId: id, reason: 'password' });
  }
  const now = Date.now();
  return {
    id,
    enabled: true,
    cred: options.password === undefined ? null : await hashPassword(options.password),
    certCn: options.certCn ?? null,
    overrides:
      options.overrides === undefined
        ? null
        : { topics: options.overrides.topics ?? null, rate: options.overrides.rate ?? null },
    createdAt: now,
    updatedAt: now,
  };
}

function toInfo(rec: DeviceRecord): DeviceInfo {
  const info: DeviceInfo = {
    id: rec.id,
    enabled: rec.enabled,
    hasPassword: rec.cred !== null,
    createdAt: rec.createdAt,
    updatedAt: rec.updatedAt,
  };
  if (rec.certCn !== null) info.certCn = rec.certCn;
  const overrides = toOverrides(rec);
  if (overrides !== undefined) info.overrides = overrides;
  return info;
}
