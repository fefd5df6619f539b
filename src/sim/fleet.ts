import { randomBytes } from 'node:crypto';
import type { AckedRecord } from './acked-file.ts';
import type { ProducedCommand } from './commands.ts';
import { type QoS, SimDevice } from './device.ts';
import {
  commandsResult,
  DEFAULT_COMMAND_FILTER,
  startFleetCommands,
  waitCommands,
} from './fleet-commands.ts';
import type { FleetOptions, FleetProgress, FleetResult, QosWeight } from './fleet-types.ts';

export type { FleetOptions, FleetProgress, FleetResult, FleetSummary, QosWeight } from './fleet-types.ts';

import { LatencySamples } from './latency.ts';
import { createGenerator, type DeviceKind, fleetIds } from './payloads/index.ts';
import { deriveSeed, mulberry32, type Rng } from './prng.ts';

const TICK_MS = 10;

export function parseQosMix(text: string): QosWeight[] {
  const mix = text.split(',').map((part) => {
    const m = /^\s*([012])\s*:\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
    if (!m) throw new RangeError(`bad QoS mix entry "${part}" (expected qos:weight, e.g. 0:0.1,1:0.8,2:0.1)`);
    return { qos: Number(m[1]) as QoS, weight: Number(m[2]) };
  });
  if (mix.reduce((s, q) => s + q.weight, 0) <= 0)
    throw new RangeError('QoS mix weights must add up to more than 0');
  return mix;
}

function pickQos(rng: Rng, mix: readonly QosWeight[], total: number): QoS {
  let r = rng.next() * total;
  for (const q of mix) {
    r -= q.weight;
    if (r < 0) return q.qos;
  }
  return (mix.at(-1) as QosWeight).qos;
}

interface Member {
  device: SimDevice;
  rate: number;
  credit: number;
  rng: Rng;
}

/** Whether the device at `index` speaks MQTT 5: every device where the running share steps up. */
export function speaksMqtt5(index: number, share: number): boolean {
  return Math.floor((index + 1) * share) > Math.floor(index * share);
}

/** Counts the generate loop keeps, shared with the progress reporter. */
interface Generation {
  generated: number;
  heldBack: number;
}

function brokerUrl(host: string, port: number): string {
  return `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** One member per device, set-top boxes first, each with its clock skew, protocol level and start phase. */
function buildMembers(
  opts: FleetOptions,
  run: string,
  puback: LatencySamples,
  commandLatency: LatencySamples,
): Member[] {
  const skewRng = mulberry32(deriveSeed(opts.seed, '#skew'));
  const phaseRng = mulberry32(deriveSeed(opts.seed, '#phase'));
  const members: Member[] = [];
  const url = brokerUrl(opts.host, opts.port);
  const add = (kind: DeviceKind, count: number, rate: number) => {
    for (const id of fleetIds(kind, count, opts.idPrefix ?? '')) {
      const skew = opts.chaos?.skewMs ? Math.round(skewRng.float(-opts.chaos.skewMs, opts.chaos.skewMs)) : 0;
      const gen = createGenerator(kind, id, { seed: opts.seed, run, clockSkewMs: skew });
      const mqtt5 = speaksMqtt5(members.length, opts.mqtt5Share ?? 0);
      const c = opts.commands;
      const commands =
        c && !mqtt5
          ? { filter: (c.filter ?? DEFAULT_COMMAND_FILTER).replaceAll('{deviceId}', id), qos: c.qos ?? 1 }
          : undefined;
      const conn = {
        url,
        protocolVersion: mqtt5 ? (5 as const) : (4 as const),
        ...(opts.password !== undefined
          ? { username: id, password: opts.password.replaceAll('{deviceId}', id) }
          : {}),
      };
      const device = new SimDevice(gen, conn, {
        maxInflight: opts.maxInflightPerDevice ?? 100,
        ...(commands ? { commands } : {}),
        hooks: {
          onAck: (_id, ms) => puback.add(ms),
          onCommand: (_id, r, sentAt) => {
            if (!r.dup && Number.isFinite(sentAt)) commandLatency.add(r.at - sentAt);
          },
          ...(opts.onRefused ? { onRefused: opts.onRefused } : {}),
        },
      });
      // a random phase, so devices of one class do not all publish in the same tick
      const credit = phaseRng.next();
      members.push({ device, rate, credit, rng: mulberry32(deriveSeed(opts.seed, `${id}#qos`)) });
    }
  };
  add('stb', opts.stb, opts.rateStb);
  add('vehicle', opts.vehicles, opts.rateVehicle);
  return members;
}

