/**
 * Invariant: an MQTT 5 persistent session (Session Expiry > 0) survives kill -9 of `outpost run`
 * (mqtt.sessions on, forwardDevicePublishes on).
 *
 * Run 1: an MQTT 5 subscriber connects with Clean Start 0 and Session Expiry 3600, subscribes at
 * QoS 1 and goes away; an MQTT 5 publisher sends 12 QoS 1 messages to its filter, each PUBACKed
 * after it is in the log and queued for the session. The test waits until the 12 copies are
 * committed in sessions.outgoing (read from this process), then kills the service.
 * Run 2: the subscriber reconnects with Clean Start 0: session present 1 [MQTT-3.2.2-3], and exactly
 * the 12 queued messages, in order [MQTT-3.1.2-23]; the queue is then empty.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import { describe, expect, onTestFinished, test } from 'vitest';
import { openLog } from '../../src/log/index.ts';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');
const SENT = 12;

interface Service {
  child: ChildProcess;
  port: number;
  exited: Promise<number | null>;
}

async function startService(configPath: string): Promise<Service> {
  const child = spawn(process.execPath, [MAIN, 'run', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      try {
        const j = JSON.parse(line) as { msg?: string; listeners?: Array<{ port: number }> };
        if (j.msg === 'MQTT ingest listening' && j.listeners?.[0]) resolve(j.listeners[0].port);
      } catch {}
    });
    exited.then((code) => reject(new Error(`service exited (${code}) before listening: ${stderr}`)));
  });
  return { child, port, exited };
}

describe('integrity › MQTT 5 sessions survive kill -9', () => {
  test('integrity › after kill -9 an MQTT 5 session with Session Expiry resumes with session present 1 and exactly its queued messages, in order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'outpost-mqtt5-crash-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const configPath = join(dir, 'config.json');
    await writeFile(
      configPath,
      JSON.stringify({
        edgeId: 'mqtt5-sessions',
        dataDir: join(dir, 'data'),
        log: { topics: { open: { partitions: 1 } }, minFreeBytes: 0 },
        mqtt: {
          listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
          allowAnonymous: 'loopback',
          sessions: { enabled: true, forwardDevicePublishes: true, anonymousFilters: ['open/#'] },
        },
        routes: [{ match: 'open/#', topic: 'open', deviceAcl: false }],
        http: { host: '127.0.0.1', port: 0 },
        logging: { level: 'info' },
      }),
    );
    await mkdir(join(dir, 'data'));
    let current: Service | null = null;
    onTestFinished(() => {
      current?.child.kill('SIGKILL');
    });

    // Run 1.
    current = await startService(configPath);
    const url = `mqtt://127.0.0.1:${current.port}`;
    const subOpts = {
      clientId: 'app5',
      clean: false,
      protocolVersion: 5 as const,
      reconnectPeriod: 0,
      properties: { sessionExpiryInterval: 3600 },
    };
    const sub = await mqtt.connectAsync(url, subOpts);
    await sub.subscribeAsync('open/cmd/#', { qos: 1 });
    await sub.endAsync();
    const pub = await mqtt.connectAsync(url, { clientId: 'pub5', protocolVersion: 5, reconnectPeriod: 0 });
    for (let i = 0; i < SENT; i++) await pub.publishAsync('open/cmd/n', String(i), { qos: 1 });
    const reader = await openLog({
      dataDir: join(dir, 'data'),
      topics: { open: { partitions: 1, retentionMs: 86_400_000, retentionBytes: 1024 ** 3 } },
      maxBytes: 8 * 1024 ** 3,
      onFull: 'reject',
      role: 'reader',
    });
    onTestFinished(() => reader.close());
    const outgoing = reader.openStore<[string, number], unknown>('sessions.outgoing');
    const expiry = reader.openStore<string, { expiry: number; endedAt: number }>('sessions.expiry');
    await expect
      .poll(() => [[...outgoing.getKeys()].filter((k) => k[0] === 'app5').length, expiry.get('app5')?.expiry])
      .toEqual([SENT, 3600]);
    current.child.kill('SIGKILL');
    await current.exited;
    pub.end(true);

    // Run 2.
    current = await startService(configPath);
    const got: string[] = [];
    const resumed = mqtt.connect(`mqtt://127.0.0.1:${current.port}`, subOpts);
    resumed.on('message', (_t, payload, packet) => got.push(`${payload.toString()}@${packet.qos}`));
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      resumed.once('connect', resolve);
      resumed.once('error', reject);
    });
    expect(connack.sessionPresent).toBe(true);
    await expect
      .poll(() => [...outgoing.getKeys()].filter((k) => k[0] === 'app5').length, { timeout: 20_000 })
      .toBe(0);
    expect(got).toEqual(Array.from({ length: SENT }, (_, i) => `${i}@1`));
    await resumed.endAsync();
    current.child.kill('SIGTERM');
    expect(await current.exited).toBe(0);
  });
});
