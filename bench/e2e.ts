/**
 * npm run bench:e2e — the whole path under load: simulator → Outpost (`outpost run`, child process)
 * → dc-east (real Kafka, KRaft). The fleet is driven at increasing total rates; each step reports
 * acknowledged msgs/s, PUBACK p50/p99, device-to-datacenter latency p99 (payload timestamp → record
 * visible to a read_committed consumer in dc-east), Outpost's RSS, and the audit of the edge log
 * and dc-east for that step's run. The peer, measured in the same run with the same fleet and rate,
 * is mosquitto (in-memory: no durable log, no fsync, no mirror) — the ratio shows what durability
 * and mirroring cost at the broker.
 *
 *   BENCH_E2E_RATES     total msgs/s per step (default 500,1000,2000,4000)
 *   BENCH_E2E_SECONDS   seconds per step (default 20)
 *   BENCH_E2E_DEVICES   devices (70% set-top boxes, 30% vehicles; default 100)
 *   --quick             rates 200,400 for 5 s each with 20 devices (a smoke run)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Consumer } from '@platformatic/kafka';
import { parseConfig } from '../src/config/index.ts';
import {
  auditCluster,
  auditEdge,
  decodeEnvelope,
  type FleetSummary,
  fleetConfig,
  LatencySamples,
  mqttTcp,
  parseQosMix,
  registerFleetInDataDir,
  remoteTopicName,
  runFleet,
  startOutpost,
  waitForMirror,
} from '../src/sim/index.ts';
import { startCluster } from '../test/kafka/harness.ts';

const quick = process.argv.includes('--quick');
const RATES = (process.env['BENCH_E2E_RATES'] ?? (quick ? '200,400' : '500,1000,2000,4000'))
  .split(',')
  .map(Number);
const SECONDS = Number(process.env['BENCH_E2E_SECONDS'] ?? (quick ? 5 : 20));
const DEVICES = Number(process.env['BENCH_E2E_DEVICES'] ?? (quick ? 20 : 100));
const STB = Math.round(DEVICES * 0.7);
const VEHICLES = DEVICES - STB;
const PASSWORD = 'bench-{deviceId}';
const say = (s: string) => process.stdout.write(`${s}\n`);

function rssMb(pid: number): { rss: number; peak: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  if (a === null || typeof a === 'string') throw new Error('no port');
  return a.port;
}

/** mosquitto on a free loopback port, anonymous, in-memory. */
async function startMosquitto(dir: string): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\nmax_queued_messages 0\n`,
  );
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  for (let i = 0; i < 50; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1', () => {
        sock.destroy();
        resolve(true);
      });
      sock.on('error', () => resolve(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

interface Step {
  rate: number;
  outpost: FleetSummary;
  peer: FleetSummary;
  e2e: { p50: number; p99: number; max: number } | null;
  rss: { rss: number; peak: number };
  audit: { edge: string; dc: string };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-e2e-'));
  say(
    `bench:e2e: ${DEVICES} devices (${STB} set-top boxes, ${VEHICLES} vehicles), QoS 1, ${SECONDS}s per step, rates ${RATES.join(', ')} msgs/s`,
  );
  const east = await startCluster({ name: 'dc-east', heap: '512m' });
  const mosq = await startMosquitto(dir);
  const edgeId = `bench-${randomBytes(3).toString('hex')}`;
  const input = fleetConfig({
    edgeId,
    dataDir: join(dir, 'data'),
    clusters: { 'dc-east': east.bootstrap },
    overrides: {
      mqtt: {
        listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
        allowAnonymous: false,
        limits: { publishRate: { perSecond: 5000, burst: 10000 }, maxInflightPerClient: 1000 },
      },
    },
  });
  const configPath = join(dir, 'outpost.json');
  writeFileSync(configPath, JSON.stringify(input));
  const config = parseConfig(input, configPath);
  const outpost = await startOutpost({ configPath, logFile: join(dir, 'outpost.log') });
  let consumer: Consumer | null = null;
  let cleaned: Promise<void> | null = null;
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      await consumer?.close(true).catch(() => {});
      await outpost.stop();
      await mosq.stop();
      await east.stop().catch(() => east.kill());
      await east.destroy();
      rmSync(dir, { recursive: true, force: true });
    })());
  // Ctrl-C or SIGTERM: stop everything this bench started before exiting.
  const onSignal = () => {
    say('interrupted: stopping Outpost, mosquitto and the broker');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const { host, port } = mqttTcp(outpost);
    await registerFleetInDataDir(config, { stb: STB, vehicles: VEHICLES, password: PASSWORD });
    const fleet = (p: number, rate: number, run: string, password?: string) => ({
      host,
      port: p,
      stb: STB,
      vehicles: VEHICLES,
      rateStb: rate / DEVICES,
      rateVehicle: rate / DEVICES,
      qosMix: parseQosMix('1:1'),
      seed: 7,
      durationMs: SECONDS * 1000,
      maxInflightPerDevice: 200,
      run,
      ...(password ? { password } : {}),
    });

    // warm-up: creates the remote topics so the latency consumer can subscribe
    await runFleet({ ...fleet(port, 100, `warmup-${edgeId}`, PASSWORD), durationMs: 2000 });
    await waitForMirror(outpost.http as string, { timeoutMs: 120_000 });

    const e2e = new Map<string, LatencySamples>();
    consumer = new Consumer({
      clientId: 'bench-e2e',
      groupId: `bench-e2e-${edgeId}`,
      bootstrapBrokers: [east.bootstrap],
      isolationLevel: 1,
    });
    const stream = await consumer.consume({
      topics: Object.keys(config.log.topics).map((t) => remoteTopicName(edgeId, t)),
      mode: 'latest',
      isolationLevel: 1,
      autocommit: false,
      maxWaitTime: 100,
    });
    stream.on('data', (m) => {
      const e = decodeEnvelope(m.value);
      if (!e) return;
      const ts = (JSON.parse(m.value.toString()) as { ts: number }).ts;
      e2e.get(e.run)?.add(Date.now() - ts);
    });

    const steps: Step[] = [];
    for (const rate of RATES) {
      const run = `r${rate}-${edgeId}`;
      e2e.set(run, new LatencySamples());
      const o = await runFleet(fleet(port, rate, run, PASSWORD));
      const rss = rssMb(outpost.pid);
      await waitForMirror(outpost.http as string, { timeoutMs: 300_000 });
      await new Promise((r) => setTimeout(r, 1000)); // last records reach the latency consumer
      const edge = await auditEdge(config, { acked: o.acked });
      const dc = await auditCluster(config, 'dc-east', { acked: o.acked });
      const peer = await runFleet(fleet(mosq.port, rate, `peer-${run}`));
      steps.push({
        rate,
        outpost: o.summary,
        peer: peer.summary,
        e2e: e2e.get(run)?.summary() ?? null,
        rss,
        audit: { edge: edge.report.verdict, dc: dc.report.verdict },
      });
      const s = steps.at(-1) as Step;
      say(
        `  ${rate} msgs/s: outpost acked ${s.outpost.ackedPerSecond}/s PUBACK p99 ${s.outpost.pubackMs?.p99} ms | ` +
          `mosquitto acked ${s.peer.ackedPerSecond}/s PUBACK p99 ${s.peer.pubackMs?.p99} ms | ` +
          `device→dc-east p99 ${s.e2e?.p99} ms | RSS ${rss.rss} MB | audit edge ${s.audit.edge}, dc-east ${s.audit.dc}`,
      );
    }
    await stream.close();

    say('');
    say(
      '| target msgs/s | Outpost acked msgs/s | mosquitto acked msgs/s | ratio | Outpost PUBACK p50 / p99 ms | mosquitto PUBACK p50 / p99 ms | p99 ratio | device→dc-east p50 / p99 ms | Outpost RSS (peak) MB | audit edge / dc-east |',
    );
    say('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    for (const s of steps) {
      const ratio = s.peer.ackedPerSecond
        ? (s.outpost.ackedPerSecond / s.peer.ackedPerSecond).toFixed(2)
        : 'n/a';
      const p99 =
        s.peer.pubackMs?.p99 && s.outpost.pubackMs
          ? (s.outpost.pubackMs.p99 / s.peer.pubackMs.p99).toFixed(1)
          : 'n/a';
      say(
        `| ${s.rate} | ${s.outpost.ackedPerSecond} | ${s.peer.ackedPerSecond} | ${ratio} | ${s.outpost.pubackMs?.p50} / ${s.outpost.pubackMs?.p99} | ` +
          `${s.peer.pubackMs?.p50} / ${s.peer.pubackMs?.p99} | ${p99}× | ${s.e2e?.p50} / ${s.e2e?.p99} | ${s.rss.rss} (${s.rss.peak}) | ${s.audit.edge} / ${s.audit.dc} |`,
      );
    }
    const sustained = steps.filter(
      (s) =>
        s.audit.edge === 'pass' &&
        s.audit.dc === 'pass' &&
        s.outpost.ackedPerSecond >= 0.95 * s.rate &&
        s.outpost.drained,
    );
    const best = sustained.at(-1);
    say('');
    say(
      best
        ? `sustained with a passing audit: ${best.outpost.ackedPerSecond} msgs/s (step ${best.rate}); peer mosquitto at that step: ${best.peer.ackedPerSecond} msgs/s`
        : 'no step was sustained (acked < 95% of target, or an audit failed)',
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

await main();
