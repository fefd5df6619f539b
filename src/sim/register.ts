import type { Config } from '../config/index.ts';
import { type Devices, openDevices } from '../devices/index.ts';
import { openLog, type PartitionedLog } from '../log/index.ts';
import { logOptionsFromConfig } from '../service/index.ts';
import { fleetIds } from './payloads/index.ts';

export interface RegisterResult {
  added: number;
  existing: number;
}

/**
 * Registers a fleet's devices (password = template with "{deviceId}" replaced). Devices already in
 * the registry are left as they are (their password is not changed). Hashing is slow on purpose
 * (scrypt), so a few run at a time.
 */
export async function registerFleet(
  devices: Pick<Devices, 'add' | 'get'>,
  fleet: { stb: number; vehicles: number; idPrefix?: string; password: string },
  concurrency = 4,
): Promise<RegisterResult> {
  const ids = [
    ...fleetIds('stb', fleet.stb, fleet.idPrefix ?? ''),
    ...fleetIds('vehicle', fleet.vehicles, fleet.idPrefix ?? ''),
  ];
  const result: RegisterResult = { added: 0, existing: 0 };
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      if (devices.get(id) !== undefined) {
        result.existing++;
        continue;
      }
      await devices.add(id, { password: fleet.password.replaceAll('{deviceId}', id) });
      result.added++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  return result;
}

/**
 * Registers a fleet in the device registry of `config`'s data dir, opening the log as a reader
 * (safe while the service runs; the service sees the devices at once).
 */
export async function registerFleetInDataDir(
  config: Config,
  fleet: { stb: number; vehicles: number; idPrefix?: string; password: string },
): Promise<RegisterResult> {
  const log = await openLog(logOptionsFromConfig(config, 'reader'));
  try {
    const devices = openDevices(log, { throttle: config.mqtt.authThrottle });
    try {
      return await registerFleet(devices, fleet);
    } finally {
      devices.close();
    }
  } finally {
    await log.flushed();
    await log.close();
  }
}

/** Opens the edge log of `config` as a reader (for the audit). */
export function openEdgeLogReader(config: Config): Promise<PartitionedLog> {
  return openLog(logOptionsFromConfig(config, 'reader'));
}
