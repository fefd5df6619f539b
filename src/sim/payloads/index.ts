import { deriveSeed, mulberry32 } from '../prng.ts';
import type { DeviceGenerator, DeviceKind } from './generator.ts';
import { stbGenerator } from './stb.ts';
import { vehicleGenerator } from './vehicle.ts';

export type { DeviceGenerator, DeviceKind, GeneratorOptions, SimMessage } from './generator.ts';
export {
  type Envelope,
  envelopeSchema,
  type StbPayload,
  stbPayloadSchema,
  TOPIC_PATTERNS,
  type VehiclePayload,
  vehiclePayloadSchema,
} from './schemas.ts';
export { stbGenerator } from './stb.ts';
export { vehicleGenerator } from './vehicle.ts';

/** Device ids of a fleet: stb-0001…, veh-0001… (prefix optional, e.g. to run two fleets at once). */
export function fleetIds(kind: DeviceKind, count: number, prefix = ''): string[] {
  const width = Math.max(4, String(count).length);
  const base = kind === 'stb' ? 'stb' : 'veh';
  return Array.from({ length: count }, (_, i) => `${prefix}${base}-${String(i + 1).padStart(width, '0')}`);
}

/** A generator for one device, seeded from the run seed and the device id (order-independent). */
export function createGenerator(
  kind: DeviceKind,
  deviceId: string,
  opts: { seed: number; run: string; clockSkewMs?: number },
): DeviceGenerator {
  const rng = mulberry32(deriveSeed(opts.seed, deviceId));
  const base = { deviceId, run: opts.run, rng, clockSkewMs: opts.clockSkewMs ?? 0 };
  return kind === 'stb' ? stbGenerator(base) : vehicleGenerator(base);
}
