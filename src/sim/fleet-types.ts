/** The fleet's options, progress and result shapes (fleet.ts runs the fleet). */
import type { AckedRecord } from './acked-file.ts';
import type { CommandsRecord } from './commands.ts';
import type { QoS } from './device.ts';
import type { FleetCommands, FleetCommandsSummary } from './fleet-commands.ts';

export interface QosWeight {
  qos: QoS;
  weight: number;
}

export interface FleetOptions {
  host: string;
  port: number;
  /** Number of set-top boxes and vehicles. */
  stb: number;
  vehicles: number;
  /** Messages per second per device, by class. */
  rateStb: number;
  rateVehicle: number;
  qosMix: QosWeight[];
  seed: number;
  /** Stop generating after this long (ms) … */
  durationMs?: number;
  /** … or after this many messages across the fleet (whichever comes first). */
  messages?: number;
  /** Password per device; "{deviceId}" is replaced by the device id. Without it devices connect anonymously. */
  password?: string;
  /** Prefix for device ids (default none: stb-0001, veh-0001). */
  idPrefix?: string;
  /** Outstanding messages per device before it holds back (default 100). */
  maxInflightPerDevice?: number;
  /** Share of the devices (0..1, spread evenly over both classes) that speak MQTT 5; the rest 3.1.1. */
  mqtt5Share?: number;
  chaos?: {
    /** Probability per device per second of an abrupt disconnect. */
    disconnect?: number;
    /** Probability per device per second of a burst of `size` extra messages. */
    burst?: { probability: number; size: number };
    /** Each device's clock is off by a fixed amount in [-skewMs, +skewMs]. */
    skewMs?: number;
  };
  /** Wait at most this long (ms) for outstanding acknowledgements at the end (default 30 s). */
  drainTimeoutMs?: number;
  /** Run id carried in every payload (default random). */
  run?: string;
  /** Cloud-to-device commands: 3.1.1 devices keep persistent sessions and subscribe; see FleetCommands. */
  commands?: FleetCommands;
  /** Called about once a second with the running totals. */
  onProgress?(p: FleetProgress): void;
  onRefused?(deviceId: string, reason: string): void;
  signal?: AbortSignal;
}

export interface FleetProgress {
  elapsedMs: number;
  generated: number;
  acked: number;
  inFlight: number;
  connected: number;
  devices: number;
  /** Acknowledged messages per second over the last progress interval. */
  ackRate: number;
  drops: number;
  refusals: number;
  /** Command PUBLISHes the devices received (with `commands`). */
  commandsReceived: number;
}

export interface FleetSummary {
  run: string;
  seed: number;
  devices: { stb: number; vehicles: number; mqtt5: number; connectedAtEnd: number };
  generated: number;
  publishes: number;
  acked: number;
  qos0: number;
  unacked: number;
  retried: number;
  heldBack: number;
  drops: number;
  connects: number;
  refusals: number;
  durationS: number;
  generatedPerSecond: number;
  ackedPerSecond: number;
  pubackMs: { p50: number; p99: number; max: number } | null;
  drained: boolean;
  commands?: FleetCommandsSummary;
}

export interface FleetResult {
  summary: FleetSummary;
  acked: AckedRecord;
  /** With `commands`: what was produced and what each subscribed device received. */
  commands?: CommandsRecord;
}
