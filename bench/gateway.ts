/**
 * `npm run bench:gateway`: the reference gateway load, and what it costs the flash. 500 devices,
 * each a real mqtt.js client with its own connection, publish one 200-byte QoS 1 message per
 * second for 60 s (bench/lib/gateway-devices.ts, spread over several client processes). The same
 * load is run against each broker in turn, each fresh on loopback:
 *   - outpost:   `outpost run` with config/default.json (what `npm start` runs) on a fresh data
 *                dir; only its listeners are moved to free ports. Durable: fsync before PUBACK.
 *   - mosquitto: Mosquitto 2, `persistence false`. PUBACK from memory; nothing to write.
 *   - artemis:   ActiveMQ Artemis 2.40, NIO journal, fdatasync before PUBACK (bench/peers/artemis).
 * For each it prints messages acknowledged, disk bytes written per acknowledged message (the
 * broker process's write_bytes in /proc/PID/io, from the first publish to the last PUBACK),
 * PUBACK p50/p99 and the TB a year that rate of writing comes to at the reference load.
 *
 * Environment (quick run: BENCH_GATEWAY_DEVICES=100 BENCH_GATEWAY_SECONDS=10 npm run bench:gateway):
 *   BENCH_GATEWAY_DEVICES (500) BENCH_GATEWAY_SECONDS (60) BENCH_GATEWAY_PERIOD_MS (1000: one
 *   message per device per period) BENCH_GATEWAY_PAYLOAD (200) BENCH_GATEWAY_PROCESSES (4: client
 *   processes) BENCH_GATEWAY_PEERS (outpost,mosquitto,artemis: which, in this order)
 *   BENCH_GATEWAY_DRAIN_MS (30000: how long to wait for the last PUBACKs)
 *   BENCH_GATEWAY_OUTPOST_CONFIG=<file.json>: merged over config/default.json, to measure another
 *   Outpost setting (e.g. a commit window) against the same peers; the report names the file
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Broker,
  defaultOutpostConfig,
  mergeConfig,
  outpostStoredBytesPerRecord,
  type StartBroker,
  startMosquitto,
  startOutpost,
} from './lib/brokers.ts';
import type { DevicesJob, DevicesResult } from './lib/gateway-devices.ts';
import { cpuMs, envInt, quantileMs, waitForMessage, writeBytes } from './lib/proc.ts';
import { managedStop, stopOnSignal, stopping } from './lib/stop-on-signal.ts';
import { artemisQueueCount, startArtemis } from './peers/artemis/artemis.ts';

const settings = {
  devices: envInt('BENCH_GATEWAY_DEVICES', 500),
  seconds: envInt('BENCH_GATEWAY_SECONDS', 60),
  periodMs: envInt('BENCH_GATEWAY_PERIOD_MS', 1000),
  payload: envInt('BENCH_GATEWAY_PAYLOAD', 200),
  processes: envInt('BENCH_GATEWAY_PROCESSES', 4),
  drainMs: envInt('BENCH_GATEWAY_DRAIN_MS', 30_000),
};
const SECONDS_PER_YEAR = 365 * 24 * 3600;

/** config/default.json, with BENCH_GATEWAY_OUTPOST_CONFIG (a JSON file) merged over it when set. */
function outpostConfig(): Record<string, unknown> {
  const file = process.env['BENCH_GATEWAY_OUTPOST_CONFIG'];
  if (!file) return defaultOutpostConfig();
  return mergeConfig(
    defaultOutpostConfig(),
    JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>,
  );
}

const PEERS: Record<string, StartBroker> = {
  outpost: (dir) => startOutpost(dir, outpostConfig()),
  mosquitto: startMosquitto,
  artemis: startArtemis,
};

