/**
 * `npm run bench:ingest`: MQTT QoS 1 ingest throughput, PUBACK latency and broker memory,
 * Outpost (`outpost run`, durable LMDB append before every PUBACK) against Debian's Mosquitto 2
 * (`persistence false`: acknowledges from memory), same load, same run, printed as a ratio.
 *
 * Load: BENCH_WORKERS load-generator processes × BENCH_CONNECTIONS mqtt.js connections each, every
 * connection keeping BENCH_WINDOW QoS 1 publishes of BENCH_PAYLOAD bytes in flight, BENCH_MESSAGES
 * in total. Memory: broker RSS at peak, and RSS per idle connection with BENCH_IDLE connected
 * clients (default 5,000).
 *
 * Environment (quick run: BENCH_MESSAGES=20000 BENCH_IDLE=500 npm run bench:ingest):
 *   BENCH_MESSAGES (200000) BENCH_WORKERS (4) BENCH_CONNECTIONS (25) BENCH_WINDOW (16)
 *   BENCH_PAYLOAD (200) BENCH_IDLE (5000) BENCH_ROUNDS (1: alternate brokers this many times)
 *   BENCH_AEDES (1; 0 = skip the bare-aedes framework floor, see startAedes)
 *   BENCH_PROFILE=<dir>: V8 CPU profile of the Outpost process (--cpu-prof; written on its clean exit)
 *
 * Besides throughput it reports CPU: the broker's (from /proc, per acknowledged message) and the
 * load generators' (process.cpuUsage). With few cores the generators compete with the broker; when
 * throughput is bounded by them, broker CPU per message is the figure that compares the brokers.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';

const env = (name: string, def: number): number => {
  const v = process.env[name];
  const n = v === undefined || v === '' ? def : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
  return Math.floor(n);
};

// ---------------------------------------------------------------------------------------------
// Worker: many connections publishing QoS 1 with a bounded window.

interface WorkerJob {
  kind: 'load' | 'idle';
  port: number;
  worker: number;
  connections: number;
  messages: number;
  window: number;
  payload: number;
}
interface WorkerResult {
  sent: number;
  acked: number;
  latenciesUs: number[];
  startedAt: number;
  endedAt: number;
  /** CPU time of this load-generator process during the load (user + system), µs. */
  cpuUs: number;
}

async function connectAll(port: number, n: number, prefix: string): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, (_, k) => {
        const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
          clientId: `${prefix}-${i + k}`,
          reconnectPeriod: 0,
          connectTimeout: 30_000,
          keepalive: 600,
        });
        return new Promise<MqttClient>((resolve, reject) => {
          c.once('connect', () => resolve(c));
          c.once('error', reject);
        });
      }),
    );
    clients.push(...batch);
  }
  return clients;
}

