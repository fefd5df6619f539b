/**
 * npm run bench:mirror-thread — what the mirror's CPU costs the devices, with the mirror in its
 * own thread (mirror.thread true, the default) and in the main thread (false), in the same run.
 *
 * Each step: a fresh data dir pre-filled with a backlog the mirror must send (so it encodes and
 * produces flat out), `outpost run` (child process) mirroring to a private Kafka cluster (KRaft),
 * and a QoS 1 fleet publishing at a fixed rate meanwhile. Reported per mode: acknowledged msgs/s,
 * PUBACK p50 / p99, how many records the mirror acknowledged during the load, and the bytes the
 * service process wrote to storage per message (flash wear: the thread commits its index and cursor
 * writes in transactions of its own, in-process they share the appends' commits). The modes
 * alternate (thread, in-process, thread, …) so drift on a shared machine hits both.
 *
 *   BENCH_MT_RATE      fleet msgs/s (default 1000)
 *   BENCH_MT_SECONDS   seconds of load per step (default 15)
 *   BENCH_MT_BACKLOG   records in the backlog (default 200000, ~300 B each)
 *   BENCH_MT_ROUNDS    rounds of (thread, in-process) (default 1)
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/index.ts';
import { type AppendRecord, openLog } from '../src/log/index.ts';
import { logOptionsFromConfig } from '../src/service/index.ts';
import {
  type FleetSummary,
  fleetConfig,
  mqttTcp,
  parseQosMix,
  registerFleetInDataDir,
  runFleet,
  startOutpost,
} from '../src/sim/index.ts';
import { startCluster } from '../test/kafka/harness.ts';

const RATE = Number(process.env['BENCH_MT_RATE'] ?? 1000);
const SECONDS = Number(process.env['BENCH_MT_SECONDS'] ?? 15);
const BACKLOG = Number(process.env['BENCH_MT_BACKLOG'] ?? 200_000);
const ROUNDS = Number(process.env['BENCH_MT_ROUNDS'] ?? 1);
const STB = 14;
const VEHICLES = 6;
const PASSWORD = 'bench-{deviceId}';
const say = (s: string) => process.stdout.write(`${s}\n`);

interface Step {
  thread: boolean;
  fleet: FleetSummary;
  mirrored: number;
  /** Bytes the service process wrote to storage during the load (log, index, cursors), per acked message. */
  writtenPerMsg: number;
}

async function prefill(config: ReturnType<typeof parseConfig>): Promise<void> {
  const log = await openLog(logOptionsFromConfig(config, 'owner'));
  try {
    const topics = ['stb-events', 'vehicle-telemetry'];
    for (let i = 0; i < BACKLOG; i += 2000) {
      const batch: AppendRecord[] = [];
      for (let j = i; j < Math.min(BACKLOG, i + 2000); j++) {
        batch.push({
          topic: topics[j % 2] as string,
          key: Buffer.from(`dev-${j % 500}`),
          value: Buffer.from(`{"n":${j},"r":"${randomBytes(180).toString('base64url')}"}`),
          headers: { 'device.id': Buffer.from(`dev-${j % 500}`) },
        });
      }
      await log.append(batch);
    }
  } finally {
    await log.close();
  }
}

/** Sum of a metric's series on /metrics. */
async function metric(http: string, name: string): Promise<number> {
  const text = await (await fetch(`${http}metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}
const MIRRORED = 'outpost_mirror_records_total';
const WRITTEN = 'outpost_process_disk_write_bytes_total';

async function step(thread: boolean, bootstrap: string): Promise<Step> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-mt-'));
  try {
    const edgeId = `mt-${randomBytes(3).toString('hex')}`;
    const input = fleetConfig({
      edgeId,
      dataDir: join(dir, 'data'),
      clusters: { 'dc-east': bootstrap },
      overrides: {
        mqtt: {
          listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
          allowAnonymous: false,
          limits: { publishRate: { perSecond: 5000, burst: 10000 }, maxInflightPerClient: 1000 },
        },
      },
    });
    (input as { mirror: { thread?: boolean } }).mirror.thread = thread;
    const configPath = join(dir, 'outpost.json');
    writeFileSync(configPath, JSON.stringify(input));
    const config = parseConfig(input, configPath);
    await prefill(config);
    await registerFleetInDataDir(config, { stb: STB, vehicles: VEHICLES, password: PASSWORD });
    const outpost = await startOutpost({ configPath, logFile: join(dir, 'outpost.log') });
    try {
      const { host, port } = mqttTcp(outpost);
      const http = outpost.http as string;
      const before = await metric(http, MIRRORED);
      const written = await metric(http, WRITTEN);
      const { summary } = await runFleet({
        host,
        port,
        stb: STB,
        vehicles: VEHICLES,
        rateStb: RATE / (STB + VEHICLES),
        rateVehicle: RATE / (STB + VEHICLES),
        qosMix: parseQosMix('1:1'),
        seed: 7,
        durationMs: SECONDS * 1000,
        maxInflightPerDevice: 200,
        password: PASSWORD,
      });
      return {
        thread,
        fleet: summary,
        mirrored: (await metric(http, MIRRORED)) - before,
        writtenPerMsg: Math.round(((await metric(http, WRITTEN)) - written) / Math.max(1, summary.acked)),
      };
    } finally {
      await outpost.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  say(
    `bench:mirror-thread: ${STB + VEHICLES} devices at ${RATE} msgs/s (QoS 1) for ${SECONDS} s while the mirror sends a ${BACKLOG}-record backlog; ${ROUNDS} round(s)`,
  );
  const east = await startCluster({ name: `dc-east-mt-${randomBytes(2).toString('hex')}`, heap: '512m' });
  const steps: Step[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const thread of [true, false]) {
        const s = await step(thread, east.bootstrap);
        steps.push(s);
        say(
          `  mirror.thread ${thread}: acked ${s.fleet.ackedPerSecond}/s, PUBACK p50 ${s.fleet.pubackMs?.p50} / p99 ${s.fleet.pubackMs?.p99} / max ${s.fleet.pubackMs?.max} ms, mirrored ${s.mirrored} records (${Math.round(s.mirrored / SECONDS)}/s), ${s.writtenPerMsg} B written per message`,
        );
      }
    }
  } finally {
    await east.stop().catch(() => east.kill());
    await east.destroy();
  }
  say('');
  say(
    '| mirror.thread | acked msgs/s | PUBACK p50 / p99 / max ms | records mirrored during the load (per s) | disk bytes written per message |',
  );
  say('|---|---:|---:|---:|---:|');
  for (const s of steps) {
    const p = s.fleet.pubackMs;
    say(
      `| ${s.thread} | ${s.fleet.ackedPerSecond} | ${p?.p50} / ${p?.p99} / ${p?.max} | ${s.mirrored} (${Math.round(s.mirrored / SECONDS)}) | ${s.writtenPerMsg} |`,
    );
  }
}

await main();
