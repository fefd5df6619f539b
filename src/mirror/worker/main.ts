/**
 * The mirror's thread body (a node:worker_threads Worker started by proxy.ts):
 *
 *   openFollower (same LMDB environment, reads up to the owner's durable ends) → createLogger (the
 *   service's own, writing to the same stdout) → startMirror (its own prom-client Registry) → push
 *   snapshots → on stop: mirror.stop → close the log → report "stopped" (its lines are written
 *   synchronously, so none is lost when the thread ends)
 *
 * Everything the mirror does (Kafka clients, encoding, index and cursor writes) runs here, off the
 * event loop that acknowledges devices. An uncaught error ends this thread only; the proxy logs it,
 * counts it and starts a new one.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { Config } from '../../config/index.ts';
import { openFollower } from '../../log/index.ts';
import { startMirror } from '../mirror.ts';
import type { Mirror, MirrorHooks } from '../types.ts';
import {
  type FromThread,
  type LogFormatName,
  type Snapshot,
  STATUS_EVERY_MS,
  type ThreadData,
  type ToThread,
  toWire,
} from './protocol.ts';

type CreateLogger = (
  config: Pick<Config, 'edgeId' | 'logging'>,
  format: LogFormatName,
  opts: { sync: boolean },
) => Logger;
type HooksFactory = (ctx: { generation: number }) => MirrorHooks;

const data = workerData as ThreadData;
const port = parentPort as MessagePort;
const post = (m: FromThread) => port.postMessage(m);

const log = await openFollower({ dataDir: data.dataDir, ends: data.ends });
const registry = new Registry();
let config = data.config;
let mirror: Mirror | undefined;
let stopAsked: number | undefined;
let stopping: Promise<void> | undefined;
let logger: Logger | undefined;

// Listening first: ends, reloads and requests that arrive while the mirror starts are not lost.
port.on('message', (m: ToThread) => {
  switch (m.type) {
    case 'ends':
      log.advance(m.ends);
      return;
    case 'reload':
      config = m.config;
      if (logger) logger.level = m.config.logging.level;
      mirror?.reload(m.config);
      return;
    case 'metrics':
      void registry.getMetricsAsJSON().then((metrics) => post({ type: 'metrics', id: m.id, metrics }));
      return;
    case 'stop':
      if (mirror) void stop(mirror, m.timeoutMs);
      else stopAsked = m.timeoutMs;
      return;
  }
});

const snapshot = (m: Mirror): Snapshot => ({ status: m.status(), holds: m.holds() });

async function stop(m: Mirror, timeoutMs: number): Promise<void> {
  stopping ??= (async () => {
    clearInterval(pushing);
    let error: unknown;
    try {
      await m.stop({ timeoutMs });
    } catch (err) {
      error = err;
    }
    const holds = m.holds();
    await log.close();
    post({ type: 'stopped', holds, ...(error === undefined ? {} : { error: toWire(error) }) });
  })();
  return stopping;
}

let pushing: NodeJS.Timeout | undefined;
try {
  const { createLogger } = (await import(data.logger.module)) as { createLogger: CreateLogger };
  // Synchronous lines: nothing the thread logged is lost when it ends (stop, terminate or crash).
  logger = createLogger(config, data.logger.format, { sync: true });
  const hooks = data.hooksModule
    ? ((await import(data.hooksModule)) as { mirrorHooks: HooksFactory }).mirrorHooks({
        generation: data.generation,
      })
    : undefined;
  const started = await startMirror({
    config,
    log,
    logger,
    metrics: registry,
    ...(hooks ? { hooks } : {}),
  });
  mirror = started;
  // A reload that arrived while the links were starting.
  if (config !== data.config) started.reload(config);
  const first = snapshot(started);
  let last = JSON.stringify(first);
  post({ type: 'started', snapshot: first });
  pushing = setInterval(() => {
    const now = snapshot(started);
    const text = JSON.stringify(now);
    if (text === last) return;
    last = text;
    post({ type: 'snapshot', snapshot: now });
  }, STATUS_EVERY_MS);
  if (stopAsked !== undefined) void stop(started, stopAsked);
} catch (err) {
  await log.close();
  post({ type: 'failed', error: toWire(err) });
}