/** Starts every device, ramped over up to 2 s so a big fleet does not open every socket in the same tick. */
async function connectRamped(members: readonly Member[]): Promise<void> {
  const rampMs = Math.min(2_000, members.length * 2);
  await Promise.all(
    members.map(
      (m, i) =>
        new Promise<void>((resolve) =>
          setTimeout(
            () => {
              m.device.start();
              resolve();
            },
            (i * rampMs) / Math.max(1, members.length),
          ),
        ),
    ),
  );
}

function fleetTotals(members: readonly Member[]) {
  let acked = 0;
  let inFlight = 0;
  let connected = 0;
  let drops = 0;
  let refusals = 0;
  let commandsReceived = 0;
  for (const { device } of members) {
    commandsReceived += device.received.length;
    acked += device.acks.acked.size;
    inFlight += device.outstanding;
    if (device.connected) connected++;
    drops += device.stats.drops;
    refusals += device.stats.refusals;
  }
  return { acked, inFlight, connected, drops, refusals, commandsReceived };
}

/** A progress reporter: each call reports the totals and the ack rate since the previous call. */
function progressReporter(opts: FleetOptions, members: readonly Member[], gen: Generation, t0: number) {
  let lastProgress = t0;
  let lastAcked = 0;
  const report = (now: number) => {
    const t = fleetTotals(members);
    const dt = (now - lastProgress) / 1000;
    opts.onProgress?.({
      elapsedMs: now - t0,
      generated: gen.generated,
      acked: t.acked,
      inFlight: t.inFlight,
      connected: t.connected,
      devices: members.length,
      ackRate: dt > 0 ? Math.round((t.acked - lastAcked) / dt) : 0,
      drops: t.drops,
      refusals: t.refusals,
      commandsReceived: t.commandsReceived,
    });
    lastProgress = now;
    lastAcked = t.acked;
  };
  return { report, sinceLast: (now: number) => now - lastProgress };
}

type Progress = ReturnType<typeof progressReporter>;

/** Generates at the configured rates with chaos, token credit per device, TICK_MS at a time, until the bound. */
async function generateLoop(
  opts: FleetOptions,
  members: readonly Member[],
  gen: Generation,
  t0: number,
  progress: Progress,
): Promise<void> {
  const mixTotal = opts.qosMix.reduce((s, q) => s + q.weight, 0);
  const limit = opts.messages ?? Number.POSITIVE_INFINITY;
  const deadline = opts.durationMs === undefined ? Number.POSITIVE_INFINITY : t0 + opts.durationMs;
  const chaosRng = mulberry32(deriveSeed(opts.seed, '#chaos'));
  let last = performance.now();
  while (gen.generated < limit && performance.now() < deadline && !opts.signal?.aborted) {
    await new Promise((r) => setTimeout(r, TICK_MS));
    const now = performance.now();
    const dt = (now - last) / 1000;
    last = now;
    const wall = Date.now();
    for (const m of members) {
      if (gen.generated >= limit) break;
      if (opts.chaos?.disconnect && chaosRng.chance(opts.chaos.disconnect * dt)) m.device.drop();
      m.credit = Math.min(m.credit + m.rate * dt, Math.max(1, m.rate)); // at most 1 s of backlog
      if (opts.chaos?.burst && chaosRng.chance(opts.chaos.burst.probability * dt))
        m.credit += opts.chaos.burst.size;
      while (m.credit >= 1 && gen.generated < limit) {
        if (!m.device.enqueue(pickQos(m.rng, opts.qosMix, mixTotal), wall)) {
          gen.heldBack += Math.floor(m.credit);
          m.credit = 0;
          break;
        }
        m.credit -= 1;
        gen.generated++;
      }
    }
    if (progress.sinceLast(now) >= 1000) progress.report(now);
  }
}

/** Waits for outstanding acknowledgements (bounded by drainTimeoutMs), reporting progress every second. */
async function drain(opts: FleetOptions, members: readonly Member[], progress: Progress): Promise<void> {
  const drainUntil = Date.now() + (opts.drainTimeoutMs ?? 30_000);
  const ticker = setInterval(() => progress.report(performance.now()), 1000);
  try {
    await Promise.all(members.map((m) => m.device.drain(Math.max(0, drainUntil - Date.now()), opts.signal)));
  } finally {
    clearInterval(ticker);
  }
}

