import type { Rng } from '../prng.ts';
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

type Event = { topic: string; body: Body };

/** Where a vehicle is and what it does between two messages. */
interface VehicleState {
  powertrain: 'ice' | 'ev';
  lat: number;
  lon: number;
  heading: number;
  speed: number;
  targetSpeed: number;
  /** Fuel or state of charge, percent. */
  level: number;
  coolant: number;
  odometer: number;
  driving: boolean;
  tripId: number;
  stepsInTrip: number;
  tick: number;
}

/** A parked vehicle near one of the depots, with random fuel, coolant and mileage. */
function parkedAtDepot(rng: Rng): VehicleState {
  const powertrain: 'ice' | 'ev' = rng.chance(0.35) ? 'ev' : 'ice';
  const depot = rng.pick(DEPOTS);
  return {
    powertrain,
    lat: depot[0] + rng.float(-0.05, 0.05),
    lon: depot[1] + rng.float(-0.08, 0.08),
    heading: rng.float(0, 360),
    speed: 0,
    targetSpeed: 50,
    level: rng.float(30, 100),
    coolant: rng.float(5, 20),
    odometer: rng.float(1_000, 200_000),
    driving: false,
    tripId: 0,
    stepsInTrip: 0,
    tick: 0,
  };
}

/** One STEP_S of driving: speed towards the target, heading drift, position, odometer, energy, coolant. */
function move(v: VehicleState, rng: Rng): void {
  if (rng.chance(0.05)) v.targetSpeed = rng.pick([30, 50, 50, 70, 100, 120]);
  v.speed = Math.max(0, Math.min(200, v.speed + (v.targetSpeed - v.speed) * 0.3 + rng.gauss() * 2));
  v.heading = (((v.heading + rng.gauss() * (v.speed > 80 ? 2 : 8)) % 360) + 360) % 360;
  const meters = (v.speed / 3.6) * STEP_S;
  const rad = (v.heading * Math.PI) / 180;
  v.lat = Math.max(-89.9, Math.min(89.9, v.lat + (Math.cos(rad) * meters) / EARTH_M_PER_DEG_LAT));
  v.lon += (Math.sin(rad) * meters) / (EARTH_M_PER_DEG_LAT * Math.cos((v.lat * Math.PI) / 180));
  v.odometer += meters / 1000;
  v.level = Math.max(0, v.level - (meters / 1000) * (v.powertrain === 'ev' ? 0.18 : 0.12));
  if (v.level < 8 && rng.chance(0.2)) v.level = rng.float(80, 100); // refuelled / recharged
  v.coolant = Math.min(125, v.coolant + (90 - v.coolant) * 0.05 + rng.gauss() * 0.3);
}

const gps = (v: VehicleState): Body => ({
  type: 'gps',
  tripId: Math.max(1, v.tripId),
  lat: round(v.lat, 6),
  lon: round(v.lon, 6),
  speedKmh: round(v.speed, 1),
  headingDeg: round(v.heading, 1) % 360,
});

const energy = (v: VehicleState): Body => ({
  type: 'energy',
  powertrain: v.powertrain,
  levelPct: round(v.level, 1),
  rangeKm: round(v.level * (v.powertrain === 'ev' ? 4 : 7), 0),
});

const telemetry = (deviceId: string, body: Body): Event => ({
  topic: `vehicles/${deviceId}/telemetry/${body.type}`,
  body,
});

const ignition = (v: VehicleState, state: 'on' | 'off'): Body => ({
  type: 'ignition',
  state,
  tripId: v.tripId,
  odometerKm: round(v.odometer, 1),
});

/** Parked: the engine cools down; now and then the ignition goes on and a trip starts. */
function parkedStep(v: VehicleState, rng: Rng, deviceId: string): Event {
  v.coolant = Math.max(-40, v.coolant + (12 - v.coolant) * 0.02);
  if (rng.chance(0.25)) {
    v.driving = true;
    v.tripId++;
    v.stepsInTrip = 0;
    v.targetSpeed = rng.pick([30, 50, 70]);
    return telemetry(deviceId, ignition(v, 'on'));
  }
  return telemetry(deviceId, energy(v));
}

/** Driving: move, then maybe end the trip or raise a trouble code, else energy, engine or a GPS fix. */
function drivingStep(v: VehicleState, rng: Rng, deviceId: string): Event {
  v.stepsInTrip++;
  move(v, rng);
  if (v.stepsInTrip > 60 && rng.chance(0.01)) {
    v.driving = false;
    v.speed = 0;
    return telemetry(deviceId, ignition(v, 'off'));
  }
  if (rng.chance(0.004)) {
    const severity = rng.pick(['info', 'warning', 'warning', 'critical'] as const);
    return {
      topic: `vehicles/${deviceId}/dtc`,
      body: { type: 'dtc', code: rng.pick(DTC_CODES), severity, milOn: severity !== 'info' },
    };
  }
  if (v.tick % 10 === 0) return telemetry(deviceId, energy(v));
  if (v.tick % 5 === 0) {
    const rpm = v.powertrain === 'ev' ? 0 : Math.round(Math.min(8000, 800 + v.speed * 28 + rng.gauss() * 50));
    return telemetry(deviceId, { type: 'engine', coolantC: round(v.coolant, 1), rpm: Math.max(0, rpm) });
  }
  return telemetry(deviceId, gps(v));
}

/**
 * A vehicle: ignition on/off trips; while driving, GPS fixes follow a plausible route (heading
 * drifts smoothly, speed follows a target per road segment with noise, position advances by speed ×
 * time), fuel or state of charge drains with distance, coolant warms up, and rare diagnostic trouble
 * codes appear. Topics: vehicles/{id}/telemetry/{gps|energy|engine|ignition}, vehicles/{id}/dtc.
 */
export function vehicleGenerator(opts: GeneratorOptions): DeviceGenerator {
  const { deviceId, run, rng } = opts;
  const skew = opts.clockSkewMs ?? 0;
  const v = parkedAtDepot(rng);
  let seq = 1;

  const event = (): Event => {
    v.tick++;
    return v.driving ? drivingStep(v, rng, deviceId) : parkedStep(v, rng, deviceId);
  };

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
