/**
 * npm run bench:e2e — the whole path under load, searching for its saturation point: simulator →
 * Outpost (`outpost run`, child process) → dc-east and dc-west (two real Kafka clusters, KRaft).
 * Steps start at 2,000 msgs/s and grow ×1.5 (or follow BENCH_E2E_RATES) until one is not
 * sustained: acknowledged ≥ 95% of target, the fleet drained, the audits of the edge log, dc-east
 * and dc-west all pass, and Outpost's PUBACK p99 below BENCH_E2E_P99_MS. It prints the highest
 * sustained rate as the saturation point and the first failing step with the criteria it missed.
 *
 * Per step: acknowledged msgs/s, PUBACK p50/p99, device→dc-east latency p50/p99 (payload timestamp
 * → visible to a read_committed consumer in dc-east), Outpost's RSS, the bytes Outpost sent to
 * each cluster per record it mirrored there (increase of outpost_mirror_bytes_total over that of
 * outpost_mirror_records_total, from /metrics before and after the step), and the three audits.
 * The peer, measured in the same run with the same fleet and rate, is mosquitto (in-memory: no
 * durable log, no fsync, no mirror): the ratio shows what durability and mirroring cost.
 *
 *   BENCH_E2E_RATES            explicit rates per step, tried in order until one fails
 *   BENCH_E2E_START            first rate of the search (default 2000 msgs/s)
 *   BENCH_E2E_FACTOR           growth per step (default 1.5)
 *   BENCH_E2E_MAX_STEPS        upper bound on steps (default 8)
 *   BENCH_E2E_SECONDS          seconds of load per step (default 20)
 *   BENCH_E2E_DEVICES          devices (70% set-top boxes, 30% vehicles; default 100)
 *   BENCH_E2E_P99_MS           PUBACK p99 bound of a sustained step (default 50)
 *   BENCH_E2E_MIRROR_TIMEOUT_S bound on the wait for both clusters to catch up (default 120)
 *   BENCH_E2E_COMPRESSION      log.topics.*.compression of every topic (default zstd; none, gzip, snappy, lz4)
 *   BENCH_PROFILE=<dir>        V8 CPU profile of the outpost run child (--cpu-prof; its threads too)
 *   BENCH_E2E_KAFKA_DIR=<dir>  where both clusters keep their data (default: a temp dir on the disk
 *                              Outpost fsyncs to; /dev/shm takes their writes off it)
 *   BENCH_E2E_MIRROR_THREAD    "false" runs the links on the main thread (mirror.thread), for an A/B
 *   BENCH_E2E_ACK_COMMIT_MS    mirror.clusters.<c>.ackCommitMs of both links (default: the schema's), for an A/B
 *   BENCH_E2E_COMMIT_WINDOW_MS log.commitWindowMs (default: the schema's), for an A/B
 *   BENCH_E2E_WARMUP_S         seconds of load at the first step's rate before the steps (default 10)
 *   BENCH_E2E_CLUSTER_NICE     niceness of both broker JVMs (default 10; 0 = Outpost's priority). The
 *                              clusters stand in for remote datacenters: on this machine they would
 *                              otherwise take the CPU that a gateway leaves to Outpost
 *   --quick                    20 devices, rates 200 and 400 for 5 s each, both run whatever their verdict (a smoke run)
 *
 * Every step is bounded: the load, at most 30 s for the last PUBACKs, BENCH_E2E_MIRROR_TIMEOUT_S
 * for the mirror, each cluster audit 10 s without news or 10 min at most, then the peer's load.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/index.ts';
import {
  type AuditReport,
  auditCluster,
  auditEdge,
  fleetConfig,
  mqttTcp,
  parseQosMix,
  registerFleetInDataDir,
  remoteTopicName,
  runFleet,
  startOutpost,
  waitForMirror,
} from '../src/sim/index.ts';
import { type KafkaCluster, startClusters } from '../test/kafka/harness.ts';
import { startMosquitto } from './lib/brokers.ts';
import { type LatencyConsumer, startLatencyConsumer } from './lib/e2e-latency.ts';
import {
  bytesPerRecord,
  CLUSTERS,
  e2eSettings,
  failedCriteria,
  insideBetween,
  insideShare,
  mirrorCounters,
  plannedRates,
  type StepResult,
  sentBetween,
  stepTable,
  verdictOf,
} from './lib/e2e-plan.ts';
import { stopOnSignal } from './lib/stop-on-signal.ts';

const S = e2eSettings(process.argv, process.env);
const RATES = plannedRates(S);
const STB = Math.round(S.devices * 0.7);
const VEHICLES = S.devices - STB;
const PASSWORD = 'bench-{deviceId}';
const say = (s: string) => process.stdout.write(`${s}\n`);

function rssMb(pid: number): { rss: number; peak: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

/** An audit's report, or the error that kept it from running (a fail of the step either way). */
const settle = (p: Promise<{ report: AuditReport }>): Promise<AuditReport | string> =>
  p.then(
    (a) => a.report,
    (err: unknown) => (err instanceof Error ? err.message : String(err)),
  );

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-e2e-'));
  say(
    `bench:e2e: ${S.devices} devices (${STB} set-top boxes, ${VEHICLES} vehicles), QoS 1, ${S.seconds}s per step, ` +
      `rates ${RATES.join(', ')} msgs/s ${S.stopAtFailure ? '(stops at the first step not sustained)' : '(smoke run: every step runs)'}, mirror to ${CLUSTERS.join(' + ')}, ` +
      `log compression ${S.compression}, sustained = acked ≥ ${S.ackedShare * 100}% + drained + 3 audits pass + PUBACK p99 < ${S.p99Ms} ms`,
  );
  // BENCH_E2E_KAFKA_DIR: where both clusters keep their data. Default: a temp dir on the disk
  // Outpost's log fsyncs to. On a gateway the clusters are in datacenters, not on its disk.
  const kafkaDir = process.env['BENCH_E2E_KAFKA_DIR'];
  const kafkaRoot = kafkaDir ? mkdtempSync(join(kafkaDir, 'outpost-bench-e2e-kafka-')) : null;
  const clusters: KafkaCluster[] = await startClusters([...CLUSTERS], {
    heap: '448m',
    nice: S.clusterNice,
    ...(kafkaRoot ? { root: kafkaRoot } : {}),
  });
  const bootstrap = Object.fromEntries(clusters.map((c) => [c.name, c.bootstrap]));
  let outpost: Awaited<ReturnType<typeof startOutpost>> | null = null;
  let mosq: Awaited<ReturnType<typeof startMosquitto>> | null = null;
  let latency: LatencyConsumer | null = null;
  let cleaned: Promise<void> | null = null;
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      await latency?.close().catch(() => {});
      await outpost?.stop();
      await mosq?.stop();
      for (const c of clusters) await c.stop().catch(() => c.kill());
      for (const c of clusters) await c.destroy();
      rmSync(dir, { recursive: true, force: true });
      if (kafkaRoot) rmSync(kafkaRoot, { recursive: true, force: true });
    })());
  // Ctrl-C or SIGTERM: stop everything this bench started, then exit 130 (bench/lib/stop-on-signal.ts).
  const off = stopOnSignal('bench:e2e (Outpost, brokers)', cleanup);
  try {
    mosq = await startMosquitto(dir);
    const edgeId = `bench-${randomBytes(3).toString('hex')}`;
    const base = fleetConfig({
      edgeId,
      dataDir: join(dir, 'data'),
      clusters: bootstrap,
      overrides: {
        mqtt: {
          listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
          allowAnonymous: false,
          limits: { publishRate: { perSecond: 5000, burst: 10000 }, maxInflightPerClient: 1000 },
        },
      },
    });
    const ackCommitMs = process.env['BENCH_E2E_ACK_COMMIT_MS']
      ? Number(process.env['BENCH_E2E_ACK_COMMIT_MS'])
      : undefined;
    // BENCH_E2E_COMPRESSION: the codec of every topic's record batches (stored and mirrored as stored).
    const input = {
      ...base,
      log: {
        ...base.log,
        // BENCH_E2E_COMMIT_WINDOW_MS: log.commitWindowMs (default: the schema's), for an A/B.
        ...(process.env['BENCH_E2E_COMMIT_WINDOW_MS']
          ? { commitWindowMs: Number(process.env['BENCH_E2E_COMMIT_WINDOW_MS']) }
          : {}),
        topics: Object.fromEntries(
          Object.entries(base.log.topics).map(([t, c]) => [t, { ...c, compression: S.compression }]),
        ),
      },
      // BENCH_E2E_MIRROR_THREAD=false: the links on the main thread (mirror.thread), for an A/B.
      // BENCH_E2E_ACK_COMMIT_MS: mirror.clusters.<c>.ackCommitMs of both links, for an A/B.
      mirror: {
        ...base.mirror,
        thread: process.env['BENCH_E2E_MIRROR_THREAD'] !== 'false',
        clusters: Object.fromEntries(
          Object.entries(base.mirror?.clusters ?? {}).map(([alias, c]) => [
            alias,
            ackCommitMs === undefined ? c : { ...c, ackCommitMs },
          ]),
        ),
      },
    };
    const configPath = join(dir, 'outpost.json');
    writeFileSync(configPath, JSON.stringify(input));
    const config = parseConfig(input, configPath);
    // BENCH_PROFILE=<dir>: V8 CPU profile of the outpost run child (written on its clean exit).
    const profile = process.env['BENCH_PROFILE'];
    outpost = await startOutpost({
      configPath,
      logFile: join(dir, 'outpost.log'),
      ...(profile ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profile}`] } : {}),
    });
    const http = outpost.http as string;
    const { host, port } = mqttTcp(outpost);
    await registerFleetInDataDir(config, { stb: STB, vehicles: VEHICLES, password: PASSWORD });
    const fleet = (p: number, rate: number, run: string, password?: string) => ({
      host,
      port: p,
      stb: STB,
      vehicles: VEHICLES,
      rateStb: rate / S.devices,
      rateVehicle: rate / S.devices,
      qosMix: parseQosMix('1:1'),
      seed: 7,
      durationMs: S.seconds * 1000,
      drainTimeoutMs: 30_000,
      maxInflightPerDevice: 200,
      run,
      ...(password ? { password } : {}),
    });

    // Warm-up at the first step's rate: creates the remote topics in both clusters (so the latency
    // consumer can subscribe) and lets the brokers' JIT compile the hot paths before any step counts.
    await runFleet({
      ...fleet(port, RATES[0] ?? S.start, `warmup-${edgeId}`, PASSWORD),
      durationMs: S.warmupSeconds * 1000,
    });
    await waitForMirror(http, { timeoutMs: 120_000 });

    // In a worker thread: its decoding must not delay the fleet's PUBACK callbacks.
    latency = await startLatencyConsumer({
      bootstrap: bootstrap['dc-east'] as string,
      groupId: `bench-e2e-${edgeId}`,
      topics: Object.keys(config.log.topics).map((t) => remoteTopicName(edgeId, t)),
    });

    const steps: StepResult[] = [];
    let failing: { step: StepResult; why: string[] } | null = null;
    for (const rate of RATES) {
      const run = `r${rate}-${edgeId}`;
      latency.begin(run);
      const before = await mirrorCounters(http);
      const o = await runFleet(fleet(port, rate, run, PASSWORD));
      const rss = rssMb(outpost.pid);
      let mirrorLagging: string | null = null;
      try {
        await waitForMirror(http, { timeoutMs: S.mirrorTimeoutS * 1000 });
      } catch (err) {
        mirrorLagging = `mirror not caught up within ${S.mirrorTimeoutS} s: ${(err as Error).message}`;
      }
      const after = await mirrorCounters(http);
      await new Promise((r) => setTimeout(r, 1000)); // last records reach the latency consumer
      const edge = await settle(auditEdge(config, { acked: o.acked }));
      const [east, west] = await Promise.all([
        settle(auditCluster(config, 'dc-east', { acked: o.acked })),
        settle(auditCluster(config, 'dc-west', { acked: o.acked })),
      ]);
      const peer = await runFleet(fleet(mosq.port, rate, `peer-${run}`));
      const s: StepResult = {
        rate,
        outpost: o.summary,
        peer: peer.summary,
        e2e: await latency.summary(run),
        rss,
        mirrorLagging,
        audits: { edge, 'dc-east': east, 'dc-west': west },
        sent: sentBetween(before, after),
        inside: insideBetween(before, after),
      };
      steps.push(s);
      const why = failedCriteria(s, S);
      say(
        `  ${rate} msgs/s: outpost acked ${s.outpost.ackedPerSecond}/s PUBACK p99 ${s.outpost.pubackMs?.p99} ms ` +
          `(inside Outpost ${insideShare(s)} within 50 ms) | ` +
          `mosquitto acked ${s.peer.ackedPerSecond}/s PUBACK p99 ${s.peer.pubackMs?.p99} ms | ` +
          `device→dc-east p99 ${s.e2e?.p99} ms | RSS ${rss.rss} MB | ` +
          `sent ${bytesPerRecord(s, 'dc-east')} / ${bytesPerRecord(s, 'dc-west')} B/msg to dc-east / dc-west (${S.compression}) | ` +
          `audit edge ${verdictOf(edge)}, dc-east ${verdictOf(s.audits['dc-east'])}, dc-west ${verdictOf(s.audits['dc-west'])} | ` +
          (why.length === 0 ? 'sustained' : `NOT sustained: ${why.join('; ')}`),
      );
      if (why.length > 0 && failing === null) failing = { step: s, why };
      if (failing !== null && S.stopAtFailure) break;
    }

    say('');
    for (const row of stepTable(steps, S)) say(row);
    // The highest step below the first failing one (all of them sustained).
    const best = steps.slice(0, failing ? steps.indexOf(failing.step) : steps.length).at(-1);
    say('');
    say(`log compression: ${S.compression} (log.topics.*.compression of every topic)`);
    say(
      best
        ? `saturation point: ${best.rate} msgs/s target sustained (Outpost acked ${best.outpost.ackedPerSecond} msgs/s, ` +
            `PUBACK p99 ${best.outpost.pubackMs?.p99} ms, ${bytesPerRecord(best, 'dc-east')} / ${bytesPerRecord(best, 'dc-west')} B/msg ` +
            `sent to dc-east / dc-west); peer mosquitto at that step: ${best.peer.ackedPerSecond} msgs/s`
        : 'saturation point: none (not even the first step was sustained)',
    );
    say(
      failing
        ? `first failing step: ${failing.step.rate} msgs/s, because ${failing.why.join('; ')}`
        : `no step failed within ${RATES.length} steps (BENCH_E2E_MAX_STEPS ${S.maxSteps}): the saturation point is above ${best?.rate} msgs/s`,
    );
  } finally {
    off();
    await cleanup();
  }
}

await main();
