/**
 * npm run soak -- --minutes N: the fleet with chaos on, for N minutes (default 10), against Outpost
 * mirroring to dc-east and dc-west. Chaos: random device disconnects, bursts and clock skew; every
 * SOAK_CHAOS_EVERY seconds (default 60) one of: `kill -9` of Outpost and a restart on the same ports
 * and data dir, or a broker outage (dc-east or dc-west stopped for 20-40 s). Ends by stopping the
 * fleet, waiting for both datacenters to catch up, and auditing the edge log and both datacenters
 * against what the devices saw acknowledged. Exit code 0 only when all three audits pass.
 * Not part of npm test.
 *
 *   --minutes N         run time (default 10)
 *   SOAK_STB / SOAK_VEHICLES   fleet (default 100 / 30), SOAK_RATE msgs/s per device (default 2)
 *   SOAK_SEED           seed for the fleet and the chaos schedule (default 1)
 *   SOAK_CHAOS          chaos kinds, comma-separated: kill9,dc-east,dc-west (default all three)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/index.ts';
import {
  type AuditRun,
  auditCluster,
  auditEdge,
  fleetConfig,
  formatProgress,
  formatReport,
  mulberry32,
  type OutpostProcess,
  parseQosMix,
  registerFleetInDataDir,
  runFleet,
  startOutpost,
  waitForMirror,
} from '../src/sim/index.ts';
import { type KafkaCluster, startClusters } from '../test/kafka/harness.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' } } });
const MINUTES = Number(values.minutes);
if (!Number.isFinite(MINUTES) || MINUTES <= 0)
  throw new Error(`--minutes must be a positive number, got ${values.minutes}`);
const STB = Number(process.env['SOAK_STB'] ?? 100);
const VEHICLES = Number(process.env['SOAK_VEHICLES'] ?? 30);
const RATE = Number(process.env['SOAK_RATE'] ?? 2);
const SEED = Number(process.env['SOAK_SEED'] ?? 1);
const CHAOS_EVERY_S = Number(process.env['SOAK_CHAOS_EVERY'] ?? 60);
const PASSWORD = 'soak-{deviceId}';
const KINDS = (process.env['SOAK_CHAOS'] ?? 'kill9,dc-east,dc-west').split(',').filter((k) => k !== '');
const say = (s: string) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  if (a === null || typeof a === 'string') throw new Error('no port');
  return a.port;
}

function rssMb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-soak-'));
  const clusters: KafkaCluster[] = await startClusters(['dc-east', 'dc-west']);
  const byName = Object.fromEntries(clusters.map((c) => [c.name, c]));
  const edgeId = `soak-${randomBytes(3).toString('hex')}`;
  // fixed ports: devices reconnect to the same address after Outpost restarts
  const input = fleetConfig({
    edgeId,
    dataDir: join(dir, 'data'),
    clusters: Object.fromEntries(clusters.map((c) => [c.name, c.bootstrap])),
    mqttPort: await freePort(),
    httpPort: await freePort(),
  });
  const configPath = join(dir, 'outpost.json');
  writeFileSync(configPath, JSON.stringify(input, null, 2));
  const config = parseConfig(input, configPath);
  const logFile = join(dir, 'outpost.log');
  let outpost: OutpostProcess = await startOutpost({ configPath, logFile });
  const http = outpost.http as string;
  const port = config.mqtt.listeners[0]?.port as number;
  const events: string[] = [];
  const rng = mulberry32(SEED ^ 0x5eed);
  let chaosTimer: NodeJS.Timeout | null = null;
  let busy = false;
  let rssMax = 0;
  let cleaned: Promise<void> | null = null;
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      if (chaosTimer) clearTimeout(chaosTimer);
      await outpost.stop().catch(() => outpost.kill9());
      for (const c of clusters) {
        await c.stop().catch(() => c.kill());
        await c.destroy();
      }
      if (process.env['SOAK_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
    })());
  // Ctrl-C or SIGTERM: stop everything this soak started before exiting.
  const onSignal = () => {
    say('interrupted: stopping Outpost and the brokers');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await registerFleetInDataDir(config, { stb: STB, vehicles: VEHICLES, password: PASSWORD });
    say(
      `soak: ${MINUTES} min, ${STB} set-top boxes + ${VEHICLES} vehicles at ${RATE} msgs/s each, edge ${edgeId}, dir ${dir}`,
    );

    const chaos = async () => {
      if (busy) return;
      busy = true;
      try {
        rssMax = Math.max(rssMax, rssMb(outpost.pid));
        // kill -9 weighs as much as both outages together
        const weighted = KINDS.flatMap((k) => (k === 'kill9' ? [k, k] : [k]));
        const kind = weighted[Math.floor(rng.next() * weighted.length)] ?? 'kill9';
        if (kind === 'kill9') {
          say('chaos: kill -9 outpost');
          events.push('outpost kill -9');
          await outpost.kill9();
          await new Promise((res) => setTimeout(res, 1000 + rng.int(0, 4000)));
          outpost = await startOutpost({ configPath, logFile });
          say(`chaos: outpost restarted (pid ${outpost.pid})`);
        } else {
          const c = byName[kind] as KafkaCluster;
          const downS = rng.int(20, 40);
          say(`chaos: ${c.name} down for ${downS}s`);
          events.push(`${c.name} outage ${downS}s`);
          await c.stop(30_000).catch(() => c.kill());
          await new Promise((res) => setTimeout(res, downS * 1000));
          await c.start();
          say(`chaos: ${c.name} back`);
        }
      } catch (err) {
        say(`chaos step failed: ${String(err)}`);
        events.push(`chaos failure: ${String(err)}`);
      } finally {
        busy = false;
      }
    };
    const schedule = () => {
      chaosTimer = setTimeout(
        () => {
          void chaos().then(schedule);
        },
        CHAOS_EVERY_S * (0.5 + rng.next()) * 1000,
      );
    };
    schedule();

    let lastLine = 0;
    const { summary, acked } = await runFleet({
      host: '127.0.0.1',
      port,
      stb: STB,
      vehicles: VEHICLES,
      rateStb: RATE,
      rateVehicle: RATE,
      qosMix: parseQosMix('0:0.05,1:0.85,2:0.1'),
      seed: SEED,
      durationMs: MINUTES * 60_000,
      password: PASSWORD,
      chaos: { disconnect: 0.005, burst: { probability: 0.005, size: 30 }, skewMs: 2000 },
      drainTimeoutMs: 120_000,
      onProgress: (p) => {
        if (p.elapsedMs - lastLine >= 15_000) {
          lastLine = p.elapsedMs;
          say(formatProgress(p));
        }
      },
    });
    if (chaosTimer) clearTimeout(chaosTimer);
    while (busy) await new Promise((r) => setTimeout(r, 500));
    say(`fleet done: ${JSON.stringify(summary)}`);
    say('waiting for both datacenters to catch up …');
    await waitForMirror(http, { timeoutMs: 600_000 });
    rssMax = Math.max(rssMax, rssMb(outpost.pid));
    const runs: AuditRun[] = [await auditEdge(config, { acked })];
    for (const dc of ['dc-east', 'dc-west'])
      runs.push(await auditCluster(config, dc, { acked, idleMs: 30_000 }));
    for (const r of runs) say(formatReport(r.report, r.source));
    const ok = runs.every((r) => r.report.verdict === 'pass');
    say('');
    say(
      `soak ${ok ? 'PASS' : 'FAIL'}: ${MINUTES} min; chaos events: ${events.length ? events.join('; ') : 'none'}`,
    );
    say(
      `figures: generated ${summary.generated}, acked ${summary.acked}, device drops ${summary.drops}, re-sent ${summary.retried}, ` +
        `expected duplicates ${runs[0]?.report.duplicates.expected}, PUBACK p99 ${summary.pubackMs?.p99} ms, Outpost RSS max ${rssMax} MB`,
    );
    return ok ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

process.exitCode = await main();
