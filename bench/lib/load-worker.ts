/**
 * A bench:ingest load-generator process (forked by bench/lib/ingest-load.ts): BENCH connections
 * to one broker, each keeping `window` QoS 1 publishes in flight until `messages` are sent, or
 * (kind idle) connections that only stay connected. It reports over IPC: connected, then on "go"
 * the load and its result.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';

/** BENCH_MQTT=5: the load speaks MQTT 5 (every broker of bench:ingest takes it), else 3.1.1. */
export const BENCH_PROTOCOL: 4 | 5 = process.env['BENCH_MQTT'] === '5' ? 5 : 4;

export interface WorkerJob {
  kind: 'load' | 'idle';
  port: number;
  worker: number;
  connections: number;
  messages: number;
  window: number;
  payload: number;
}

export interface WorkerResult {
  sent: number;
  acked: number;
  latenciesUs: number[];
  startedAt: number;
  endedAt: number;
  /** CPU time of this load-generator process during the load (user + system), µs. */
  cpuUs: number;
}

export async function connectAll(port: number, n: number, prefix: string): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, (_, k) => {
        const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
          clientId: `${prefix}-${i + k}`,
          protocolVersion: BENCH_PROTOCOL,
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
  send({ type: 'connected' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  if (job.kind === 'idle') {
    for (const c of clients) c.end(true);
    send({ type: 'done' });
    return;
  }
  // Incompressible payloads: each publish takes the next slice of one random buffer, so no two
  // messages of a batch repeat and the log's zstd stores about what it receives (what a disk-bytes
  // figure must be measured against). The buffer is filled once, outside the measured loop.
  const pool = randomBytes(Math.max(4 * 1024 ** 2, job.payload * 2));
  let at = 0;
  const nextPayload = (): Buffer => {
    if (at + job.payload > pool.length) at = 0;
    const b = pool.subarray(at, at + job.payload);
    at += job.payload;
    return b;
  };
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
              c.publish(topic, nextPayload(), { qos: 1 }, (err) => {
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

if (import.meta.main) {
  runWorker(JSON.parse(process.argv[2] as string) as WorkerJob).then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
