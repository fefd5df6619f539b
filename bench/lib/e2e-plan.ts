/**
 * bench:e2e's settings, its saturation plan and its verdict per step: which rates it tries (a
 * bounded list), what "sustained" means, and the bytes Outpost sent to Kafka per mirrored record,
 * read from its /metrics. Kept apart from bench/e2e.ts, which starts the processes and runs steps.
 */
import { COMPRESSIONS, type Compression } from '../../src/log/index.ts';
import type { AuditReport, FleetSummary } from '../../src/sim/index.ts';

export interface E2eSettings {
  /** An explicit list of rates (BENCH_E2E_RATES), or null for the geometric search. */
  rates: number[] | null;
  /** First rate and factor of the geometric search (msgs/s). */
  start: number;
  factor: number;
  /** Upper bound on the number of steps, whatever the plan. */
  maxSteps: number;
  seconds: number;
  devices: number;
  /** A step is sustained only with Outpost's PUBACK p99 below this (ms). */
  p99Ms: number;
  /** Share of the target rate that must be acknowledged. */
  ackedShare: number;
  /** Bound on the wait for both clusters to hold every record of a step (s). */
  mirrorTimeoutS: number;
  compression: Compression;
  /** Seconds of load at the first step's rate before the steps (JIT of the brokers and Outpost). */
  warmupSeconds: number;
  /**
   * Niceness of both broker JVMs (0: the same CPU priority as Outpost). The clusters stand in for
   * remote datacenters; on a 2-core machine they otherwise take the CPU a gateway's Outpost has.
   */
  clusterNice: number;
  /** False for --quick: a smoke run goes through both its steps whatever their verdict. */
  stopAtFailure: boolean;
}

