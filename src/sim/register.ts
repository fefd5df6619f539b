import type { Devices } from '../devices/index.ts';
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
