import { z } from 'zod';

/**
 * Payload schemas of simulated devices (JSON on the wire). Every message carries the envelope:
 * `deviceId`, a per-device `seq` (1, 2, 3, … across all of the device's topics), the simulator's
 * `run` id (so an audit can ignore other runs in the same log) and the device clock `ts` (epoch ms,
 * possibly skewed by --chaos-skew).
 */
const envelope = {
  deviceId: z.string().min(1),
  seq: z.number().int().positive(),
  run: z.string().min(1),
  ts: z.number().int(),
};

// ---- set-top boxes: stb/{deviceId}/events/{type} and stb/{deviceId}/heartbeat ----

export const stbPowerSchema = z
  .object({ ...envelope, type: z.literal('power'), state: z.enum(['on', 'off']) })
  .strict();

export const stbChannelSchema = z
  .object({
    ...envelope,
    type: z.literal('channel'),
    channelId: z.number().int().min(1).max(999),
    previousChannelId: z.number().int().min(1).max(999).nullable(),
    programId: z.string().regex(/^PRG-\d{3}-\d{4}$/),
  })
  .strict();

export const stbAppSchema = z
  .object({
    ...envelope,
    type: z.literal('app'),
    appId: z.string().min(1),
    action: z.enum(['launch', 'exit']),
  })
  .strict();

export const stbPlaybackErrorSchema = z
  .object({
    ...envelope,
    type: z.literal('playback-error'),
    code: z.string().regex(/^E\d{4}$/),
    channelId: z.number().int().min(1).max(999).nullable(),
    message: z.string().min(1),
  })
  .strict();

export const stbHeartbeatSchema = z
  .object({
    ...envelope,
    type: z.literal('heartbeat'),
    powered: z.boolean(),
    uptimeS: z.number().int().min(0),
    signal: z
      .object({
        snrDb: z.number().min(0).max(45),
        strengthDbm: z.number().min(-90).max(-20),
        berE6: z.number().min(0).max(1000),
      })
      .strict(),
  })
  .strict();

export const stbPayloadSchema = z.discriminatedUnion('type', [
  stbPowerSchema,
  stbChannelSchema,
  stbAppSchema,
  stbPlaybackErrorSchema,
  stbHeartbeatSchema,
]);
export type StbPayload = z.infer<typeof stbPayloadSchema>;

// ---- vehicles: vehicles/{deviceId}/telemetry/{kind} and vehicles/{deviceId}/dtc ----

export const vehicleGpsSchema = z
  .object({
    ...envelope,
    type: z.literal('gps'),
    tripId: z.number().int().min(1),
    lat: z.number().min(-90).max(90),
    lon: z.number().min(-180).max(180),
    speedKmh: z.number().min(0).max(200),
    headingDeg: z.number().min(0).lt(360),
  })
  .strict();

export const vehicleEnergySchema = z
  .object({
    ...envelope,
    type: z.literal('energy'),
    powertrain: z.enum(['ice', 'ev']),
    /** Fuel level (ice) or state of charge (ev), percent. */
    levelPct: z.number().min(0).max(100),
    rangeKm: z.number().min(0),
  })
  .strict();

export const vehicleEngineSchema = z
  .object({
    ...envelope,
    type: z.literal('engine'),
    coolantC: z.number().min(-40).max(130),
    rpm: z.number().int().min(0).max(8000),
  })
  .strict();

export const vehicleIgnitionSchema = z
  .object({
    ...envelope,
    type: z.literal('ignition'),
    state: z.enum(['on', 'off']),
    tripId: z.number().int().min(1),
    odometerKm: z.number().min(0),
  })
  .strict();

export const vehicleDtcSchema = z
  .object({
    ...envelope,
    type: z.literal('dtc'),
    code: z.string().regex(/^[PCBU][0-3][0-9A-F]{3}$/),
    severity: z.enum(['info', 'warning', 'critical']),
    milOn: z.boolean(),
  })
  .strict();

export const vehiclePayloadSchema = z.discriminatedUnion('type', [
  vehicleGpsSchema,
  vehicleEnergySchema,
  vehicleEngineSchema,
  vehicleIgnitionSchema,
  vehicleDtcSchema,
]);
export type VehiclePayload = z.infer<typeof vehiclePayloadSchema>;

/** The fields every simulated payload has; what the audit reads back from the log or a cluster. */
export const envelopeSchema = z.object(envelope);
export type Envelope = z.infer<typeof envelopeSchema>;

/** MQTT topic patterns each kind of message uses (they match the routes in config/gateway.example.json). */
export const TOPIC_PATTERNS = {
  stbEvent: /^stb\/([^/]+)\/events\/(power|channel|app|playback-error)$/,
  stbHeartbeat: /^stb\/([^/]+)\/heartbeat$/,
  vehicleTelemetry: /^vehicles\/([^/]+)\/telemetry\/(gps|energy|engine|ignition)$/,
  vehicleDtc: /^vehicles\/([^/]+)\/dtc$/,
} as const;
