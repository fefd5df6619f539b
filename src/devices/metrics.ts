/** Registry metrics, registered on the Registry the service gives us. */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AuthRefusal } from './types.ts';

export const AUTH_REFUSALS: readonly AuthRefusal[] = [
  'unknown-device',
  'bad-credentials',
  'disabled',
  'throttled',
  'anonymous-refused',
  'cert-mismatch',
];

export interface DeviceMetrics {
  authFailure(reason: AuthRefusal): void;
  /** Removes what this instance registered that reads its store (the registered-devices gauge). */
  unregister(): void;
}

/** `count` is read at scrape time, straight from LMDB, so CLI changes show without restart. */
export function registerDeviceMetrics(registry: Registry | undefined, count: () => number): DeviceMetrics {
  if (registry === undefined) return { authFailure: () => {}, unregister: () => {} };
  const failures =
    (registry.getSingleMetric('outpost_auth_failures_total') as Counter<'reason'> | undefined) ??
    new Counter({
      name: 'outpost_auth_failures_total',
      help: 'MQTT logins refused, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    });
  for (const reason of AUTH_REFUSALS) failures.inc({ reason }, 0);
  let ownsGauge = false;
  if (registry.getSingleMetric('outpost_devices_registered') === undefined) {
    ownsGauge = true;
    new Gauge({
      name: 'outpost_devices_registered',
      help: 'Devices in the registry (enabled or not).',
      registers: [registry],
      collect() {
        this.set(count());
      },
    });
  }
  return {
    authFailure: (reason) => failures.inc({ reason }),
    unregister: () => {
      if (ownsGauge) registry.removeSingleMetric('outpost_devices_registered');
      ownsGauge = false;
    },
  };
}