interface GatewayFigures {
  broker: Broker;
  sent: number;
  acked: number;
  unacked: number;
  errors: number;
  /** Messages the broker says it holds after the run (Artemis' durable queue), when known. */
  held: number | null;
  /** What Outpost's log stores per message (/metrics), when known. */
  storedBytesPerMsg: number | null;
  writtenBytes: number | null;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** PUBACK p99 of the messages sent in each 10 s of the run, ms. */
  p99By10s: number[];
  wallMs: number;
  brokerCpuUsPerMsg: number;
}

async function runLoad(broker: Broker, dir: string): Promise<GatewayFigures> {
  const per = Math.ceil(settings.devices / settings.processes);
  const jobs: DevicesJob[] = [];
  for (let first = 0; first < settings.devices; first += per)
    jobs.push({
      port: broker.port,
      first,
      devices: Math.min(per, settings.devices - first),
      fleet: settings.devices,
      periodMs: settings.periodMs,
      seconds: settings.seconds,
      payload: settings.payload,
      drainMs: settings.drainMs,
    });
  const children = jobs.map((job) => {
    const child = fork(join(import.meta.dirname, 'lib/gateway-devices.ts'), [JSON.stringify(job)], {
      stdio: 'inherit',
    });
    const stop = managedStop(`devices ${job.first}+${job.devices}`, child);
    child.once('exit', () => void stop());
    return child;
  });
  await Promise.all(children.map((c) => waitForMessage(c, 'connected')));
  const results = children.map((c) => waitForMessage<{ result: DevicesResult }>(c, 'result'));
  const cpu0 = cpuMs(broker.pid);
  const written0 = writeBytes(broker.pid);
  for (const c of children) c.send('go');
  const rs = (await Promise.all(results)).map((r) => r.result);
  const written1 = writeBytes(broker.pid);
  const cpu = cpuMs(broker.pid) - cpu0;
  const lat = rs.flatMap((r) => r.latenciesUs).sort((a, b) => a - b);
  const acked = rs.reduce((n, r) => n + r.acked, 0);
  const windows: number[][] = [];
  const t0 = Math.min(...rs.map((r) => r.startedAt));
  for (const r of rs)
    r.sentAtMs.forEach((at, i) => {
      const w = Math.floor((r.startedAt - t0 + at) / 10_000);
      const bucket = windows[w] ?? [];
      windows[w] = bucket;
      bucket.push(r.latenciesUs[i] as number);
    });
  return {
    broker,
    sent: rs.reduce((n, r) => n + r.sent, 0),
    acked,
    unacked: rs.reduce((n, r) => n + r.unacked, 0),
    errors: rs.reduce((n, r) => n + r.errors, 0),
    held: broker.name === 'artemis' ? artemisQueueCount(dir) : null,
    storedBytesPerMsg: broker.http ? await outpostStoredBytesPerRecord(broker.http) : null,
    writtenBytes: written0 === null || written1 === null ? null : written1 - written0,
    p50Ms: quantileMs(lat, 0.5),
    p99Ms: quantileMs(lat, 0.99),
    maxMs: (lat.at(-1) ?? 0) / 1000,
    p99By10s: Array.from(windows, (w) =>
      quantileMs(
        (w ?? []).sort((a, b) => a - b),
        0.99,
      ),
    ),
    wallMs: Math.max(...rs.map((r) => r.endedAt)) - Math.min(...rs.map((r) => r.startedAt)),
    brokerCpuUsPerMsg: acked ? (cpu * 1000) / acked : 0,
  };
}

const perMsg = (f: GatewayFigures): number | null =>
  f.writtenBytes === null || f.acked === 0 ? null : f.writtenBytes / f.acked;

/** TB (10^12 bytes) a year at the reference load (every device at its rate), at this cost per message. */
const tbPerYear = (bytesPerMsg: number): number =>
  (((bytesPerMsg * (settings.devices * 1000)) / settings.periodMs) * SECONDS_PER_YEAR) / 1e12;

