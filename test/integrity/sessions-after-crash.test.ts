/**
 * Invariant: MQTT 3.1.1 session state survives kill -9 of `outpost run` (mqtt.sessions on).
 *
 * Run 1: a persistent subscriber (CleanSession 0) subscribes and goes away; a publisher sends 20
 * QoS 1 messages to its filter, of which the bounded queue (maxQueuedPerSession 15) takes the
 * first 15; a device publishes QoS 2 and gets PUBREC (no PUBREL yet); a registered device holds a
 * will, and so does another, disabled while the service is down. The test waits until the queue is
 * committed in LMDB (read from this process), then kills the service. Run 2: the first will is in
 * the log, with its device.id header, the disabled device's is discarded; the QoS 2 PUBLISH resent with DUP is acknowledged and not appended
 * again; the subscriber reconnects with CleanSession 0, gets session present 1 and exactly the 15
 * queued messages, in order.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import { describe, expect, onTestFinished, test } from 'vitest';
import { type LogRecord, openLog, type PartitionedLog } from '../../src/log/index.ts';
import { encode, publishPacket, rawClient } from '../ingest/raw.ts';
import { addDevice, disableDevice } from './devices.ts';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');
const SENT = 20;
const BOUND = 15;

interface Service {
  child: ChildProcess;
  port: number;
  exited: Promise<number | null>;
  lines: Array<Record<string, unknown>>;
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
  const lines: Array<Record<string, unknown>> = [];
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      try {
        const j = JSON.parse(line) as { msg?: string; listeners?: Array<{ port: number }> };
        lines.push(j);
        if (j.msg === 'MQTT ingest listening' && j.listeners?.[0]) resolve(j.listeners[0].port);
      } catch {}
    });
    exited.then((code) => reject(new Error(`service exited (${code}) before listening: ${stderr}`)));
  });
  return { child, port, exited, lines };
}

function values(log: PartitionedLog, topic: string): string[] {
  const out: LogRecord[] = [];
  for (let p = 0; p < log.partitionCount(topic); p++) {
    for (let off = log.offsets(topic, p).startOffset; ; ) {
      const batch = log.read(topic, p, off, { maxRecords: 5000 });
      if (batch.length === 0) break;
      out.push(...batch);
      off = (batch.at(-1) as LogRecord).offset + 1;
    }
  }
  return out.map((r) => r.value.toString());
}

describe('integrity › sessions survive kill -9', () => {
  test('integrity › after kill -9 a persistent session resumes with session present 1 and exactly its bounded queue; an in-flight QoS 2 is stored once; a lost will is published', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'outpost-sessions-crash-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const configPath = join(dir, 'config.json');
    await writeFile(
      configPath,
      JSON.stringify({
        edgeId: 'sessions',
        dataDir: join(dir, 'data'),
        log: { topics: { open: { partitions: 1 } }, minFreeBytes: 0 },
        mqtt: {
          listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
          allowAnonymous: 'loopback',
          sessions: {
            enabled: true,
            forwardDevicePublishes: true,
            anonymousFilters: ['open/#'],
            maxQueuedPerSession: BOUND,
          },
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
    const subOpts = { clientId: 'app', clean: false, reconnectPeriod: 0 };
    const sub = await mqtt.connectAsync(url, subOpts);
    await sub.subscribeAsync('open/cmd/#', { qos: 1 });
    await sub.endAsync();
    const pub = await mqtt.connectAsync(url, { clientId: 'pub', reconnectPeriod: 0 });
    for (let i = 0; i < SENT; i++) await pub.publishAsync('open/cmd/n', String(i), { qos: 1 });
    const q2 = await rawClient(current.port);
    const q2Connect = encode({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: false,
      clientId: 'q2dev',
      keepalive: 60,
    });
    q2.send(q2Connect);
    await q2.next('connack');
    q2.send(publishPacket('open/q2', 'q2-once', 2, 5));
    await q2.next('pubrec');
    /** A registered device that logs in and leaves a will on open/will/<suffix>. */
    const deviceWithWill = async (id: string, suffix: string, payload: string) => {
      await addDevice(configPath, (current as Service).port, id, 'pw');
      const client = await mqtt.connectAsync(url, {
        clientId: id,
        username: id,
        password: 'pw',
        reconnectPeriod: 0,
        will: { topic: `open/will/${suffix}`, payload: Buffer.from(payload), qos: 1, retain: false },
      });
      client.on('error', () => {});
      return client;
    };
    const willer = await deviceWithWill('willer', 'gone', 'lost');
    // A second device's will: the device is disabled while the service is down.
    const quiet = await deviceWithWill('quiet', 'quiet', 'muted');
    // The queue is committed in LMDB (a kill -9 keeps what is committed; fsync is for power loss).
    const reader = await openLog({
      dataDir: join(dir, 'data'),
      topics: { open: { partitions: 1, retentionMs: 86_400_000, retentionBytes: 1024 ** 3 } },
      maxBytes: 8 * 1024 ** 3,
      onFull: 'reject',
      role: 'reader',
    });
    onTestFinished(() => reader.close());
    const outgoing = reader.openStore<[string, number], unknown>('sessions.outgoing');
    const wills = reader.openStore<string, unknown>('sessions.wills');
    await expect
      .poll(() => [
        [...outgoing.getKeys()].filter((k) => k[0] === 'app').length,
        wills.doesExist('willer'),
        wills.doesExist('quiet'),
      ])
      .toEqual([BOUND, true, true]);
    expect(current.lines.filter((l) => l['reason'] === 'queue-full' && l['clientId'] === 'app')).toHaveLength(
      1,
    );
    current.child.kill('SIGKILL');
    await current.exited;
    pub.end(true);
    willer.end(true);
    quiet.end(true);
    disableDevice(configPath, 'quiet');

    // Run 2.
    current = await startService(configPath);
    const port = current.port;
    expect(values(reader, 'open').filter((v) => v === 'lost')).toEqual(['lost']);
    // Published with no connection state left, the will still names its device.
    const will = reader.read('open', 0, 0, { maxRecords: 5000 }).find((r) => r.value.toString() === 'lost');
    expect(will?.headers['device.id']?.toString()).toBe('willer');
    // The disabled device's will is discarded, with a log line that says why.
    expect(values(reader, 'open').filter((v) => v === 'muted')).toEqual([]);
    expect(current.lines.find((l) => l['clientId'] === 'quiet')?.['err']).toMatch(/disabled or removed/);
    expect(wills.doesExist('quiet')).toBe(false);
    const q2b = await rawClient(port);
    q2b.send(q2Connect);
    await q2b.next('connack');
    q2b.send(
      encode({
        cmd: 'publish',
        topic: 'open/q2',
        payload: 'q2-once',
        qos: 2,
        dup: true,
        retain: false,
        messageId: 5,
      }),
    );
    await q2b.next('pubrec');
    q2b.send(encode({ cmd: 'pubrel', messageId: 5 }));
    await q2b.next('pubcomp');

    const got: string[] = [];
    const resumed = mqtt.connect(`mqtt://127.0.0.1:${port}`, subOpts);
    resumed.on('message', (_t, payload, packet) => got.push(`${payload.toString()}@${packet.qos}`));
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      resumed.once('connect', resolve);
      resumed.once('error', reject);
    });
    expect(connack.sessionPresent).toBe(true);
    // Every queued message acknowledged (the queue is empty), then what arrived is exactly it.
    await expect
      .poll(() => [...outgoing.getKeys()].filter((k) => k[0] === 'app').length, { timeout: 20_000 })
      .toBe(0);
    expect(got).toEqual(Array.from({ length: BOUND }, (_, i) => `${i}@1`));
    await resumed.endAsync();
    current.child.kill('SIGTERM');
    expect(await current.exited).toBe(0);

    const stored = values(reader, 'open');
    expect(stored.filter((v) => v === 'q2-once')).toEqual(['q2-once']);
    expect(stored.filter((v) => v === 'lost')).toEqual(['lost']);
    expect(stored.filter((v) => /^\d+$/.test(v))).toEqual(Array.from({ length: SENT }, (_, i) => String(i)));
  });
});