async function runWorker(job: WorkerJob): Promise<void> {
  const send = (m: unknown) => process.send?.(m);
  const clients = await connectAll(job.port, job.connections, `w${job.worker}`);
  if (job.kind === 'idle') {
    send({ type: 'connected' });
    await new Promise<void>((resolve) => process.once('message', () => resolve()));
    for (const c of clients) c.end(true);
    send({ type: 'done' });
    return;
  }
  send({ type: 'connected' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  const payload = Buffer.alloc(job.payload, 0x61);
  const latencies: number[] = [];
  let acked = 0;
  let sent = 0;
  const startedAt = Date.now();
  const cpu0 = process.cpuUsage();
  const perConn = Math.ceil(job.messages / job.connections);
  await Promise.all(
    clients.map(
      (c, i) =>
        new Promise<void>((resolve) => {
          let left = Math.min(perConn, job.messages - perConn * i);
          if (left <= 0) return resolve();
          let inflight = 0;
          const topic = `vehicles/w${job.worker}-${i}/telemetry/bench`;
          const pump = (): void => {
            while (inflight < job.window && left > 0) {
              left--;
              inflight++;
              sent++;
              const t0 = performance.now();
              c.publish(topic, payload, { qos: 1 }, (err) => {
                inflight--;
                if (!err) {
                  acked++;
                  if (acked % 4 === 0) latencies.push(Math.round((performance.now() - t0) * 1000));
                }
                if (left === 0 && inflight === 0) resolve();
                else pump();
              });
            }
          };
          pump();
        }),
    ),
  );
  const endedAt = Date.now();
  const cpu = process.cpuUsage(cpu0);
  for (const c of clients) c.end(true);
  const result: WorkerResult = {
    sent,
    acked,
    latenciesUs: latencies,
    startedAt,
    endedAt,
    cpuUs: cpu.user + cpu.system,
  };
  send({ type: 'result', result });
}

// ---------------------------------------------------------------------------------------------
// Parent: brokers, measurement, report.

interface Broker {
  name: string;
  pid: number;
  port: number;
  stop(): Promise<void>;
}

/** VmRSS, or RssAnon (process-private memory, excluding file pages such as LMDB's mapped data file). */
function rssBytes(pid: number, field: 'VmRSS' | 'RssAnon' = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** CPU time (user + system) a process has used so far, ms (/proc/<pid>/stat fields 14 and 15). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
/** USER_HZ: 100 on every Linux architecture Node supports. */
const CLOCK_TICKS = 100;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function killAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

async function startOutpost(dir: string): Promise<Broker> {
  const dataDir = join(dir, 'outpost-data');
  mkdirSync(dataDir, { recursive: true });
  const cfg = join(dir, 'outpost.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      edgeId: 'bench',
      dataDir,
      log: { topics: { telemetry: { partitions: 8 } }, minFreeBytes: 0 },
      mqtt: {
        listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
        allowAnonymous: 'loopback',
        limits: { publishRate: { perSecond: 1_000_000, burst: 1_000_000 }, maxConnections: 20_000 },
      },
      routes: [{ match: 'vehicles/{deviceId}/telemetry/#', topic: 'telemetry', key: '{deviceId}' }],
      http: { host: '127.0.0.1', port: 0 },
      logging: { level: 'info' },
    }),
  );
  const main = join(import.meta.dirname, '../src/cli/main.ts');
  // BENCH_PROFILE=<dir>: V8 CPU profile of the broker process. Node writes it when the process
  // exits normally, which `outpost run` does on SIGTERM after its clean shutdown.
  const profileDir = process.env['BENCH_PROFILE'];
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(process.execPath, [...profile, main, 'run', '--config', cfg], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      try {
        const j = JSON.parse(line) as { msg?: string; listeners?: Array<{ port: number }> };
        if (j.msg === 'MQTT ingest listening' && j.listeners?.[0]) resolve(j.listeners[0].port);
      } catch {}
    });
    child.once('exit', (code) => reject(new Error(`outpost exited (${code}) before listening`)));
  });
  return { name: 'outpost', pid: child.pid!, port, stop: () => killAndWait(child, 'SIGTERM') };
}

/**
 * The framework floor: aedes 1.x alone, with the options and publish short-cut `outpost run` uses,
 * acknowledging from memory (no routing, no log). Outpost minus this is the cost of our pipeline
 * and the durable append; this minus Mosquitto is the cost of Node + aedes + mqtt-packet.
 */
