/**
 * `npm run bench:sessions`: broker memory per idle client holding a persistent session
 * (CleanSession 0) with one QoS 1 subscription, Outpost (`outpost run`, mqtt.sessions on: the
 * session in LMDB, the subscription also in its in-memory trie) beside Mosquitto 2 (sessions in
 * memory, `persistence false`) measured in the same run with the same clients.
 *
 * The clients connect anonymously over loopback (Outpost: anonymousFilters ["devices/#"]) and each
 * subscribes to devices/<its id>/commands/#, the default device ACL's shape. Figures:
 *   - RssAnon of the broker process after all are connected and subscribed, minus before, per
 *     client (both brokers; for Outpost it includes V8 heap not yet collected after the burst);
 *   - for Outpost, the live V8 heap per client: outpost_nodejs_heap_size_used_bytes right after a
 *     full GC (a heap snapshot, --heapsnapshot-signal, collects first), after minus before; and
 *     the same for plain idle connections (CleanSession 1, no subscription, sessions off), so the
 *     session's own share shows.
 *
 * Environment: BENCH_IDLE (2000) clients; connections open 50 at a time.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import {
  type Broker,
  INGEST_OUTPOST_CONFIG,
  mergeConfig,
  startMosquitto,
  startOutpost,
} from './lib/brokers.ts';
import { envInt, rssBytes } from './lib/proc.ts';
import { stopOnSignal } from './lib/stop-on-signal.ts';

const CLIENTS = envInt('BENCH_IDLE', 2000);
const BATCH = 50;

interface Shape {
  clean: boolean;
  subscribe: boolean;
}

async function idleClients(port: number, n: number, shape: Shape): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < n; i += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, n - i) }, async (_, k) => {
        const id = `idle-${i + k}`;
        const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
          clientId: id,
          clean: shape.clean,
          reconnectPeriod: 0,
          connectTimeout: 30_000,
          keepalive: 600,
        });
        if (shape.subscribe) await c.subscribeAsync(`devices/${id}/commands/#`, { qos: 1 });
        return c;
      }),
    );
    clients.push(...batch);
  }
  return clients;
}

/** Outpost's live V8 heap: a heap snapshot (SIGUSR2) runs a full GC; read the gauge once it is written. */
async function liveHeap(broker: Broker, snapshots: string): Promise<number> {
  const before = readdirSync(snapshots).length;
  process.kill(broker.pid, 'SIGUSR2');
  let last = -1;
  for (let i = 0; i < 120; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const files = readdirSync(snapshots);
    if (files.length <= before) continue;
    const size = statSync(join(snapshots, files.sort().at(-1) as string)).size;
    if (size > 0 && size === last) break;
    last = size;
  }
  const text = await (await fetch(new URL('metrics', broker.http))).text();
  const used = text.match(/^outpost_nodejs_heap_size_used_bytes (\S+)/m)?.[1];
  if (used === undefined) throw new Error('outpost_nodejs_heap_size_used_bytes is missing from /metrics');
  return Number(used);
}

interface PerClient {
  rss: number;
  heap?: number;
}

async function perClient(broker: Broker, shape: Shape, snapshots?: string): Promise<PerClient> {
  await new Promise((r) => setTimeout(r, 500));
  const heap0 = snapshots ? await liveHeap(broker, snapshots) : 0;
  const before = rssBytes(broker.pid, 'RssAnon');
  const clients = await idleClients(broker.port, CLIENTS, shape);
  await new Promise((r) => setTimeout(r, 1000));
  const after = rssBytes(broker.pid, 'RssAnon');
  const heap1 = snapshots ? await liveHeap(broker, snapshots) : 0;
  await Promise.all(clients.map((c) => c.endAsync(true)));
  return { rss: (after - before) / CLIENTS, ...(snapshots ? { heap: (heap1 - heap0) / CLIENTS } : {}) };
}

async function measure(
  dir: string,
  name: string,
  start: (d: string) => Promise<Broker>,
  shape: Shape,
  heap: boolean,
) {
  const d = join(dir, name);
  const snapshots = join(d, 'snapshots');
  mkdirSync(snapshots, { recursive: true });
  const broker = await start(d);
  try {
    return await perClient(broker, shape, heap ? snapshots : undefined);
  } finally {
    await broker.stop();
  }
}

const kib = (b: number | undefined) => `${((b ?? 0) / 1024).toFixed(1)} KiB`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-sessions-'));
  stopOnSignal('bench dir', async () => rmSync(dir, { recursive: true, force: true }));
  const sessions = mergeConfig(INGEST_OUTPOST_CONFIG, {
    mqtt: { sessions: { enabled: true, anonymousFilters: ['devices/#'] } },
  });
  const heapArgs = (d: string) => [
    '--heapsnapshot-signal=SIGUSR2',
    `--diagnostic-dir=${join(d, 'snapshots')}`,
  ];
  const persistent = { clean: false, subscribe: true };
  try {
    const m = await measure(dir, 'mosquitto', (d) => startMosquitto(d), persistent, false);
    const o = await measure(dir, 'outpost', (d) => startOutpost(d, sessions, heapArgs(d)), persistent, true);
    const plain = await measure(
      dir,
      'outpost-plain',
      (d) => startOutpost(d, INGEST_OUTPOST_CONFIG, heapArgs(d)),
      { clean: true, subscribe: false },
      true,
    );
    console.log(
      `RSS (anon) per idle client with a persistent session and one subscription (${CLIENTS} connected): ` +
        `outpost ${kib(o.rss)}, mosquitto 2 ${kib(m.rss)}, ratio ${(o.rss / m.rss).toFixed(1)}×`,
    );
    console.log(
      `outpost live V8 heap per idle client after a full GC: persistent session + subscription ${kib(o.heap)}, ` +
        `plain connection (sessions off) ${kib(plain.heap)}: the session's own share ${kib((o.heap ?? 0) - (plain.heap ?? 0))}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
