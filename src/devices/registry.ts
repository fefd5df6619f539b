/**
 * openDevices: the device registry over the log's LMDB environment, with change notification
 * across processes and login checks (authenticate.ts).
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { OutpostError } from '../errors.ts';
import { authenticate, toOverrides } from './authenticate.ts';
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
  const listeners = new Set<(deviceId: string) => void>();
  let lastSeq = store.lastSeq();
  let closed = false;

  const emit = (deviceId: string) => {
    cache.forget(deviceId);
    for (const cb of listeners) {
      try {
        cb(deviceId);
      } catch (err) {
        logger?.error({ event: 'device.change.listener', deviceId, err }, 'device change listener threw');
      }
    }
  };

  const poll = () => {
    if (closed || listeners.size === 0) {
      if (!closed) lastSeq = Math.max(lastSeq, store.lastSeq());
      announced.clear();
      return;
    }
    const changes = store.changesSince(lastSeq);
    const first = changes[0];
    if (first !== undefined && first.seq > lastSeq + 1 && lastSeq > 0) {
      // The change log was pruned past what we saw: announce every current device.
      logger?.warn({ event: 'device.change.resync', lastSeq, firstSeq: first.seq }, 'device change log gap');
      for (const d of store.list()) emit(d.id);
    }
    for (const c of changes) {
      lastSeq = Math.max(lastSeq, c.seq);
      if (announced.delete(c.seq)) continue;
      emit(c.deviceId);
    }
  };
  const timer = setInterval(() => {
    try {
      poll();
    } catch (err) {
      logger?.error({ event: 'device.change.poll', err }, 'device change poll failed');
    }
  }, opts.pollMs ?? DEFAULT_CHANGE_POLL_MS);
  timer.unref();

  const changed = (deviceId: string) => {
    logger?.info({ event: 'device.changed', deviceId }, 'device registry changed');
    emit(deviceId);
  };

  const assertOpen = () => {
    if (closed) throw new OutpostError('LOG_CLOSED', 'device registry is closed');
  };

  return {
    async add(id: string, options: AddDeviceOptions): Promise<DeviceInfo> {
      assertOpen();
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
      const rec: DeviceRecord = {
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
      await store.insert(rec);
      changed(id);
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
      changed(id);
    },

    async remove(id: string): Promise<void> {
      assertOpen();
      assertDeviceId(id);
      await store.remove(id);
      changed(id);
    },

    authenticate(req: AuthRequest): Promise<AuthResult> {
      assertOpen();
      return authenticate(req, { store, throttle, dummy, metrics, logger, verify: verifyPassword, cache });
    },

    onChange(cb: (deviceId: string) => void): () => void {
      if (listeners.size === 0) lastSeq = Math.max(lastSeq, store.lastSeq());
      listeners.add(cb);
      return () => {
        listeners.delete(cb);
      };
    },

    setThrottle(cfg: ThrottleConfig): void {
      throttle.setConfig(cfg);
    },

    close(): void {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      listeners.clear();
      metrics.unregister();
    },
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
