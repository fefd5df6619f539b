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
 *
 * Inbound QoS 2 in the same runs: a raw MQTT 5 device with Session Expiry sends 3 QoS 2 PUBLISHes
 * and gets PUBREC for each (no PUBREL) before the kill. In run 2 it resends them with DUP 1: each
 * gets PUBREC 0x00 and is not appended again [MQTT-4.3.3-2]; its PUBREL gets PUBCOMP 0x00. The log
 * then holds each of the 3 exactly once.
 *
 * Wills (second test): three MQTT 5 connections with wills are open at the kill. At the next start
 * the one with no delay and no session is published at once; the one with a 2 s Will Delay waits
 * and then is published; the one with an hour's delay waits, and its device's reconnect with Clean
 * Start 0 cancels it [MQTT-3.1.3-9]: it never reaches the log. The first is a registered device's:
 * published with no connection state left, its record still carries device.id. A will whose
 * connection SIGTERM closed stays stored and is published by the next start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { describe, expect, onTestFinished, test } from 'vitest';
import { openLog } from '../../src/log/index.ts';
import { connect5Packet, encode5, type RawClient, rawClient } from '../ingest/raw.ts';
import { addDevice } from './devices.ts';

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

const QOS2 = [1, 2, 3];

async function qos2Device(port: number): Promise<RawClient> {
  const raw = await rawClient(port, 5);
  raw.send(connect5Packet('dev5', { clean: false, properties: { sessionExpiryInterval: 3600 } }));
  expect(await raw.next('connack')).toMatchObject({ reasonCode: 0 });
  return raw;
}

function sendQos2(raw: RawClient, dup: boolean): void {
  for (const messageId of QOS2) {
    raw.send(
      encode5({
        cmd: 'publish',
        topic: 'open/q2',
        payload: `q${messageId}`,
        qos: 2,
        messageId,
        retain: false,
        dup,
      } as Packet),
    );
  }
}

const pubrecs = (raw: RawClient) =>
  raw.packets
    .filter((p) => p.cmd === 'pubrec')
    .map((p) => [(p as { messageId: number }).messageId, (p as { reasonCode?: number }).reasonCode ?? 0]);

async function writeConfig(dir: string): Promise<string> {
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
  return configPath;
}

/**
 * A fresh data dir with its config, removed at test end; `start` runs the service on it, and the
 * last one started is killed at test end if it still runs.
 */
async function serviceDir(prefix: string) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const configPath = await writeConfig(dir);
  let last: Service | null = null;
  onTestFinished(() => {
    last?.child.kill('SIGKILL');
  });
  const start = async (): Promise<Service> => {
    last = await startService(configPath);
    return last;
  };
  return { dir, configPath, start };
}

/** The service's log, opened read-only from this process (closed at test end). */
async function openReader(dir: string) {
  const log = await openLog({
    dataDir: join(dir, 'data'),
    topics: { open: { partitions: 1, retentionMs: 86_400_000, retentionBytes: 1024 ** 3 } },
    maxBytes: 8 * 1024 ** 3,
    onFull: 'reject',
    role: 'reader',
  });
  onTestFinished(() => log.close());
  return log;
}

/** An MQTT 5 connection with a will on open/wills, left open; `password`: it logs in as device `id`. */
async function withWill(
  port: number,
  id: string,
  delay: number,
  expiry: number,
  password?: string,
): Promise<RawClient> {
  const raw = await rawClient(port, 5);
  raw.send(
    connect5Packet(id, {
      ...(password === undefined ? {} : { username: id, password: Buffer.from(password) }),
      clean: expiry === 0,
      will: {
        topic: 'open/wills',
        payload: id,
        qos: 1,
        retain: false,
        properties: { willDelayInterval: delay },
      },
      properties: { sessionExpiryInterval: expiry },
    }),
  );
  expect(await raw.next('connack')).toMatchObject({ reasonCode: 0 });
  return raw;
}

