/**
 * bench:ingest's two measurements of one running broker: the saturating QoS 1 load (throughput,
 * PUBACK latency, memory, CPU and disk writes per acknowledged message), and RSS per idle
 * connection. Load generators are separate processes (bench/lib/load-worker.ts).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { type Broker, outpostStoredBytesPerRecord } from './brokers.ts';
import type { WorkerJob, WorkerResult } from './load-worker.ts';
import { cpuMs, envInt, quantileMs, rssBytes, waitForMessage, writeBytes } from './proc.ts';
import { managedStop } from './stop-on-signal.ts';

export interface LoadFigures {
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
  /** Bytes the broker process wrote to storage over the load (/proc/PID/io), per acknowledged message. */
  diskBytesPerMsg: number | null;
  /** What the broker's store holds per message (Outpost's /metrics), when it says. */
  storedBytesPerMsg: number | null;
}

export const loadSettings = () => ({
  workers: envInt('BENCH_WORKERS', 4),
  connections: envInt('BENCH_CONNECTIONS', 25),
  messages: envInt('BENCH_MESSAGES', 200_000),
  window: envInt('BENCH_WINDOW', 16),
  payload: envInt('BENCH_PAYLOAD', 200),
  idle: envInt('BENCH_IDLE', 5000),
});

const WORKER = join(import.meta.dirname, 'load-worker.ts');

function startWorkers(jobs: WorkerJob[]): ChildProcess[] {
  return jobs.map((job) => {
    const child = fork(WORKER, [JSON.stringify(job)], { stdio: 'inherit' });
    const stop = managedStop(`load generator ${job.worker}`, child);
    child.once('exit', () => void stop());
    return child;
  });
}

const exited = (c: ChildProcess): Promise<unknown> =>
  new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)));

export async function measureLoad(broker: Broker): Promise<LoadFigures> {
  const s = loadSettings();
  const ws = startWorkers(
    Array.from({ length: s.workers }, (_, w) => ({
      kind: 'load' as const,
      port: broker.port,
      worker: w,
      connections: s.connections,
      messages: Math.ceil(s.messages / s.workers),
      window: s.window,
      payload: s.payload,
    })),
  );
  await Promise.all(ws.map((w) => waitForMessage(w, 'connected')));
  let peakRss = rssBytes(broker.pid);
  let peakAnon = rssBytes(broker.pid, 'RssAnon');
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssBytes(broker.pid));
    peakAnon = Math.max(peakAnon, rssBytes(broker.pid, 'RssAnon'));
  }, 100);
  const results = ws.map((w) => waitForMessage<{ result: WorkerResult }>(w, 'result'));
  const brokerCpu0 = cpuMs(broker.pid);
  const written0 = writeBytes(broker.pid);
  for (const w of ws) w.send('go');
  const rs = (await Promise.all(results)).map((r) => r.result);
  const brokerCpu = cpuMs(broker.pid) - brokerCpu0;
  const written1 = writeBytes(broker.pid);
  clearInterval(sampler);
  peakRss = Math.max(peakRss, rssBytes(broker.pid));
  await Promise.all(ws.map(exited));
  const storedBytesPerMsg = broker.http ? await outpostStoredBytesPerRecord(broker.http) : null;
  const acked = rs.reduce((n, r) => n + r.acked, 0);
  const start = Math.min(...rs.map((r) => r.startedAt));
  const end = Math.max(...rs.map((r) => r.endedAt));
  const lat = rs.flatMap((r) => r.latenciesUs).sort((a, b) => a - b);
  const wallMs = end - start;
  return {
    msgsPerSec: acked / (wallMs / 1000),
    p50Ms: quantileMs(lat, 0.5),
    p99Ms: quantileMs(lat, 0.99),
    peakRss,
    peakAnon,
    acked,
    brokerCpuUsPerMsg: (brokerCpu * 1000) / acked,
    brokerCores: brokerCpu / wallMs,
    generatorCores: rs.reduce((n, r) => n + r.cpuUs, 0) / 1000 / wallMs,
    diskBytesPerMsg: written0 === null || written1 === null ? null : (written1 - written0) / acked,
    storedBytesPerMsg,
  };
}

/** RssAnon added per connected idle client, bytes. */
export async function measureIdle(broker: Broker): Promise<number> {
  const { idle: total, workers } = loadSettings();
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
  await Promise.all(ws.map((w) => waitForMessage(w, 'connected')));
  await new Promise((r) => setTimeout(r, 1000));
  const after = rssBytes(broker.pid, 'RssAnon');
  const done = ws.map((w) => waitForMessage(w, 'done'));
  for (const w of ws) w.send('go');
  await Promise.all(done);
  await Promise.all(ws.map(exited));
  return (after - before) / (Math.ceil(total / workers) * workers);
}
