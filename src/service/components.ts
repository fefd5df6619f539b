/**
 * The modules the service composes, typed by their agreed contracts. Each is loaded from its folder's
 * public face; until a module has landed in this build, the service runs without it and says so.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/index.ts';
import { type Devices, openDevices } from '../devices/index.ts';
import { type OpenLog, openLog, type PartitionedLog } from '../log/index.ts';

export type DevicesLike = Devices;

export interface IngestLike {
  addresses(): Array<{ type: 'tcp' | 'tls' | 'ws'; host: string; port: number }>;
  ready(): boolean;
  status(): unknown;
  reload(config: Config): void;
  stop(opts: { timeoutMs: number }): Promise<void>;
}

export interface MirrorLike {
  status(): unknown;
  reload(config: Config): void;
  stop(opts: { timeoutMs: number }): Promise<void>;
}

export interface Modules {
  openLog: OpenLog;
  openDevices: typeof openDevices;
  startIngest?: (deps: {
    config: Config;
    log: PartitionedLog;
    devices: DevicesLike;
    logger: Logger;
    metrics: Registry;
  }) => Promise<IngestLike>;
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
  const [ingest, mirror] = await Promise.all([
    tryImport('../ingest/index.ts'),
    tryImport('../mirror/index.ts'),
  ]);
  const out: Modules = { openLog, openDevices };
  const i = fn<NonNullable<Modules['startIngest']>>(ingest, 'startIngest');
  if (i) out.startIngest = i;
  const m = fn<NonNullable<Modules['startMirror']>>(mirror, 'startMirror');
  if (m) out.startMirror = m;
  const o = fn<NonNullable<Modules['openOffsetIndex']>>(mirror, 'openOffsetIndex');
  if (o) out.openOffsetIndex = o;
  return out;
}
