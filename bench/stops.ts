/**
 * npm run bench:stops — start/stop cycles of `outpost run` (child process) under QoS 1 device load,
 * mirroring to two real Kafka clusters (KRaft, loopback) with checkpoint rounds every 500 ms, and
 * one broker outage mid-way: cluster stops-b is killed at the middle cycle and started again a few
 * cycles later (its restart overlaps cycles). Each cycle: start → "outpost ready" → devices publish
 * for a random 0.3-3 s → SIGTERM at that random moment → exit. A clean exit is exit code 0, the
 * "stopped cleanly" line, and no active handles in it. Reports clean exits, stop time (SIGTERM →
 * process exit) p50/p99/max, and that every PUBACKed message is in the edge log afterwards.
 *
 * The peer, measured in the same run with the same devices and the same random load time per
 * cycle, is mosquitto (in-memory, no durable log, no mirror): its SIGTERM → exit time.
 *
 *   STOPS_CYCLES   cycles (default 100)
 *   STOPS_DEVICES  publishing devices per cycle (default 5)
 *   STOPS_SEED     seed of the random load times (default 1)
 *   STOPS_VERBOSE  1: print the slowest stop's log lines
 *
 * Exit code 0 only when every cycle exited cleanly and no PUBACKed message is missing.
 * Not part of npm test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { openLog } from '../src/log/index.ts';
import { mulberry32 } from '../src/sim/index.ts';
import { type KafkaCluster, startClusters } from '../test/kafka/harness.ts';
import { startMosquitto } from './lib/brokers.ts';

const CYCLES = Number(process.env['STOPS_CYCLES'] ?? 100);
const DEVICES = Number(process.env['STOPS_DEVICES'] ?? 5);
const SEED = Number(process.env['STOPS_SEED'] ?? 1);
const SHUTDOWN_MS = 20_000; // service.shutdownTimeoutMs default
const MAIN = resolve(import.meta.dirname, '../src/cli/main.ts');
const say = (s: string) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);

interface Proc {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** `outpost run` with its JSON log lines collected. */
function spawnOutpost(configPath: string): Proc {
  const child = spawn(process.execPath, [MAIN, 'run', '--config', configPath], {
    env: { ...process.env, NOTIFY_SOCKET: '', WATCHDOG_USEC: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      try {
        lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      } catch {
        lines.push({ msg: buf.slice(0, nl) });
      }
      buf = buf.slice(nl + 1);
    }
  });
  child.stderr?.resume();
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, lines, exited };
}

