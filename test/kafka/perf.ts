/**
 * Kafka's own producer benchmark (kafka-producer-perf-test, org.apache.kafka.tools.ProducerPerformance)
 * as the peer figure for bench:mirror.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jvmLoggingFlags, log4j2Properties, log4jProperties } from './broker-config.ts';
import { requireJavaTool } from './java.ts';
import { kafkaClasspath } from './libs.ts';

const run = promisify(execFile);

export interface ProducerPerfOptions {
  bootstrap: string;
  topic: string;
  records: number;
  recordSize: number;
  /** Extra producer properties; defaults: acks=all, enable.idempotence=true. */
  producerProps?: Record<string, string | number | boolean>;
  /** Target records/s; -1 (default) = as fast as possible. */
  throughput?: number;
  heap?: string;
  timeoutMs?: number;
}

export interface ProducerPerfResult {
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** The summary line as printed by the tool. */
  summary: string;
  props: Record<string, string>;
}

/**
 * Parses the tool's final line, e.g.
 * "1000 records sent, 2188.183807 records/sec (0.42 MB/sec), 80.41 ms avg latency, 361.00 ms max latency,
 *  77 ms 50th, 121 ms 95th, 139 ms 99th, 361 ms 99.9th."
 */
export function parsePerfSummary(output: string): Omit<ProducerPerfResult, 'props'> {
  const re =
    /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th/g;
  let last: RegExpExecArray | null = null;
  for (let m = re.exec(output); m !== null; m = re.exec(output)) last = m;
  if (last === null)
    throw new Error(`ProducerPerformance: no summary line in output:\n${output.slice(-2000)}`);
  const n = (i: number) => Number(last[i]);
  return {
    records: n(1),
    recordsPerSec: n(2),
    mbPerSec: n(3),
    avgLatencyMs: n(4),
    maxLatencyMs: n(5),
    p50Ms: n(6),
    p95Ms: n(7),
    p99Ms: n(8),
    p999Ms: n(9),
    summary: last[0],
  };
}

/** Runs ProducerPerformance in a JVM against `bootstrap`; the topic must exist (auto-creation is off). */
export async function runProducerPerfTest(options: ProducerPerfOptions): Promise<ProducerPerfResult> {
  await requireJavaTool('java');
  const props: Record<string, string> = {
    'bootstrap.servers': options.bootstrap,
    acks: 'all',
    'enable.idempotence': 'true',
  };
  for (const [k, v] of Object.entries(options.producerProps ?? {})) props[k] = String(v);
  const dir = mkdtempSync(join(tmpdir(), 'outpost-perf-'));
  const layout = {
    log4jProperties: join(dir, 'log4j.properties'),
    log4j2Properties: join(dir, 'log4j2.properties'),
    brokerLog: join(dir, 'perf.log'),
  };
  writeFileSync(
    layout.log4jProperties,
    log4jProperties(layout).replace('rootLogger=INFO', 'rootLogger=WARN'),
  );
  writeFileSync(layout.log4j2Properties, log4j2Properties(layout).replace('level = info', 'level = warn'));
  try {
    const args = [
      `-Xmx${options.heap ?? '512m'}`,
      ...jvmLoggingFlags(layout),
      '-cp',
      kafkaClasspath(),
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      options.topic,
      '--num-records',
      String(options.records),
      '--record-size',
      String(options.recordSize),
      '--throughput',
      String(options.throughput ?? -1),
      '--producer-props',
      ...Object.entries(props).map(([k, v]) => `${k}=${v}`),
    ];
    const { stdout } = await run('java', args, {
      timeout: options.timeoutMs ?? 600_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { ...parsePerfSummary(stdout), props };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