describe('integrity › MQTT 5 sessions survive kill -9', () => {
  test('integrity › after kill -9 an MQTT 5 session with Session Expiry resumes with session present 1 and exactly its queued messages, in order', async () => {
    const { dir, start } = await serviceDir('outpost-mqtt5-crash-');
    let current: Service;

    // Run 1.
    current = await start();
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
    const dev = await qos2Device(current.port);
    sendQos2(dev, false);
    await expect.poll(() => pubrecs(dev)).toEqual(QOS2.map((id) => [id, 0]));
    const reader = await openReader(dir);
    const outgoing = reader.openStore<[string, number], unknown>('sessions.outgoing');
    const expiry = reader.openStore<string, { expiry: number; endedAt: number }>('sessions.expiry');
    await expect
      .poll(() => [[...outgoing.getKeys()].filter((k) => k[0] === 'app5').length, expiry.get('app5')?.expiry])
      .toEqual([SENT, 3600]);
    current.child.kill('SIGKILL');
    await current.exited;
    pub.end(true);

    // Run 2.
    current = await start();
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

    const devBack = await qos2Device(current.port);
    sendQos2(devBack, true);
    await expect.poll(() => pubrecs(devBack)).toEqual(QOS2.map((id) => [id, 0]));
    for (const messageId of QOS2) devBack.send(encode5({ cmd: 'pubrel', messageId } as Packet));
    await expect
      .poll(() =>
        devBack.packets
          .filter((p) => p.cmd === 'pubcomp')
          .map((p) => (p as { reasonCode?: number }).reasonCode ?? 0),
      )
      .toEqual([0, 0, 0]);
    const q2: string[] = [];
    for (const r of reader.read('open', 0, 0, { maxRecords: 1000 }))
      if (r.value.toString().startsWith('q')) q2.push(r.value.toString());
    expect(q2).toEqual(['q1', 'q2', 'q3']);
    current.child.kill('SIGTERM');
    expect(await current.exited).toBe(0);
  });

  test('integrity › MQTT 5 wills survive kill -9 and SIGTERM: due ones are published at the next start, delayed ones wait and a reconnect cancels them', async () => {
    const { dir, configPath, start } = await serviceDir('outpost-mqtt5-wills-');
    let current: Service;

    // Run 1: three wills held by open connections (now5 logged in as a device), then kill -9.
    current = await start();
    const port1 = current.port;
    await addDevice(configPath, port1, 'now5', 'pw5');
    const open = [
      await withWill(port1, 'now5', 0, 0, 'pw5'),
      await withWill(port1, 'late5', 2, 3600),
      await withWill(port1, 'back5', 3600, 3600),
    ];
    const log = await openReader(dir);
    const store = log.openStore<[string, string], { endedAt: number }>('sessions.wills5');
    await expect.poll(() => [...store.getKeys()].map((k) => k[0]).sort()).toEqual(['back5', 'late5', 'now5']);
    current.child.kill('SIGKILL');
    await current.exited;
    for (const raw of open) raw.socket.destroy();
    const willsInLog = () => log.read('open', 0, 0, { maxRecords: 1000 }).map((r) => r.value.toString());

    // Run 2: now5 at once; late5 after its delay; back5 cancelled by its reconnect.
    current = await start();
    await expect.poll(willsInLog).toEqual(['now5']);
    // Published with no connection state left, it still names its device.
    const [nowWill] = log.read('open', 0, 0, { maxRecords: 1 });
    expect(nowWill?.headers['client.id']?.toString()).toBe('now5');
    expect(nowWill?.headers['device.id']?.toString()).toBe('now5');
    const back = await rawClient(current.port, 5);
    back.send(connect5Packet('back5', { clean: false, properties: { sessionExpiryInterval: 3600 } }));
    expect(await back.next('connack')).toMatchObject({ reasonCode: 0, sessionPresent: true });
    await expect.poll(willsInLog, { timeout: 10_000 }).toEqual(['now5', 'late5']);
    await expect.poll(() => [...store.getKeys()]).toEqual([]);
    back.socket.destroy();
    // A will whose connection SIGTERM closes is kept, not published at stop.
    const stopped = await withWill(current.port, 'stop5', 0, 0);
    await expect.poll(() => [...store.getKeys()].map((k) => k[0])).toEqual(['stop5']);
    current.child.kill('SIGTERM');
    expect(await current.exited).toBe(0);
    stopped.socket.destroy();
    expect(willsInLog()).toEqual(['now5', 'late5']);
    expect(store.get([...store.getKeys()][0]!)?.endedAt).toBeGreaterThan(0);

    // Run 3: published at start; back5's will never reached the log.
    current = await start();
    await expect.poll(willsInLog).toEqual(['now5', 'late5', 'stop5']);
    current.child.kill('SIGTERM');
    expect(await current.exited).toBe(0);
  });
});
