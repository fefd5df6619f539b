/**
 * What the service's main thread and the mirror's thread say to each other (structured clone over
 * the Worker's port). Nothing here is persisted: both sides are always the same build.
 *
 *   main → thread   ends      durable ends of the owner's partitions (coalesced, once per turn)
 *                   reload    the config now in force (SIGHUP)
 *                   metrics   a scrape asks for the thread's registry (getMetricsAsJSON), by id
 *                   stop      stop every link and round within timeoutMs, close the log, report
 *   thread → main   started   startMirror resolved (with the first snapshot)
 *                   failed    startMirror threw (the thread then ends)
 *                   snapshot  status and holds, every STATUS_EVERY_MS when they changed
 *                   metrics   the answer to a metrics request
 *                   stopped   mirror.stop settled (error: what it still held), the log is closed
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { Config } from '../../config/index.ts';
import { type ErrorCode, type ErrorFields, isOutpostError, OutpostError } from '../../errors.ts';
import type { DurableEnd } from '../../log/index.ts';
import type { MirrorStatus } from '../types.ts';

/** How often the thread looks at its status and pushes it when it changed. */
export const STATUS_EVERY_MS = 250;

export type LogFormatName = 'json' | 'pretty';

/** What a new thread starts from (workerData). */
export interface ThreadData {
  config: Config;
  /** Absolute data dir of the owner's log. */
  dataDir: string;
  ends: DurableEnd[];
  /** The module whose `createLogger(config, format, { sync })` builds the service's pino logger. */
  logger: { module: string; format: LogFormatName };
  /** Test-only: a module whose `mirrorHooks({ generation })` returns the thread's MirrorHooks. */
  hooksModule?: string;
  /** 0 for the first thread, +1 for each restart. */
  generation: number;
}

export interface Snapshot {
  status: MirrorStatus;
  holds: string[];
}

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

export type ToThread =
  | { type: 'ends'; ends: DurableEnd[] }
  | { type: 'reload'; config: Config }
  | { type: 'metrics'; id: number }
  | { type: 'stop'; timeoutMs: number };

export type FromThread =
  | { type: 'started'; snapshot: Snapshot }
  | { type: 'failed'; error: WireError }
  | { type: 'snapshot'; snapshot: Snapshot }
  | { type: 'metrics'; id: number; metrics: MetricsJson }
  | { type: 'stopped'; error?: WireError; holds: string[] };

/** An error across the port: OutpostError keeps its code and fields (structured clone drops them). */
export interface WireError {
  message: string;
  stack?: string;
  code?: ErrorCode;
  fields?: ErrorFields;
}

export function toWire(err: unknown): WireError {
  if (isOutpostError(err)) {
    return { message: err.message, code: err.code, fields: err.fields, ...stackOf(err) };
  }
  if (err instanceof Error) return { message: err.message, ...stackOf(err) };
  return { message: String(err) };
}

function stackOf(err: Error): { stack?: string } {
  return err.stack === undefined ? {} : { stack: err.stack };
}

export function fromWire(w: WireError): Error {
  const err = w.code === undefined ? new Error(w.message) : new OutpostError(w.code, w.message, w.fields);
  if (w.stack !== undefined) err.stack = w.stack;
  return err;
}
