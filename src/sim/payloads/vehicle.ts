import type { BodyOf, DeviceGenerator, GeneratorOptions, SimMessage } from './generator.ts';
import type { VehiclePayload } from './schemas.ts';
import { round } from './stb.ts';

/** Simulated seconds between two messages of one vehicle (drives motion and consumption). */
const STEP_S = 2;
const EARTH_M_PER_DEG_LAT = 111_320;
/** Depots the fleet starts from (lat, lon). */
const DEPOTS = [
  [52.52, 13.405],
  [48.137, 11.575],
  [50.11, 8.682],
  [53.551, 9.993],
] as const;
const DTC_CODES = ['P0301', 'P0420', 'P0171', 'P0128', 'C0035', 'B1000', 'U0100', 'P0A80'] as const;

type Body = BodyOf<VehiclePayload>;

/**
 * A vehicle: ignition on/off trips; while driving, GPS fixes follow a plausible route (heading
 * drifts smoothly, speed follows a target per road segment with noise, position advances by speed ×
 * time), fuel or state of charge drains with distance, coolant warms up, and rare diagnostic trouble
 * codes appear. Topics: vehicles/{id}/telemetry/{gps|energy|engine|ignition}, vehicles/{id}/dtc.
 */
export function vehicleGenerator(opts: GeneratorOptions): DeviceGenerator {
  const { deviceId, run, rng } = opts;
  const skew = opts.clockSkewMs ?? 0;
  const powertrain: 'ice' | 'ev' = rng.chance(0.35) ? 'ev' : 'ice';
  const depot = rng.pick(DEPOTS);
  let lat = depot[0] + rng.float(-0.05, 0.05);
  let lon = depot[1] + rng.float(-0.08, 0.08);
  let heading = rng.float(0, 360);
  let speed = 0;
  let targetSpeed = 50;
  let level = rng.float(30, 100);
  let coolant = rng.float(5, 20);
  let odometer = rng.float(1_000, 200_000);
  let driving = false;
  let tripId = 0;
  let stepsInTrip = 0;
  let seq = 1;
  let tick = 0;

  const move = (): void => {
    if (rng.chance(0.05)) targetSpeed = rng.pick([30, 50, 50, 70, 100, 120]);
    speed = Math.max(0, Math.min(200, speed + (targetSpeed - speed) * 0.3 + rng.gauss() * 2));
    heading = (((heading + rng.gauss() * (speed > 80 ? 2 : 8)) % 360) + 360) % 360;
    const meters = (speed / 3.6) * STEP_S;
    const rad = (heading * Math.PI) / 180;
    lat = Math.max(-89.9, Math.min(89.9, lat + (Math.cos(rad) * meters) / EARTH_M_PER_DEG_LAT));
    lon += (Math.sin(rad) * meters) / (EARTH_M_PER_DEG_LAT * Math.cos((lat * Math.PI) / 180));
    odometer += meters / 1000;
    level = Math.max(0, level - (meters / 1000) * (powertrain === 'ev' ? 0.18 : 0.12));
    if (level < 8 && rng.chance(0.2)) level = rng.float(80, 100); // refuelled / recharged
    coolant = Math.min(125, coolant + (90 - coolant) * 0.05 + rng.gauss() * 0.3);
  };

  const gps = (): Body => ({
    type: 'gps',
    tripId: Math.max(1, tripId),
    lat: round(lat, 6),
    lon: round(lon, 6),
    speedKmh: round(speed, 1),
    headingDeg: round(heading, 1) % 360,
  });

  const event = (): { topic: string; body: Body } => {
    const telemetry = (body: Body) => ({ topic: `vehicles/${deviceId}/telemetry/${body.type}`, body });
    tick++;
    if (!driving) {
      coolant = Math.max(-40, coolant + (12 - coolant) * 0.02);
      if (rng.chance(0.25)) {
        driving = true;
        tripId++;
        stepsInTrip = 0;
        targetSpeed = rng.pick([30, 50, 70]);
        return telemetry({ type: 'ignition', state: 'on', tripId, odometerKm: round(odometer, 1) });
      }
      return telemetry(energy());
    }
    stepsInTrip++;
    move();
    if (stepsInTrip > 60 && rng.chance(0.01)) {
      driving = false;
      speed = 0;
      return telemetry({ type: 'ignition', state: 'off', tripId, odometerKm: round(odometer, 1) });
    }
    if (rng.chance(0.004)) {
      const severity = rng.pick(['info', 'warning', 'warning', 'critical'] as const);
      return {
        topic: `vehicles/${deviceId}/dtc`,
        body: { type: 'dtc', code: rng.pick(DTC_CODES), severity, milOn: severity !== 'info' },
      };
    }
    if (tick % 10 === 0) return telemetry(energy());
    if (tick % 5 === 0) {
      const rpm = powertrain === 'ev' ? 0 : Math.round(Math.min(8000, 800 + speed * 28 + rng.gauss() * 50));
      return telemetry({ type: 'engine', coolantC: round(coolant, 1), rpm: Math.max(0, rpm) });
    }
    return telemetry(gps());
  };

  const energy = (): Body => ({
    type: 'energy',
    powertrain,
    levelPct: round(level, 1),
    rangeKm: round(level * (powertrain === 'ev' ? 4 : 7), 0),
  });

  return {
    deviceId,
    kind: 'vehicle',
    get nextSeq() {
      return seq;
    },
    next(now: number): SimMessage {
      const { topic, body } = event();
      const s = seq++;
      return { topic, seq: s, payload: { deviceId, seq: s, run, ts: Math.round(now + skew), ...body } };
    },
  };
}
