/**
 * `npm run bench:sessions`: broker memory per idle client holding a persistent session
 * (CleanSession 0) with one QoS 1 subscription, Outpost (`outpost run`, mqtt.sessions on: the
 * session in LMDB, the subscription also in its in-memory trie) beside Mosquitto 2 (sessions in
 * memory, `persistence false`) measured in the same run with the same clients.
 *
 * The clients connect anonymously over loopback (Outpost: anonymousFilters ["devices/#"]) and each
 * subscribes to devices/<its id>/commands/#, the default device ACL's shape. Figure: RssAnon of the
 * broker process after all are connected and subscribed, minus before, per client.
 *
 * Environment: BENCH_IDLE (2000) clients; connections open 50 at a time.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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

async function sessionClients(port: number, n: number): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < n; i += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, n - i) }, async (_, k) => {
        const id = `idle-${i + k}`;
        const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
          clientId: id,
          clean: false,
          reconnectPeriod: 0,
          connectTimeout: 30_000,
          keepalive: 600,
        });
        await c.subscribeAsync(`devices/${id}/commands/#`, { qos: 1 });
        return c;
      }),
    );
    clients.push(...batch);
  }
  return clients;
}

async function perClient(broker: Broker): Promise<number> {
  await new Promise((r) => setTimeout(r, 500));
  const before = rssBytes(broker.pid, 'RssAnon');
  const clients = await sessionClients(broker.port, CLIENTS);
  await new Promise((r) => setTimeout(r, 1000));
  const after = rssBytes(broker.pid, 'RssAnon');
  await Promise.all(clients.map((c) => c.endAsync(true)));
  return (after - before) / CLIENTS;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-sessions-'));
  stopOnSignal('bench dir', async () => rmSync(dir, { recursive: true, force: true }));
  const config = mergeConfig(INGEST_OUTPOST_CONFIG, {
    mqtt: { sessions: { enabled: true, anonymousFilters: ['devices/#'] } },
  });
  const figures: Record<string, number> = {};
  try {
    for (const [name, start] of [
      ['mosquitto', (d: string) => startMosquitto(d)],
      ['outpost', (d: string) => startOutpost(d, config)],
    ] as const) {
      const d = join(dir, name);
      mkdirSync(d, { recursive: true });
      const broker = await start(d);
      try {
        figures[name] = await perClient(broker);
      } finally {
        await broker.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const o = figures['outpost'] ?? 0;
  const m = figures['mosquitto'] ?? 0;
  console.log(
    `RSS (anon) per idle client with a persistent session and one subscription (${CLIENTS} connected): ` +
      `outpost ${(o / 1024).toFixed(1)} KiB, mosquitto 2 ${(m / 1024).toFixed(1)} KiB, ratio ${(o / m).toFixed(1)}×`,
  );
}

await main();