function report(all: GatewayFigures[]): void {
  const rate = (settings.devices * 1000) / settings.periodMs;
  console.log('');
  console.log(
    `Gateway load: ${settings.devices} devices × one ${settings.payload} B QoS 1 message every ${settings.periodMs} ms (${rate} msg/s), ${settings.seconds} s, ${settings.processes} client processes; disk = write_bytes of the broker process (/proc/PID/io) from the first publish to the last PUBACK`,
  );
  console.log('');
  console.log(
    '| broker | PUBACK promise | sent | acked | unacked | disk bytes / acked msg | PUBACK p50 / p99 / max ms | TB written / year at this load | broker CPU µs / msg |',
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const f of all) {
    const b = perMsg(f);
    console.log(
      `| ${f.broker.name} | ${f.broker.label} | ${f.sent} | ${f.acked} | ${f.unacked}${f.errors ? ` (${f.errors} errors)` : ''} | ${b === null ? 'n/a' : Math.round(b)} | ${f.p50Ms.toFixed(1)} / ${f.p99Ms.toFixed(1)} / ${f.maxMs.toFixed(0)} | ${b === null ? 'n/a' : tbPerYear(b).toFixed(2)} | ${f.brokerCpuUsPerMsg.toFixed(0)} |`,
    );
  }
  console.log('');
  console.log('PUBACK p99 (ms) of the messages sent in each 10 s:');
  for (const f of all)
    console.log(`  ${f.broker.name.padEnd(10)} ${f.p99By10s.map((v) => v.toFixed(0)).join('  ')}`);
  const o = all.find((f) => f.broker.name === 'outpost');
  const a = all.find((f) => f.broker.name === 'artemis');
  const ob = o && perMsg(o);
  const ab = a && perMsg(a);
  if (ob && ab) console.log(`\noutpost/artemis disk bytes per message: ${(ob / ab).toFixed(1)}×`);
  if (a && a.held !== null)
    console.log(`artemis durable queue holds ${a.held} messages after the run (${a.acked} acknowledged)`);
  if (o?.storedBytesPerMsg && ob)
    console.log(
      `outpost's log stores ${Math.round(o.storedBytesPerMsg)} B per message (/metrics); it wrote ${(ob / o.storedBytesPerMsg).toFixed(0)}× that`,
    );
  const over = process.env['BENCH_GATEWAY_OUTPOST_CONFIG'];
  console.log(
    `outpost config: config/default.json${over ? ` with ${over} merged over it` : ''}; ${availableParallelism()} cores; load average at the end ${loadavg()[0]?.toFixed(1)}`,
  );
}

async function main(): Promise<void> {
  const names = (process.env['BENCH_GATEWAY_PEERS'] ?? 'outpost,mosquitto,artemis')
    .split(',')
    .map((s) => s.trim());
  for (const n of names)
    if (!PEERS[n])
      throw new Error(`BENCH_GATEWAY_PEERS: unknown broker "${n}" (outpost, mosquitto, artemis)`);
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-gateway-'));
  stopOnSignal('bench dir', async () => rmSync(dir, { recursive: true, force: true }));
  const all: GatewayFigures[] = [];
  try {
    for (const name of names) {
      const brokerDir = join(dir, name);
      mkdirSync(brokerDir, { recursive: true });
      const broker = await (PEERS[name] as StartBroker)(brokerDir);
      try {
        const f = await runLoad(broker, brokerDir);
        all.push(f);
        const b = perMsg(f);
        console.log(
          `${name.padEnd(10)} ${f.acked}/${f.sent} acked in ${(f.wallMs / 1000).toFixed(1)} s, disk ${b === null ? 'n/a' : `${Math.round(b)} B`}/msg, PUBACK p50 ${f.p50Ms.toFixed(1)} ms p99 ${f.p99Ms.toFixed(1)} ms`,
        );
      } finally {
        await broker.stop();
        rmSync(brokerDir, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  report(all);
}

main().catch((err) => {
  if (stopping()) return; // interrupted: the signal handler exits
  console.error(err);
  process.exitCode = 1;
});
