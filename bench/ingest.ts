/**
 * `npm run bench:ingest`: MQTT QoS 1 ingest throughput, PUBACK latency, broker memory and disk
 * writes per message. Outpost (`outpost run`, durable LMDB append before every PUBACK) against
 * two peers in the same run with the same load:
 *   - Debian's Mosquitto 2 (`persistence false`: acknowledges from memory), the speed peer;
 *   - ActiveMQ Artemis 2.40 (NIO journal, fdatasync before PUBACK; bench/peers/artemis), the
 *     durable peer.
 * Printed as ratios, with the peers' names.
 *
 * Load: BENCH_WORKERS load-generator processes × BENCH_CONNECTIONS mqtt.js connections each, every
 * connection keeping BENCH_WINDOW QoS 1 publishes of BENCH_PAYLOAD bytes in flight, BENCH_MESSAGES
 * in total (bench/lib/load-worker.ts). Memory: broker RSS at peak, and RSS per idle connection
 * with BENCH_IDLE connected clients (default 5,000; not measured for the JVM). Disk: write_bytes
 * of the broker process (/proc/PID/io) over the load, per acknowledged message.
 *
 * Environment (quick run: BENCH_MESSAGES=20000 BENCH_IDLE=500 npm run bench:ingest):
 *   BENCH_MESSAGES (200000) BENCH_WORKERS (4) BENCH_CONNECTIONS (25) BENCH_WINDOW (16)
 *   BENCH_PAYLOAD (200) BENCH_IDLE (5000) BENCH_ROUNDS (1: alternate brokers this many times)
 *   BENCH_AEDES (1; 0 = skip the bare-aedes framework floor, see startAedes)
 *   BENCH_ARTEMIS (1; 0 = skip the durable peer, e.g. where Java 17 or Maven is missing)
 *   BENCH_MQTT (4; 5 = every load connection speaks MQTT 5: Outpost's MQTT 5 handler, Mosquitto's
 *   MQTT 5, Artemis' MQTT 5; aedes 1.x has no MQTT 5, so the bare-aedes floor is skipped)
 *   BENCH_INGEST_OUTPOST_CONFIG=<file.json>: merged over Outpost's bench config (another setting, same peers)
 *   BENCH_PROFILE=<dir>: V8 CPU profile of the Outpost process (--cpu-prof; written on its clean exit)
 *
 * Besides throughput it reports CPU: the broker's (from /proc, per acknowledged message) and the
 * load generators' (process.cpuUsage). With few cores the generators compete with the broker; when
 * throughput is bounded by them, broker CPU per message is the figure that compares the brokers.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ingestOutpostConfig,
  type StartBroker,
  startAedes,
  startMosquitto,
  startOutpost,
} from './lib/brokers.ts';
import { type LoadFigures, loadSettings, measureIdle, measureLoad } from './lib/ingest-load.ts';
import { BENCH_PROTOCOL } from './lib/load-worker.ts';
import { envInt } from './lib/proc.ts';
import { stopOnSignal, stopping } from './lib/stop-on-signal.ts';
import { startArtemis } from './peers/artemis/artemis.ts';

const mib = (b: number): string => `${(b / 1024 ** 2).toFixed(1)} MiB`;
const kib = (b: number | null): string => (b === null ? 'n/a' : `${(b / 1024).toFixed(2)} KiB`);

const outpost: StartBroker = (dir) => startOutpost(dir, ingestOutpostConfig());
const LABEL: Record<string, string> = {
  outpost: 'outpost (durable before PUBACK)',
  mosquitto: 'mosquitto 2 (persistence false)',
  artemis: 'artemis 2.40 (journal fdatasync)',
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-ingest-'));
  stopOnSignal('bench dir', async () => rmSync(dir, { recursive: true, force: true }));
  const rounds = envInt('BENCH_ROUNDS', 1);
  const withAedes = process.env['BENCH_AEDES'] !== '0' && BENCH_PROTOCOL === 4;
  const withArtemis = process.env['BENCH_ARTEMIS'] !== '0';
  const figures: Record<string, LoadFigures[]> = { outpost: [], mosquitto: [], artemis: [], aedes: [] };
  const idle: Record<string, number> = {};
  try {
    for (let round = 0; round < rounds; round++) {
      // Alternate which broker goes first, so none always gets the warmer (or quieter) slot.
      const order: StartBroker[] = [startMosquitto, outpost, ...(withArtemis ? [startArtemis] : [])];
      if (round % 2 === 1) order.reverse();
      if (withAedes) order.push(startAedes);
      for (const start of order) {
        const roundDir = join(dir, `r${round}-${order.indexOf(start)}`);
        mkdirSync(roundDir, { recursive: true });
        const broker = await start(roundDir);
        try {
          const f = await measureLoad(broker);
          figures[broker.name]?.push(f);
          console.log(
            `${broker.name.padEnd(10)} round ${round + 1}: ${Math.round(f.msgsPerSec)} msg/s, PUBACK p50 ${f.p50Ms.toFixed(2)} ms p99 ${f.p99Ms.toFixed(2)} ms, peak RSS ${mib(f.peakRss)} (anon ${mib(f.peakAnon)}) (${f.acked} acked), broker CPU ${f.brokerCpuUsPerMsg.toFixed(1)} µs/msg (${f.brokerCores.toFixed(2)} cores), disk ${kib(f.diskBytesPerMsg)}/msg, load generators ${f.generatorCores.toFixed(2)} cores`,
          );
          if (round === 0 && (broker.name === 'outpost' || broker.name === 'mosquitto'))
            idle[broker.name] = await measureIdle(broker);
        } finally {
          await broker.stop();
        }
        rmSync(roundDir, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  report(figures, idle, rounds, withAedes);
}

function report(
  figures: Record<string, LoadFigures[]>,
  idle: Record<string, number>,
  rounds: number,
  withAedes: boolean,
): void {
  const s = loadSettings();
  const all = (name: string): LoadFigures[] => figures[name] ?? [];
  const best = (name: string): LoadFigures | undefined =>
    all(name).reduce<LoadFigures | undefined>(
      (a, b) => (a === undefined || b.msgsPerSec > a.msgsPerSec ? b : a),
      undefined,
    );
  const bestCpu = (name: string): number => Math.min(...all(name).map((f) => f.brokerCpuUsPerMsg));
  const o = best('outpost') as LoadFigures;
  console.log('');
  console.log(
    `MQTT ${BENCH_PROTOCOL === 5 ? '5' : '3.1.1'}, QoS 1, ${s.payload} B, ${s.workers} load processes × ${s.connections} connections, window ${s.window}, ${s.messages} messages (best of ${rounds}); disk = write_bytes of the broker process per acknowledged message`,
  );
  for (const name of ['outpost', 'mosquitto', 'artemis']) {
    const f = best(name);
    if (!f) continue;
    console.log(
      `  ${(LABEL[name] ?? name).padEnd(33)} ${String(Math.round(f.msgsPerSec)).padStart(6)} msg/s  p50 ${f.p50Ms.toFixed(2)} ms  p99 ${f.p99Ms.toFixed(2)} ms  disk ${kib(f.diskBytesPerMsg)}/msg  CPU ${bestCpu(name).toFixed(1)} µs/msg  peak RSS ${mib(f.peakRss)} (anon ${mib(f.peakAnon)})`,
    );
  }
  if (o.storedBytesPerMsg !== null && o.diskBytesPerMsg !== null)
    console.log(
      `  outpost stores ${Math.round(o.storedBytesPerMsg)} B per message (log bytes / records, /metrics) and wrote ${(o.diskBytesPerMsg / o.storedBytesPerMsg).toFixed(1)}× that`,
    );
  for (const peer of ['mosquitto', 'artemis']) {
    const p = best(peer);
    if (!p) continue;
    console.log(
      `  outpost/${peer}: throughput ${(o.msgsPerSec / p.msgsPerSec).toFixed(2)}×, broker CPU per message ${(bestCpu('outpost') / bestCpu(peer)).toFixed(2)}×, p99 ${(o.p99Ms / p.p99Ms).toFixed(2)}×` +
        (o.diskBytesPerMsg !== null && p.diskBytesPerMsg
          ? `, disk per message ${(o.diskBytesPerMsg / p.diskBytesPerMsg).toFixed(2)}×`
          : ''),
    );
  }
  // On a small machine the load generators share the cores with the broker: when they use about
  // as much CPU as is left, throughput measures the generators, not the broker. Broker CPU per
  // message does not depend on that.
  const m = best('mosquitto');
  console.log(
    `  load generators (best rounds): ${o.generatorCores.toFixed(2)} cores beside outpost${m ? `, ${m.generatorCores.toFixed(2)} beside mosquitto` : ''}, ${availableParallelism()} cores in all; load average ${loadavg()[0]?.toFixed(1)}`,
  );
  const a = best('aedes');
  if (withAedes && a) {
    const ac = bestCpu('aedes');
    console.log(
      `  framework floor, bare aedes acking from memory: ${Math.round(a.msgsPerSec)} msg/s, CPU ${ac.toFixed(1)} µs/msg (outpost ${(bestCpu('outpost') / ac).toFixed(2)}× of it, mosquitto ${(bestCpu('mosquitto') / ac).toFixed(2)}× of it)`,
    );
  }
  const io = idle['outpost'] ?? 0;
  const im = idle['mosquitto'] ?? 0;
  console.log(
    `  RSS (anon) per idle connection (${s.idle} connected): outpost ${(io / 1024).toFixed(1)} KiB, mosquitto ${(im / 1024).toFixed(1)} KiB, ratio ${(io / im).toFixed(1)}×`,
  );
}

main().catch((err) => {
  if (stopping()) return; // interrupted: the signal handler exits
  console.error(err);
  process.exitCode = 1;
});