function envNumber(env: NodeJS.ProcessEnv, name: string, def: number): number {
  const v = env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${name} must be a positive number, got "${v}"`);
  return n;
}

function envNice(env: NodeJS.ProcessEnv, name: string, def: number): number {
  const v = env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 19)
    throw new RangeError(`${name} must be an integer 0-19, got "${v}"`);
  return n;
}

/** The settings from the environment; `--quick` is a 20-device smoke run with 2 short steps. */
export function e2eSettings(argv: readonly string[], env: NodeJS.ProcessEnv): E2eSettings {
  const quick = argv.includes('--quick');
  const list = env['BENCH_E2E_RATES'];
  const rates =
    list !== undefined && list !== ''
      ? list.split(',').map((r) => {
          const n = Number(r);
          if (!Number.isFinite(n) || n <= 0) throw new RangeError(`BENCH_E2E_RATES: bad rate "${r}"`);
          return n;
        })
      : null;
  const compression = env['BENCH_E2E_COMPRESSION'] || 'zstd';
  if (!(COMPRESSIONS as readonly string[]).includes(compression)) {
    throw new RangeError(
      `BENCH_E2E_COMPRESSION must be one of ${COMPRESSIONS.join(', ')}, got "${compression}"`,
    );
  }
  const factor = envNumber(env, 'BENCH_E2E_FACTOR', quick ? 2 : 1.5);
  if (factor <= 1) throw new RangeError(`BENCH_E2E_FACTOR must be above 1, got ${factor}`);
  return {
    rates,
    start: envNumber(env, 'BENCH_E2E_START', quick ? 200 : 2000),
    factor,
    maxSteps: Math.floor(envNumber(env, 'BENCH_E2E_MAX_STEPS', quick ? 2 : 8)),
    seconds: envNumber(env, 'BENCH_E2E_SECONDS', quick ? 5 : 20),
    devices: Math.floor(envNumber(env, 'BENCH_E2E_DEVICES', quick ? 20 : 100)),
    p99Ms: envNumber(env, 'BENCH_E2E_P99_MS', 50),
    ackedShare: 0.95,
    mirrorTimeoutS: envNumber(env, 'BENCH_E2E_MIRROR_TIMEOUT_S', 120),
    compression: compression as Compression,
    warmupSeconds: envNumber(env, 'BENCH_E2E_WARMUP_S', quick ? 2 : 10),
    clusterNice: envNice(env, 'BENCH_E2E_CLUSTER_NICE', 10),
    stopAtFailure: !quick,
  };
}

/** The rates the search tries, in order, at most `maxSteps` of them (it stops at the first failure, but for --quick). */
export function plannedRates(s: E2eSettings): number[] {
  if (s.rates) return s.rates.slice(0, s.maxSteps);
  return Array.from({ length: s.maxSteps }, (_, i) => Math.round(s.start * s.factor ** i));
}

export const CLUSTERS = ['dc-east', 'dc-west'] as const;
export type ClusterAlias = (typeof CLUSTERS)[number];

export interface StepResult {
  rate: number;
  outpost: FleetSummary;
  peer: FleetSummary;
  /** Device → dc-east (payload timestamp → visible to a read_committed consumer), ms. */
  e2e: { p50: number; p99: number; max: number } | null;
  rss: { rss: number; peak: number };
  /** Null once every cluster held every record of the step; otherwise why the wait ended. */
  mirrorLagging: string | null;
  audits: { edge: AuditReport | string } & Record<ClusterAlias, AuditReport | string>;
  /** Increase of outpost_mirror_bytes_total and outpost_mirror_records_total per cluster over the step. */
  sent: Record<string, { bytes: number; records: number }>;
  /**
   * PUBACKs Outpost released during the step and those within 50 ms of their PUBLISH, as Outpost
   * measures them (outpost_ingest_puback_seconds): what the devices' figure adds is the network and
   * the load generator.
   */
  inside: { count: number; within50: number };
}

/** The criteria a step missed, each with its figure; empty when the step was sustained. */
export function failedCriteria(s: StepResult, settings: E2eSettings): string[] {
  const why: string[] = [];
  const o = s.outpost;
  if (o.ackedPerSecond < settings.ackedShare * s.rate) {
    why.push(
      `acked ${o.ackedPerSecond} msgs/s < ${settings.ackedShare * 100}% of the ${s.rate} msgs/s target`,
    );
  }
  if (!o.drained) why.push(`fleet not drained: ${o.unacked} messages without PUBACK at the end`);
  if (s.mirrorLagging !== null) why.push(s.mirrorLagging);
  for (const [name, a] of Object.entries(s.audits)) {
    if (typeof a === 'string') why.push(`audit ${name} could not run: ${a}`);
    else if (a.verdict !== 'pass') why.push(`audit ${name} fail (${a.reasons.join('; ')})`);
  }
  if (o.pubackMs === null) why.push('no PUBACK measured');
  else if (o.pubackMs.p99 >= settings.p99Ms)
    why.push(`Outpost PUBACK p99 ${o.pubackMs.p99} ms ≥ ${settings.p99Ms} ms`);
  return why;
}

export const verdictOf = (a: AuditReport | string): string => (typeof a === 'string' ? 'error' : a.verdict);

/** Bytes sent to a cluster per record it acknowledged during the step, or "n/a" without records. */
export function bytesPerRecord(s: StepResult, alias: string): string {
  const d = s.sent[alias];
  return d && d.records > 0 ? String(Math.round(d.bytes / d.records)) : 'n/a';
}

/** Per-cluster sums of Outpost's mirror counters, and its PUBACK histogram, from one scrape of its /metrics. */
export interface MirrorCounters {
  bytes: Map<string, number>;
  records: Map<string, number>;
  puback: { count: number; within50: number };
}

/** One unlabelled (or le-labelled) sample of the Prometheus text, 0 when absent. */
function sample(text: string, line: RegExp): number {
  return Number(line.exec(text)?.[1] ?? 0);
}

/** Sums of a Prometheus text-format counter by the value of its `cluster` label. */
function sumByCluster(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    const cluster = /(?:^|,)cluster="((?:[^"\\]|\\.)*)"/.exec(m[1] ?? '')?.[1];
    if (cluster === undefined) continue;
    out.set(cluster, (out.get(cluster) ?? 0) + Number(m[2]));
  }
  return out;
}

/** Scrapes `http`/metrics (Outpost's admin base URL) for the mirror's bytes and records. */
export async function mirrorCounters(http: string): Promise<MirrorCounters> {
  const res = await fetch(new URL('/metrics', http), { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
  const text = await res.text();
  return {
    bytes: sumByCluster(text, 'outpost_mirror_bytes_total'),
    records: sumByCluster(text, 'outpost_mirror_records_total'),
    puback: {
      count: sample(text, /^outpost_ingest_puback_seconds_count (\S+)$/m),
      within50: sample(text, /^outpost_ingest_puback_seconds_bucket\{le="0\.05"\} (\S+)$/m),
    },
  };
}

/** PUBACKs Outpost released between two scrapes, and those within 50 ms. */
export function insideBetween(before: MirrorCounters, after: MirrorCounters): StepResult['inside'] {
  return {
    count: after.puback.count - before.puback.count,
    within50: after.puback.within50 - before.puback.within50,
  };
}

/** "99.2%" of the step's PUBACKs within 50 ms inside Outpost, or "n/a". */
export function insideShare(s: StepResult): string {
  return s.inside.count > 0 ? `${((100 * s.inside.within50) / s.inside.count).toFixed(1)}%` : 'n/a';
}

/** What each cluster received between two scrapes. */
export function sentBetween(before: MirrorCounters, after: MirrorCounters): StepResult['sent'] {
  const out: StepResult['sent'] = {};
  for (const alias of new Set([...after.bytes.keys(), ...after.records.keys()])) {
    out[alias] = {
      bytes: (after.bytes.get(alias) ?? 0) - (before.bytes.get(alias) ?? 0),
      records: (after.records.get(alias) ?? 0) - (before.records.get(alias) ?? 0),
    };
  }
  return out;
}

const ratio = (a: number | undefined, b: number | undefined, digits: number): string =>
  a !== undefined && b ? (a / b).toFixed(digits) : 'n/a';

/** The Markdown table of every step run. */
export function stepTable(steps: readonly StepResult[], settings: E2eSettings): string[] {
  const rows = [
    `| target msgs/s | Outpost acked msgs/s | mosquitto acked msgs/s | ratio | Outpost PUBACK p50 / p99 ms | mosquitto PUBACK p50 / p99 ms | p99 ratio | device→dc-east p50 / p99 ms | Outpost RSS (peak) MB | B/msg sent to dc-east / dc-west (${settings.compression}) | audit edge / dc-east / dc-west | sustained |`,
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const s of steps) {
    const o = s.outpost;
    const p = s.peer;
    rows.push(
      `| ${s.rate} | ${o.ackedPerSecond} | ${p.ackedPerSecond} | ${ratio(o.ackedPerSecond, p.ackedPerSecond, 2)} | ` +
        `${o.pubackMs?.p50} / ${o.pubackMs?.p99} | ${p.pubackMs?.p50} / ${p.pubackMs?.p99} | ${ratio(o.pubackMs?.p99, p.pubackMs?.p99, 1)}× | ` +
        `${s.e2e?.p50} / ${s.e2e?.p99} | ${s.rss.rss} (${s.rss.peak}) | ${bytesPerRecord(s, 'dc-east')} / ${bytesPerRecord(s, 'dc-west')} | ` +
        `${verdictOf(s.audits.edge)} / ${verdictOf(s.audits['dc-east'])} / ${verdictOf(s.audits['dc-west'])} | ` +
        `${failedCriteria(s, settings).length === 0 ? 'yes' : 'no'} |`,
    );
  }
  return rows;
}
