/**
 * `npm run demo`: two local Kafka clusters (dc-east, dc-west) → Outpost (`outpost run`, demo config
 * in a temp dir) → a fleet of 200 set-top boxes and 50 vehicles. A live view shows, per log topic,
 * the ingest rate and edge end offset, and per datacenter the mirror lag. After DEMO_OUTAGE_AFTER
 * seconds (or on key "o") dc-west is stopped for DEMO_OUTAGE_SECONDS and restarted: its backlog grows
 * and drains. Meanwhile a central app sends commands to the devices (DEMO_COMMANDS rounds, one
 * command per 3.1.1 device every 3 s, to both datacenters while both are up): the gateway reads them
 * from dc-west, so the outage makes it fail over to dc-east, and the commands keep arriving. The demo
 * ends with an audit of the edge log and both datacenters, and of the downlink. Ctrl-C (or "q")
 * stops everything it started.
 *
 * Environment: DEMO_SECONDS (fleet run time, default 150), DEMO_STB (200), DEMO_VEHICLES (50),
 * DEMO_OUTAGE_AFTER (30), DEMO_OUTAGE_SECONDS (30), DEMO_COMMANDS (rounds, 30), DEMO_KEEP=1 keeps
 * the temp dir.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/index.ts';
import {
  type AuditRun,
  auditCluster,
  auditCommands,
  auditEdge,
  type CommandsRecord,
  type FleetProgress,
  fetchStatus,
  fleetConfig,
  formatDownlinkReport,
  formatProgress,
  formatReport,
  mergeProduced,
  mirrorLag,
  mqttTcp,
  type OutpostProcess,
  type ProducedCommand,
  parseQosMix,
  produceCommands,
  registerFleetInDataDir,
  runFleet,
  type StatusSnapshot,
  startOutpost,
  waitForMirror,
} from '../src/sim/index.ts';
import { createTopic } from '../test/kafka/client.ts';
import { type KafkaCluster, startClusters } from '../test/kafka/harness.ts';

const env = (name: string, def: number): number => {
  const v = process.env[name];
  const n = v === undefined || v === '' ? def : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${v}"`);
  return n;
};
const SECONDS = env('DEMO_SECONDS', 150);
const STB = env('DEMO_STB', 200);
const VEHICLES = env('DEMO_VEHICLES', 50);
const OUTAGE_AFTER = env('DEMO_OUTAGE_AFTER', 30);
const OUTAGE_SECONDS = env('DEMO_OUTAGE_SECONDS', 30);
const COMMAND_ROUNDS = env('DEMO_COMMANDS', 30);
const PASSWORD = 'demo-{deviceId}';
const tty = process.stdout.isTTY === true;
const say = (s: string) => process.stdout.write(`${s}\n`);

// ---- state that cleanup must undo ----
let clusters: KafkaCluster[] = [];
let outpost: OutpostProcess | null = null;
let dir: string | null = null;
let view: NodeJS.Timeout | null = null;
let outageTimer: NodeJS.Timeout | null = null;
const fleetAbort = new AbortController();
let stopping = false;

async function cleanup(): Promise<void> {
  if (view) clearInterval(view);
  if (outageTimer) clearTimeout(outageTimer);
  if (process.stdin.isTTY) process.stdin.setRawMode(false);
  process.stdin.pause();
  if (outpost) {
    say('demo: stopping outpost …');
    await outpost.stop(20_000).catch(() => outpost?.kill9());
  }
  for (const c of clusters) {
    say(`demo: stopping ${c.name} …`);
    await c.stop(30_000).catch(() => c.kill());
    await c.destroy().catch(() => {});
  }
  if (dir && process.env['DEMO_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
  else if (dir) say(`demo: kept ${dir}`);
}

function onInterrupt(): void {
  if (stopping) {
    say('demo: second interrupt: killing everything now');
    outpost?.child.kill('SIGKILL');
    for (const c of clusters) void c.kill();
    process.exit(130);
  }
  stopping = true;
  say('\ndemo: interrupted; stopping the fleet and everything the demo started (Ctrl-C again to kill)');
  fleetAbort.abort();
}

// ---- outage of dc-west ----
let outage: { phase: 'none' | 'down' | 'restarting' | 'done'; at: number } = { phase: 'none', at: 0 };
function startOutage(): void {
  const west = clusters.find((c) => c.name === 'dc-west');
  if (!west || outage.phase !== 'none' || stopping) return;
  outage = { phase: 'down', at: Date.now() };
  void west.stop(30_000).then(() => {
    outageTimer = setTimeout(() => {
      outage = { phase: 'restarting', at: Date.now() };
      void west.start().then(
        () => {
          outage = { phase: 'done', at: Date.now() };
        },
        (err: unknown) => say(`demo: dc-west failed to restart: ${String(err)}`),
      );
    }, OUTAGE_SECONDS * 1000);
  });
}

// ---- live view ----
/** Edge end offsets per topic over the last few seconds, for a smoothed rate. */
const history = new Map<string, Array<{ end: number; at: number }>>();
let lastFleet: FleetProgress | null = null;
const sent = { commands: 0 };
let consuming = '?';
/** The cluster the command consumer reads, from outpost_commands_consuming{cluster} on /metrics. */
async function consumingCluster(httpBase: string): Promise<string> {
  const text = await (
    await fetch(new URL('metrics', httpBase), { signal: AbortSignal.timeout(3_000) })
  ).text();
  return /^outpost_commands_consuming\{cluster="([^"]+)"\} 1$/m.exec(text)?.[1] ?? 'none';
}
function render(s: StatusSnapshot | null, statusUrl: string): string {
  const lines: string[] = [];
  lines.push(`Outpost demo — edge ${s?.edgeId ?? '?'} — status page ${statusUrl}`);
  lines.push(lastFleet ? formatProgress(lastFleet) : 'fleet: connecting …');
  lines.push('');
  lines.push(`${'TOPIC'.padEnd(20)} ${'MSGS/S'.padStart(8)} ${'EDGE END OFFSET'.padStart(16)}`);
  const now = Date.now();
  for (const t of s?.topics ?? []) {
    const end = t.partitions.reduce((n, p) => n + p.endOffset, 0);
    const h = history.get(t.topic) ?? [];
    h.push({ end, at: now });
    while (h.length > 2 && now - (h[0]?.at ?? now) > 5_000) h.shift();
    history.set(t.topic, h);
    const first = h[0] ?? { end, at: now };
    const rate = now > first.at ? ((end - first.end) * 1000) / (now - first.at) : 0;
    lines.push(`${t.topic.padEnd(20)} ${rate.toFixed(1).padStart(8)} ${String(end).padStart(16)}`);
  }
  lines.push('');
  lines.push(
    `${'DATACENTER'.padEnd(12)} ${'STATE'.padEnd(14)} ${'LAG RECORDS'.padStart(12)} ${'LAG SECONDS'.padStart(12)}`,
  );
  for (const [dc, lag] of Object.entries(s ? mirrorLag(s) : {})) {
    lines.push(
      `${dc.padEnd(12)} ${lag.state.padEnd(14)} ${String(lag.records).padStart(12)} ${lag.seconds.toFixed(1).padStart(12)}`,
    );
  }
  const o = outage;
  const since = Math.round((Date.now() - o.at) / 1000);
  lines.push('');
  lines.push(
    `commands: ${sent.commands} sent, ${lastFleet?.commandsReceived ?? 0} received by devices; gateway reads them from ${consuming}`,
  );
  lines.push(
    o.phase === 'none'
      ? `dc-west outage: press "o" now, or automatically after ${OUTAGE_AFTER}s. "q" or Ctrl-C stops.`
      : o.phase === 'down'
        ? `dc-west is DOWN for ${since}s of ${OUTAGE_SECONDS}s: its backlog grows at the edge.`
        : o.phase === 'restarting'
          ? `dc-west restarting (${since}s) …`
          : `dc-west is back since ${since}s: watch its lag drain.`,
  );
  return lines.join('\n');
}

