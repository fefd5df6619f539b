/**
 * The modules the service composes, typed by their agreed contracts and loaded from each folder's
 * public face. A module that has not landed in this build yet is loaded dynamically and optional:
 * the service runs without it and says so.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/index.ts';
import { type Devices, openDevices } from '../devices/index.ts';
import { type Ingest, startIngest } from '../ingest/index.ts';
import { type OpenLog, openLog, type PartitionedLog } from '../log/index.ts';

export type DevicesLike = Devices;
export type IngestLike = Ingest;

export interface MirrorLike {
  status(): unknown;
  reload(config: Config): void;
  stop(opts: { timeoutMs: number }): Promise<void>;
}

export interface Modules {
  openLog: OpenLog;
  openDevices: typeof openDevices;
  startIngest: typeof startIngest;
  startMirror?: (deps: {
    config: Config;
    log: PartitionedLog;
    logger: Logger;
    metrics: Registry;
  }) => Promise<MirrorLike>;
  openOffsetIndex?: (log: PartitionedLog) => unknown;
}

async function tryImport(spec: string): Promise<Record<string, unknown>> {
  try {
    return (await import(spec)) as Record<string, unknown>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String(err).includes(spec.slice(2)))
      return {};
    throw err;
  }
}

function fn<T>(mod: Record<string, unknown>, name: string): T | undefined {
  return typeof mod[name] === 'function' ? (mod[name] as T) : undefined;
}

export async function loadModules(): Promise<Modules> {
  const mirror = await tryImport('../mirror/index.ts');
  const out: Modules = { openLog, openDevices, startIngest };
  const m = fn<NonNullable<Modules['startMirror']>>(mirror, 'startMirror');
  if (m) out.startMirror = m;
  const o = fn<NonNullable<Modules['openOffsetIndex']>>(mirror, 'openOffsetIndex');
  if (o) out.openOffsetIndex = o;
  return out;
}
