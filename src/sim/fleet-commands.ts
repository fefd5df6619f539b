import type { CommandReceipt, CommandsRecord, ProducedCommand } from './commands.ts';
import type { SimDevice } from './device.ts';
import type { LatencySamples } from './latency.ts';

/** The fleet's command side: devices subscribe (persistent sessions), a producer writes commands. */
export interface FleetCommands {
  /** Filter each device subscribes to; "{deviceId}" is replaced (default devices/{deviceId}/commands/#). */
  filter?: string;
  /** Subscription QoS (default 1). */
  qos?: 1 | 2;
  /** How long to wait for every subscription before producing (ms, default 30 s). */
  subscribeTimeoutMs?: number;
  /**
   * Called once every subscriber's subscription is granted, while the fleet publishes, with the ids
   * of the subscribed devices (MQTT 3.1.1 ones: MQTT 5 connections cannot subscribe). Returns what
   * it produced; the fleet then waits (drain timeout) until every command that need not expire arrived.
   */
  produce?(deviceIds: string[]): Promise<Map<string, ProducedCommand[]>>;
}

export interface FleetCommandsSummary {
  subscribers: number;
  subscribeRefused: number;
  produced: number;
  mustExpire: number;
  /** Command PUBLISHes received (a redelivery counts again). */
  received: number;
  /** Every command that need not expire arrived before the drain timeout. */
  complete: boolean;
  /** From the producer's send to the device's receipt (needs the two clocks to agree: one machine). */
  latencyMs: { p50: number; p99: number; max: number } | null;
}

export const DEFAULT_COMMAND_FILTER = 'devices/{deviceId}/commands/#';

async function until(cond: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond() && Date.now() < end && !signal?.aborted) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

export async function waitSubscribed(
  devices: readonly SimDevice[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<SimDevice[]> {
  await until(() => devices.every((d) => d.subscribed || d.stats.subscribeRefused > 0), timeoutMs, signal);
  return devices.filter((d) => d.subscribed);
}

/** Whether every produced command that need not expire has been received by its device. */
function allArrived(
  devices: readonly SimDevice[],
  produced: ReadonlyMap<string, ProducedCommand[]>,
): boolean {
  for (const d of devices) {
    const want = produced.get(d.id);
    if (!want) continue;
    const got = new Set(d.received.map((r) => r.id));
    if (!want.every((c) => c.mustExpire || got.has(c.id))) return false;
  }
  return true;
}

export function waitCommands(
  devices: readonly SimDevice[],
  produced: ReadonlyMap<string, ProducedCommand[]>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  return until(() => allArrived(devices, produced), timeoutMs, signal);
}

export function commandsResult(
  run: string,
  subscribers: readonly SimDevice[],
  all: readonly SimDevice[],
  produced: ReadonlyMap<string, ProducedCommand[]>,
  latency: LatencySamples,
  complete: boolean,
): { record: CommandsRecord; summary: FleetCommandsSummary } {
  const received = new Map<string, CommandReceipt[]>(subscribers.map((d) => [d.id, [...d.received]]));
  let nProduced = 0;
  let mustExpire = 0;
  for (const cs of produced.values()) {
    nProduced += cs.length;
    mustExpire += cs.filter((c) => c.mustExpire).length;
  }
  return {
    record: { run, produced: new Map(produced), received },
    summary: {
      subscribers: subscribers.length,
      subscribeRefused: all.reduce((s, d) => s + d.stats.subscribeRefused, 0),
      produced: nProduced,
      mustExpire,
      received: [...received.values()].reduce((s, r) => s + r.length, 0),
      complete,
      latencyMs: latency.summary(),
    },
  };
}

/** With commands: waits for the subscriptions, then starts the producer (it runs beside the uplink). */
export async function startFleetCommands(
  c: FleetCommands | undefined,
  devices: readonly SimDevice[],
  signal?: AbortSignal,
): Promise<{ subscribers: SimDevice[]; producing: Promise<Map<string, ProducedCommand[]>> } | undefined> {
  if (c === undefined) return undefined;
  const candidates = devices.filter((d) => d.receivesCommands);
  const subscribers = await waitSubscribed(candidates, c.subscribeTimeoutMs ?? 30_000, signal);
  const producing = c.produce?.(subscribers.map((d) => d.id)) ?? Promise.resolve(new Map());
  // a failed produce surfaces when awaited; keep it from being an unhandled rejection meanwhile
  producing.catch(() => {});
  return { subscribers, producing };
}