/**
 * The central app: a round of one command per device every 3 s, each to every datacenter that is
 * up (during the outage dc-east only), for COMMAND_ROUNDS rounds or until the fleet stops.
 */
async function centralApp(
  edgeId: string,
  devices: string[],
  bootstrap: Record<string, string>,
): Promise<Map<string, ProducedCommand[]>> {
  const all = new Map<string, ProducedCommand[]>();
  for (let round = 1; round <= COMMAND_ROUNDS && !fleetAbort.signal.aborted && !stopping; round++) {
    const westUp = outage.phase === 'none' || outage.phase === 'done';
    const up = Object.entries(bootstrap).filter(([n]) => n === 'dc-east' || westUp);
    const round1 = (to: Array<[string, string]>) =>
      produceCommands({
        clusters: Object.fromEntries(to.map(([n, b]) => [n, [b]])),
        topic: `commands.${edgeId}`,
        devices,
        perDevice: 1,
        firstSeq: round,
        run: 'demo',
      });
    // dc-west may go down in the middle of a round: that round goes again to dc-east alone (the
    // commands keep their ids, so a second copy on dc-east is skipped by the gateway)
    const produced = await round1(up).catch(() => round1(up.filter(([n]) => n === 'dc-east')));
    mergeProduced(all, produced);
    sent.commands += devices.length;
    await new Promise((r) => setTimeout(r, 3_000));
  }
  return all;
}