async function startAedes(_dir: string): Promise<Broker> {
  const child = fork(import.meta.filename, ['--aedes-broker'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await waitFor<{ port: number }>(child, 'listening').then((m) => m.port);
  return { name: 'aedes', pid: child.pid!, port, stop: () => killAndWait(child, 'SIGTERM') };
}

async function runAedesBroker(): Promise<void> {
  const { Aedes } = await import('aedes');
  const broker = new Aedes({
    id: 'bench',
    concurrency: 1000,
    heartbeatInterval: 60_000,
    authorizePublish: (_client, packet, cb) => {
      packet.retain = false;
      cb(null);
    },
  });
  await broker.listen();
  const brokerPublish = broker.publish.bind(broker) as unknown as (
    p: unknown,
    c: unknown,
    d: unknown,
  ) => void;
  broker.publish = ((packet: unknown, client: unknown, done?: (err?: Error | null) => void) => {
    if (client === null || client === undefined || typeof client === 'function')
      brokerPublish(packet, client, done);
    else done?.(null);
  }) as unknown as typeof broker.publish;
  const server = createServer((socket) => broker.handle(socket as never));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  process.send?.({ type: 'listening', port: typeof a === 'object' && a ? a.port : 0 });
  process.once('SIGTERM', () => {
    server.close();
    broker.close(() => process.exit(0));
  });
}

async function startMosquitto(dir: string): Promise<Broker> {
  const port = await freePort();
  const cfg = join(dir, 'mosquitto.conf');
  writeFileSync(
    cfg,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_inflight_messages 0',
      'max_queued_messages 100000',
      'log_type error',
      '',
    ].join('\n'),
  );
  const child = spawn('mosquitto', ['-c', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  // wait until it accepts connections
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 500 });
      c.once('connect', () => {
        c.end(true);
        resolve(true);
      });
      c.once('error', () => {
        c.end(true);
        resolve(false);
      });
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { name: 'mosquitto', pid: child.pid!, port, stop: () => killAndWait(child, 'SIGTERM') };
}

function startWorkers(jobs: WorkerJob[]): Array<{ child: ChildProcess; job: WorkerJob }> {
  return jobs.map((job) => ({
    child: fork(import.meta.filename, ['--worker', JSON.stringify(job)], { stdio: 'inherit' }),
    job,
  }));
}

function waitFor<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: { type: string } & Record<string, unknown>): void => {
      if (m.type === type) {
        child.off('message', onMsg);
        resolve(m as T);
      }
    };
    child.on('message', onMsg);
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before "${type}"`)));
  });
}

interface LoadFigures {
  msgsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  peakRss: number;
  peakAnon: number;
  acked: number;
  /** Broker CPU per acknowledged message (user + system over the load), µs. */
  brokerCpuUsPerMsg: number;
  /** Broker CPU over the load, as a share of one core. */
  brokerCores: number;
  /** Load-generator CPU over the load (all processes), as a share of one core. */
  generatorCores: number;
}

async function measureLoad(broker: Broker): Promise<LoadFigures> {
  const workers = env('BENCH_WORKERS', 4);
  const total = env('BENCH_MESSAGES', 200_000);
  const jobs = Array.from({ length: workers }, (_, w) => ({
    kind: 'load' as const,
    port: broker.port,
    worker: w,
    connections: env('BENCH_CONNECTIONS', 25),
    messages: Math.ceil(total / workers),
    window: env('BENCH_WINDOW', 16),
    payload: env('BENCH_PAYLOAD', 200),
  }));
  const ws = startWorkers(jobs);
  await Promise.all(ws.map((w) => waitFor(w.child, 'connected')));
  let peakRss = rssBytes(broker.pid);
  let peakAnon = rssBytes(broker.pid, 'RssAnon');
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssBytes(broker.pid));
    peakAnon = Math.max(peakAnon, rssBytes(broker.pid, 'RssAnon'));
  }, 100);
  const results = ws.map((w) => waitFor<{ result: WorkerResult }>(w.child, 'result'));
  const brokerCpu0 = cpuMs(broker.pid);
  for (const w of ws) w.child.send('go');
  const rs = (await Promise.all(results)).map((r) => r.result);
  const brokerCpu = cpuMs(broker.pid) - brokerCpu0;
  clearInterval(sampler);
  peakRss = Math.max(peakRss, rssBytes(broker.pid));
  await Promise.all(
    ws.map((w) => new Promise((r) => (w.child.exitCode !== null ? r(null) : w.child.once('exit', r)))),
  );
  const acked = rs.reduce((n, r) => n + r.acked, 0);
  const start = Math.min(...rs.map((r) => r.startedAt));
  const end = Math.max(...rs.map((r) => r.endedAt));
  const lat = rs.flatMap((r) => r.latenciesUs).sort((a, b) => a - b);
  const q = (p: number): number => (lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0) / 1000;
  const wallMs = end - start;
  return {
    msgsPerSec: acked / (wallMs / 1000),
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    peakRss,
    peakAnon,
    acked,
    brokerCpuUsPerMsg: (brokerCpu * 1000) / acked,
    brokerCores: brokerCpu / wallMs,
    generatorCores: rs.reduce((n, r) => n + r.cpuUs, 0) / 1000 / wallMs,
  };
}

async function measureIdle(broker: Broker): Promise<number> {
  const total = env('BENCH_IDLE', 5000);
  const workers = env('BENCH_WORKERS', 4);
  await new Promise((r) => setTimeout(r, 500));
  const before = rssBytes(broker.pid, 'RssAnon');
  const ws = startWorkers(
    Array.from({ length: workers }, (_, w) => ({
      kind: 'idle' as const,
      port: broker.port,
      worker: 100 + w,
      connections: Math.ceil(total / workers),
      messages: 0,
      window: 1,
      payload: 1,
    })),
  );
  await Promise.all(ws.map((w) => waitFor(w.child, 'connected')));
  await new Promise((r) => setTimeout(r, 1000));
  const after = rssBytes(broker.pid, 'RssAnon');
  const done = ws.map((w) => waitFor(w.child, 'done'));
  for (const w of ws) w.child.send('go');
  await Promise.all(done);
  return (after - before) / (Math.ceil(total / workers) * workers);
}

const mib = (b: number): string => `${(b / 1024 ** 2).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-ingest-'));
  const rounds = env('BENCH_ROUNDS', 1);
  const figures: Record<string, LoadFigures[]> = { outpost: [], mosquitto: [], aedes: [] };
  const withAedes = process.env['BENCH_AEDES'] !== '0';
  const idle: Record<string, number> = {};
  try {
    for (let round = 0; round < rounds; round++) {
      // Alternate which broker goes first, so neither always gets the warmer (or quieter) slot.
      const order = round % 2 === 0 ? [startMosquitto, startOutpost] : [startOutpost, startMosquitto];
      if (withAedes) order.push(startAedes);
      for (const start of order) {
        const roundDir = join(dir, `r${round}`);
        mkdirSync(roundDir, { recursive: true });
        const broker = await start(roundDir);
        try {
          const f = await measureLoad(broker);
          figures[broker.name]?.push(f);
          console.log(
            `${broker.name.padEnd(10)} round ${round + 1}: ${Math.round(f.msgsPerSec)} msg/s, PUBACK p50 ${f.p50Ms.toFixed(2)} ms p99 ${f.p99Ms.toFixed(2)} ms, peak RSS ${mib(f.peakRss)} (anon ${mib(f.peakAnon)}) (${f.acked} acked), broker CPU ${f.brokerCpuUsPerMsg.toFixed(1)} µs/msg (${f.brokerCores.toFixed(2)} cores), load generators ${f.generatorCores.toFixed(2)} cores`,
          );
          if (round === 0 && broker.name !== 'aedes') idle[broker.name] = await measureIdle(broker);
        } finally {
          await broker.stop();
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const best = (name: string): LoadFigures =>
    (figures[name] ?? []).reduce((a, b) => (b.msgsPerSec > a.msgsPerSec ? b : a));
  const o = best('outpost');
  const m = best('mosquitto');
  console.log('');
  console.log(
    `QoS 1, ${env('BENCH_PAYLOAD', 200)} B, ${env('BENCH_WORKERS', 4)} load processes × ${env('BENCH_CONNECTIONS', 25)} connections, window ${env('BENCH_WINDOW', 16)}, ${env('BENCH_MESSAGES', 200_000)} messages (best of ${rounds})`,
  );
  console.log(
    `  outpost (durable before PUBACK): ${Math.round(o.msgsPerSec)} msg/s  p50 ${o.p50Ms.toFixed(2)} ms  p99 ${o.p99Ms.toFixed(2)} ms  peak RSS ${mib(o.peakRss)} (anon ${mib(o.peakAnon)})`,
  );
  console.log(
    `  mosquitto 2 (persistence false): ${Math.round(m.msgsPerSec)} msg/s  p50 ${m.p50Ms.toFixed(2)} ms  p99 ${m.p99Ms.toFixed(2)} ms  peak RSS ${mib(m.peakRss)} (anon ${mib(m.peakAnon)})`,
  );
  console.log(`  throughput ratio outpost/mosquitto: ${(o.msgsPerSec / m.msgsPerSec).toFixed(2)}×`);
  // On a small machine the load generators share the cores with the broker: when they use about
  // as much CPU as is left, throughput measures the generators, not the broker. Broker CPU per
  // message does not depend on that.
  const oc = Math.min(...(figures['outpost'] ?? []).map((f) => f.brokerCpuUsPerMsg));
  const mc = Math.min(...(figures['mosquitto'] ?? []).map((f) => f.brokerCpuUsPerMsg));
  console.log(
    `  broker CPU per message (best round): outpost ${oc.toFixed(1)} µs, mosquitto ${mc.toFixed(1)} µs, ratio ${(oc / mc).toFixed(2)}×`,
  );
  console.log(
    `  load generators (best rounds): ${o.generatorCores.toFixed(2)} cores beside outpost, ${m.generatorCores.toFixed(2)} beside mosquitto, ${availableParallelism()} cores in all; load average ${loadavg()[0]?.toFixed(1)}`,
  );
  if (withAedes) {
    const a = best('aedes');
    const ac = Math.min(...(figures['aedes'] ?? []).map((f) => f.brokerCpuUsPerMsg));
    console.log(
      `  framework floor, bare aedes acking from memory: ${Math.round(a.msgsPerSec)} msg/s, CPU ${ac.toFixed(1)} µs/msg (outpost ${(oc / ac).toFixed(2)}× of it, mosquitto ${(mc / ac).toFixed(2)}× of it)`,
    );
  }
  const io = idle['outpost'] ?? 0;
  const im = idle['mosquitto'] ?? 0;
  console.log(
    `  RSS (anon) per idle connection (${env('BENCH_IDLE', 5000)} connected): outpost ${(io / 1024).toFixed(1)} KiB, mosquitto ${(im / 1024).toFixed(1)} KiB, ratio ${(io / im).toFixed(1)}×`,
  );
}

const workerIdx = process.argv.indexOf('--worker');
if (process.argv.includes('--aedes-broker')) {
  runAedesBroker().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
} else if (workerIdx >= 0) {
  runWorker(JSON.parse(process.argv[workerIdx + 1] as string) as WorkerJob).then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
} else {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