interface RunFacts {
  run: string;
  startedAt: Date;
  t0: number;
  genEnd: number;
  gen: Generation;
  end: ReturnType<typeof fleetTotals>;
  puback: LatencySamples;
}

/** The acked record and the summary of a finished run (all devices stopped). */
function summarise(opts: FleetOptions, members: readonly Member[], f: RunFacts): FleetResult {
  const acked: AckedRecord = {
    run: f.run,
    seed: opts.seed,
    startedAt: f.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    devices: new Map(members.map((m) => [m.device.id, m.device.acks])),
  };
  let qos0 = 0;
  let unacked = 0;
  let retried = 0;
  let publishes = 0;
  let connects = 0;
  for (const { device } of members) {
    qos0 += device.acks.qos0.size;
    unacked += device.acks.unacked.size;
    retried += device.acks.retried.size;
    publishes += device.stats.publishes;
    connects += device.stats.connects;
  }
  const genS = (f.genEnd - f.t0) / 1000;
  const totalS = (performance.now() - f.t0) / 1000;
  const { end } = f;
  return {
    acked,
    summary: {
      run: f.run,
      seed: opts.seed,
      devices: {
        stb: opts.stb,
        vehicles: opts.vehicles,
        mqtt5: members.filter((_, i) => speaksMqtt5(i, opts.mqtt5Share ?? 0)).length,
        connectedAtEnd: end.connected,
      },
      generated: f.gen.generated,
      publishes,
      acked: end.acked,
      qos0,
      unacked,
      retried,
      heldBack: f.gen.heldBack,
      drops: end.drops,
      connects,
      refusals: end.refusals,
      durationS: Math.round(totalS * 10) / 10,
      generatedPerSecond: genS > 0 ? Math.round(f.gen.generated / genS) : 0,
      ackedPerSecond: totalS > 0 ? Math.round(end.acked / totalS) : 0,
      pubackMs: f.puback.summary(),
      drained: end.inFlight === 0,
    },
  };
}

/**
 * Runs a fleet: connect (ramped) → generate at the configured rates with chaos → stop generating
 * at the bound → drain outstanding acknowledgements → disconnect → summary + acked record.
 */
export async function runFleet(opts: FleetOptions): Promise<FleetResult> {
  const run = opts.run ?? `sim-${randomBytes(4).toString('hex')}`;
  const startedAt = new Date();
  const puback = new LatencySamples();
  const commandLatency = new LatencySamples();
  const members = buildMembers(opts, run, puback, commandLatency);
  await connectRamped(members);
  const commands = await startFleetCommands(
    opts.commands,
    members.map((m) => m.device),
    opts.signal,
  );

  const t0 = performance.now();
  const gen: Generation = { generated: 0, heldBack: 0 };
  const progress = progressReporter(opts, members, gen, t0);
  await generateLoop(opts, members, gen, t0, progress);
  const genEnd = performance.now();

  const drainUntil = Date.now() + (opts.drainTimeoutMs ?? 30_000);
  await drain(opts, members, progress);
  const end = fleetTotals(members);
  const produced = (await commands?.producing) ?? new Map<string, ProducedCommand[]>();
  const subscribers = commands?.subscribers ?? [];
  const complete =
    commands === undefined ||
    (await waitCommands(subscribers, produced, Math.max(0, drainUntil - Date.now()), opts.signal));
  progress.report(performance.now());
  await Promise.all(members.map((m) => m.device.stop()));
  const result = summarise(opts, members, { run, startedAt, t0, genEnd, gen, end, puback });
  if (commands === undefined) return result;
  const all = members.map((m) => m.device);
  const c = commandsResult(run, subscribers, all, produced, commandLatency, complete);
  return { ...result, summary: { ...result.summary, commands: c.summary }, commands: c.record };
}

export function formatProgress(p: FleetProgress): string {
  return (
    `sim ${(p.elapsedMs / 1000).toFixed(1).padStart(6)}s  sent ${p.generated}  acked ${p.acked}  ` +
    `in flight ${p.inFlight}  rate ${p.ackRate}/s  connected ${p.connected}/${p.devices}` +
    (p.drops ? `  drops ${p.drops}` : '') +
    (p.refusals ? `  refused ${p.refusals}` : '') +
    (p.commandsReceived ? `  commands received ${p.commandsReceived}` : '')
  );
}