async function main(): Promise<number> {
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  dir = mkdtempSync(join(tmpdir(), 'outpost-demo-'));
  say('demo: starting Kafka clusters dc-east and dc-west (KRaft, one broker each) …');
  clusters = await startClusters(['dc-east', 'dc-west']);
  const byName = Object.fromEntries(clusters.map((c) => [c.name, c.bootstrap]));
  if (stopping) return 130;

  const edgeId = `demo-${Date.now().toString(36)}`;
  const input = fleetConfig({
    edgeId,
    dataDir: join(dir, 'data'),
    clusters: byName,
    overrides: {
      mqtt: {
        listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
        allowAnonymous: false,
        sessions: { enabled: true },
      },
      // dc-west first: its outage is the one that makes the command consumer fail over
      commands: {
        enabled: true,
        clusters: ['dc-west', 'dc-east'],
        failoverAfterMs: 3_000,
        outcomesTopic: 'commands.outcomes.{edgeId}',
      },
    },
  });
  // the central side exists before the gateway starts (else it would fail over at once)
  for (const b of Object.values(byName)) {
    await createTopic(b, `commands.${edgeId}`, { partitions: 4 });
    await createTopic(b, `commands.outcomes.${edgeId}`, { partitions: 2 });
  }
  const configPath = join(dir, 'outpost.json');
  writeFileSync(configPath, JSON.stringify(input, null, 2));
  const config = parseConfig(input, configPath);
  say(`demo: starting outpost (config ${configPath}, log ${join(dir, 'outpost.log')}) …`);
  outpost = await startOutpost({ configPath, logFile: join(dir, 'outpost.log') });
  const statusUrl = outpost.http ?? '(no admin HTTP)';
  const { host, port } = mqttTcp(outpost);
  say(`demo: outpost ready: MQTT ${host}:${port}, status page ${statusUrl}`);

  say(`demo: registering ${STB} set-top boxes and ${VEHICLES} vehicles …`);
  const reg = await registerFleetInDataDir(config, { stb: STB, vehicles: VEHICLES, password: PASSWORD });
  say(`demo: registered ${reg.added} device(s)`);
  if (stopping) return 130;

  if (process.stdin.isTTY) {
    process.stdin.setRawMode(true);
    process.stdin.resume();
    process.stdin.on('data', (b: Buffer) => {
      const k = b.toString();
      if (k === 'o' || k === 'O') startOutage();
      if (k === 'q' || k === '\u0003') onInterrupt();
    });
  }
  outageTimer = setTimeout(startOutage, OUTAGE_AFTER * 1000);
  let lastPlain = 0;
  view = setInterval(() => {
    void consumingCluster(statusUrl).then(
      (c) => {
        consuming = c;
      },
      () => {},
    );
    void fetchStatus(statusUrl)
      .catch(() => null)
      .then((s) => {
        const text = render(s, statusUrl);
        if (tty) process.stdout.write(`\x1b[H\x1b[2J${text}\n`);
        else if (Date.now() - lastPlain >= 5_000) {
          lastPlain = Date.now();
          say(`${text}\n`);
        }
      });
  }, 1000);

  const { summary, acked, commands } = await runFleet({
    host,
    port,
    stb: STB,
    vehicles: VEHICLES,
    rateStb: 0.5,
    rateVehicle: 1,
    qosMix: parseQosMix('0:0.1,1:0.8,2:0.1'),
    seed: 2026,
    durationMs: SECONDS * 1000,
    password: PASSWORD,
    chaos: { disconnect: 0.002 },
    signal: fleetAbort.signal,
    commands: { produce: (devices) => centralApp(edgeId, devices, byName) },
    onProgress: (p) => {
      lastFleet = p;
    },
  });
  if (outageTimer) clearTimeout(outageTimer);
  if (stopping) return 130;
  say('\ndemo: fleet finished:');
  say(JSON.stringify(summary));

  // an outage still in progress ends first, so both datacenters can catch up
  while (outage.phase === 'down' || outage.phase === 'restarting') {
    if (stopping) return 130;
    await new Promise((r) => setTimeout(r, 500));
  }
  say('demo: waiting for both datacenters to catch up …');
  await waitForMirror(statusUrl, { timeoutMs: 300_000 });
  if (view) clearInterval(view);
  view = null;

  say('demo: auditing the edge log, dc-east and dc-west against what the devices saw acknowledged …');
  const runs: AuditRun[] = [await auditEdge(config, { acked })];
  for (const dc of ['dc-east', 'dc-west']) runs.push(await auditCluster(config, dc, { acked }));
  for (const r of runs) say(formatReport(r.report, r.source));
  const down = await auditCommands(config, commands as CommandsRecord);
  say(formatDownlinkReport(down.report, down.source));
  const ok = runs.every((r) => r.report.verdict === 'pass') && down.report.verdict === 'pass';
  say(
    ok
      ? '\ndemo: PASS — nothing lost, nothing out of order, no unexpected duplicates, both ways.'
      : '\ndemo: FAIL (see above)',
  );
  return ok ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  const debug = process.env['OUTPOST_DEBUG'] === '1';
  say(
    `demo: failed: ${err instanceof Error ? (debug ? (err.stack ?? err.message) : err.message) : String(err)}`,
  );
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);