async function until<T>(what: string, ms: number, probe: () => T | undefined): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** QoS 1 publishers, 20 in flight each, recording every PUBACKed payload, until stop(). */
async function load(port: number, cycle: string, acked: Set<string>) {
  const clients: MqttClient[] = [];
  let stopped = false;
  for (let d = 0; d < DEVICES; d++) {
    const dev = `${cycle}d${d}`;
    const c = await mqtt.connectAsync({ host: '127.0.0.1', port, clientId: dev, reconnectPeriod: 0 });
    c.on('error', () => {});
    clients.push(c);
    let n = 0;
    let inflight = 0;
    const next = () => {
      while (!stopped && c.connected && inflight < 20) {
        const id = `${dev}:${n++}`;
        inflight++;
        c.publish(`a/${dev}/t`, id, { qos: 1 }, (err) => {
          inflight--;
          if (!err) acked.add(id);
          setImmediate(next);
        });
      }
    };
    next();
  }
  return () => {
    stopped = true;
    for (const c of clients) c.end(true);
  };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-stops-'));
  const rnd = mulberry32(SEED);
  say(
    `bench:stops: ${CYCLES} cycles, ${DEVICES} QoS 1 devices, seed ${SEED}; starting Kafka stops-a, stops-b`,
  );
  const [a, b] = (await startClusters(['stops-a', 'stops-b'])) as [KafkaCluster, KafkaCluster];
  const dataDir = join(dir, 'data');
  const topics = { a: { partitions: 2 } };
  const cluster = { topics: { include: ['a'] }, checkpointIntervalMs: 500, produceTimeoutMs: 5_000 };
  const configPath = join(dir, 'outpost.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      edgeId: `stops-${randomBytes(3).toString('hex')}`,
      dataDir,
      log: { topics, minFreeBytes: 0 },
      mqtt: { listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }], allowAnonymous: 'loopback' },
      routes: [{ match: 'a/{deviceId}/#', topic: 'a', key: '{deviceId}' }],
      http: { host: '127.0.0.1', port: 0 },
      service: { shutdownTimeoutMs: SHUTDOWN_MS },
      mirror: {
        clusters: {
          'stops-a': { ...cluster, bootstrap: a.bootstrap },
          'stops-b': { ...cluster, bootstrap: b.bootstrap },
        },
      },
    }),
  );
  let current: Proc | undefined;
  const cleanup = async () => {
    current?.child.kill('SIGKILL');
    await Promise.all([a.destroy(), b.destroy()]);
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = () => {
    say('interrupted: stopping Outpost and the brokers');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const outageAt = Math.floor(CYCLES / 2);
  const backAt = outageAt + Math.max(2, Math.floor(CYCLES / 10));
  let restarting: Promise<void> | undefined;
  const acked = new Set<string>();
  const stops: number[] = [];
  const peerStops: number[] = [];
  const unclean: string[] = [];
  let slowest = { ms: 0, cycle: -1, steps: {} as unknown, lines: [] as Array<Record<string, unknown>> };
  try {
    for (let i = 0; i < CYCLES; i++) {
      if (i === outageAt) {
        say(`cycle ${i}: broker outage: stops-b killed`);
        await b.kill();
      }
      if (i === backAt) {
        say(`cycle ${i}: stops-b starting again (its restart overlaps the next cycles)`);
        restarting = b.start();
      }
      const loadMs = rnd.int(300, 3_000);
      const p = spawnOutpost(configPath);
      current = p;
      await until('outpost ready', 60_000, () =>
        p.lines.find((l) => String(l['msg']).startsWith('outpost ready')),
      );
      const listening = p.lines.find((l) => l['msg'] === 'ingest listening') as
        | { addresses: Array<{ type: string; port: number }> }
        | undefined;
      const port = listening?.addresses.find((x) => x.type === 'tcp')?.port as number;
      const stopLoad = await load(port, `o${i}`, acked);
      await new Promise((r) => setTimeout(r, loadMs));
      const t0 = performance.now();
      p.child.kill('SIGTERM');
      const code = await Promise.race([
        p.exited,
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), SHUTDOWN_MS + 15_000)),
      ]);
      const ms = performance.now() - t0;
      stopLoad();
      if (code === 'hung') p.child.kill('SIGKILL');
      const clean = p.lines.find((l) => l['msg'] === 'stopped cleanly');
      const handles = Object.keys((clean?.['activeResources'] as object | undefined) ?? { none: 1 });
      if (ms > slowest.ms) {
        const from = p.lines.findIndex((l) => l['msg'] === 'stop requested: draining');
        slowest = { ms, cycle: i, steps: clean?.['stepsMs'] ?? {}, lines: p.lines.slice(from) };
      }
      if (code === 0 && clean && handles.length === 0) stops.push(ms);
      else {
        const why = `cycle ${i}: exit ${code}, ${clean ? `handles ${handles.join(',')}` : 'no "stopped cleanly"'}`;
        unclean.push(why);
        say(why);
      }

      // The peer: mosquitto, same devices, same load time.
      const m = await startMosquitto(dir);
      const stopPeer = await load(m.port, `m${i}`, new Set());
      await new Promise((r) => setTimeout(r, loadMs));
      const m0 = performance.now();
      await m.stop(); // SIGTERM, then the wait for its exit
      peerStops.push(performance.now() - m0);
      stopPeer();
      if ((i + 1) % 10 === 0 || i === CYCLES - 1)
        say(`${i + 1}/${CYCLES} cycles, ${stops.length} clean, last stop ${Math.round(ms)} ms`);
    }
    await restarting;

    // Every PUBACKed message is in the edge log (read as a second, reader handle).
    const log = await openLog({
      dataDir,
      topics: { a: { partitions: 2, retentionMs: 7 * 86_400_000, retentionBytes: 1024 ** 3 } },
      maxBytes: 8 * 1024 ** 3,
      onFull: 'reject',
      role: 'reader',
    });
    const stored = new Set<string>();
    for (let part = 0; part < 2; part++) {
      for (let off = 0; ; ) {
        const batch = log.read('a', part, off, { maxRecords: 5000 });
        if (batch.length === 0) break;
        for (const r of batch) stored.add(r.value.toString());
        off = (batch.at(-1)?.offset ?? off) + 1;
      }
    }
    await log.close();
    const lost = [...acked].filter((id) => !stored.has(id)).length;

    const f = (xs: number[]) =>
      `p50 ${Math.round(pct(xs, 50))} ms, p99 ${Math.round(pct(xs, 99))} ms, max ${Math.round(Math.max(...xs))} ms`;
    say('--- result');
    say(`clean exits: ${stops.length} of ${CYCLES} (exit 0, "stopped cleanly", no active handles)`);
    say(`PUBACKed messages: ${acked.size}, missing from the edge log: ${lost}`);
    say(`outpost stop time (SIGTERM → exit, under load, outage at cycle ${outageAt}-${backAt}): ${f(stops)}`);
    say(`peer mosquitto stop time (same devices and load times, in-memory): ${f(peerStops)}`);
    say(`ratio outpost/mosquitto stop time p50: ${(pct(stops, 50) / pct(peerStops, 50)).toFixed(1)}x`);
    say(
      `slowest stop: cycle ${slowest.cycle}, ${Math.round(slowest.ms)} ms, steps ${JSON.stringify(slowest.steps)}`,
    );
    if (process.env['STOPS_VERBOSE'] === '1') for (const l of slowest.lines) say(`  ${JSON.stringify(l)}`);
    for (const u of unclean) say(`unclean: ${u}`);
    process.exitCode = unclean.length === 0 && lost === 0 ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

await main();
