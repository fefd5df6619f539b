/**
 * Invariant: a command produced to central Kafka reaches its device exactly once, in per-device
 * order, across kill -9 of `outpost run`, while real MQTT devices (mqtt.js, CleanSession 0,
 * subscribed QoS 1, acknowledging) drop their connections and reconnect. A command whose TTL ran
 * out while the gateway was down is reported expired and never delivered.
 *
 * The one duplicate MQTT QoS 1 itself allows is told apart and counted: a PUBLISH the gateway sent
 * whose PUBACK it had not stored when the connection (or the process) died is sent again with its
 * packet id and DUP 1 [MQTT-4.4.0-1]. So the check is: every command arrives, at most one copy with
 * DUP 0, every further copy DUP 1. The handled id commits in the same LMDB transaction as the
 * session's queue entry (Downlink inTransaction), so a command the restarted gateway finds
 * unrecorded (reported uncertain) was stored by no persistent session: its redelivery is the first.
 */
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createTopic, produce } from '../kafka/client.ts';
import { sharedClusters } from '../kafka/shared.ts';
import { command, waitFor } from '../mirror/commands-helpers.ts';
import {
  baseConfig,
  MAIN,
  metricValue,
  type Outpost,
  startOutpost,
  tempDir,
  uniq,
  writeConfig,
} from '../service/helpers.ts';

const PARTITIONS = 3;
const DEVICES = ['e0', 'e1', 'e2', 'e3'];
const BATCH = 15; // commands per device per batch
const BATCHES = 4;
const KILLS = 3;

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

interface Device {
  client: MqttClient;
  got: Array<{ payload: string; dup: boolean }>;
}

function device(port: number, id: string): Device {
  const got: Device['got'] = [];
  const client = mqtt.connect({
    host: '127.0.0.1',
    port,
    clientId: id,
    clean: false,
    username: id,
    password: 'pw',
    protocolVersion: 4,
    reconnectPeriod: 200,
    connectTimeout: 5_000,
  });
  client.on('error', () => {});
  client.on('message', (_t, payload, packet) => got.push({ payload: payload.toString(), dup: packet.dup }));
  onTestFinished(() => {
    client.end(true);
  });
  return { client, got };
}

describe('integrity › commands exactly once to the device', () => {
  it('kill -9 of outpost run while commands flow and devices reconnect: each command arrives, once without DUP, in order; expired ones are reported, never delivered', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const dir = tempDir('cmd-once');
    const cfgPath = join(dir, 'config.json');
    const port = await freePort();
    const base = baseConfig(join(dir, 'data'), uniq('once'));
    const config = {
      ...base,
      mqtt: { listeners: [{ type: 'tcp', host: '127.0.0.1', port }], sessions: { enabled: true } },
      mirror: { clusters: { 'dc-east': { bootstrap: east.bootstrap } } },
      commands: { enabled: true, fetchMaxWaitMs: 200, requestTimeoutMs: 5_000 },
      logging: { level: 'info' },
    };
    writeConfig(cfgPath, config);
    const topic = `commands.${config.edgeId}`;
    await createTopic(east.bootstrap, topic, { partitions: PARTITIONS });
    let svc: Outpost = await startOutpost(cfgPath);
    for (const d of DEVICES) {
      const add = spawnSync(
        process.execPath,
        [MAIN, 'devices', 'add', d, '--config', cfgPath, '--password-stdin'],
        {
          input: 'pw\n',
          encoding: 'utf8',
        },
      );
      expect(add.status, add.stderr).toBe(0);
    }
    // The service picks registry changes made by the CLI up within about a second.
    await waitFor('devices registered', async () => {
      const probe = await mqtt
        .connectAsync({
          host: '127.0.0.1',
          port,
          username: DEVICES[0] as string,
          password: 'pw',
          reconnectPeriod: 0,
        })
        .catch(() => null);
      await probe?.endAsync();
      return probe !== null;
    });
    const devices = DEVICES.map((d) => device(port, d));
    for (const [i, dev] of devices.entries()) {
      await waitFor('device connected', () => dev.client.connected);
      await dev.client.subscribeAsync(`devices/${DEVICES[i]}/commands/#`, { qos: 1 });
    }
    // Connections drop now and then (bounded: every 150 ms one device, until the end).
    let flapping = true;
    const flap = (async () => {
      for (let n = 0; flapping; n++) {
        await new Promise((r) => setTimeout(r, 150));
        (devices[n % devices.length] as Device).client.stream?.destroy();
      }
    })();

    const distinct = () => new Set(devices.flatMap((d) => d.got.map((g) => g.payload))).size;
    const expired: string[] = [];
    const lines: Outpost['lines'] = [];
    let produced = 0;
    for (let b = 0; b < BATCHES; b++) {
      const batch = DEVICES.flatMap((d) =>
        Array.from({ length: BATCH }, (_, i) => command(d, b * BATCH + i, PARTITIONS)),
      );
      await produce(east.bootstrap, topic, batch);
      produced += batch.length;
      if (b >= KILLS) break;
      await waitFor('deliveries under way', () => distinct() >= produced - BATCH, 60_000);
      svc.proc.kill('SIGKILL');
      await svc.exited;
      lines.push(...svc.lines);
      // While the gateway is down: one command per device whose TTL runs out before it is back.
      const late = DEVICES.map((d) => command(d, 1000 + b, PARTITIONS, { 'outpost-ttl-ms': '1' }));
      await produce(east.bootstrap, topic, late);
      expired.push(...late.map((r) => `${r.key}-${1000 + b}`));
      svc = await startOutpost(cfgPath);
    }
    await waitFor('every command delivered', () => distinct() === produced, 90_000);
    await waitFor(
      'every expired command reported',
      () =>
        expired.every((id) =>
          [...lines, ...svc.lines].some((l) => l['id'] === id && String(l.msg).includes('expired')),
        ),
      30_000,
    );
    flapping = false;
    await flap;

    // The consumer's status is in /v1/status, its metrics in /metrics.
    const status = (await (await fetch(`${svc.http}v1/status`)).json()) as {
      commands: Record<string, unknown>;
    };
    expect(status.commands).toMatchObject({ cluster: 'dc-east', state: 'consuming', topic });
    const page = await (await fetch(svc.http)).text();
    expect(page).toContain('<td data-k="commands-state">consuming</td>');
    expect(page).toContain('<td data-k="commands-cluster">dc-east</td>');
    const metrics = await (await fetch(`${svc.http}metrics`)).text();
    for (const name of ['total', 'uncertain_total', 'atomic_total', 'duplicates_total', 'errors_total'])
      expect(metrics).toContain(`# TYPE outpost_commands_${name} counter`);
    expect(metrics).toContain('outpost_commands_consuming{cluster="dc-east"} 1');
    expect(metricValue(metrics, 'outpost_commands_total', { outcome: 'expired' })).toBeGreaterThan(0);
    expect(metricValue(metrics, 'outpost_commands_atomic_total')).toBeGreaterThan(0);
    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
    lines.push(...svc.lines);

    // A crash before the session stored a command leaves it unrecorded: reported uncertain and
    // delivered again, which for these persistent QoS 1 sessions is its first delivery (checked below).
    const uncertain = lines.filter((l) => String(l.msg).includes('delivery began before a restart'));
    const all = devices.flatMap((d) => d.got.map((g) => g.payload));
    expect(all.filter((p) => Number(p.split(':')[1]) >= 1000)).toEqual([]);
    let resent = 0;
    for (const [i, dev] of devices.entries()) {
      const d = DEVICES[i] as string;
      const first = dev.got.filter((g) => !g.dup).map((g) => g.payload);
      expect(new Set(first).size, `${d}: a command arrived twice without DUP`).toBe(first.length);
      const order: string[] = [];
      for (const g of dev.got) if (!order.includes(g.payload)) order.push(g.payload);
      expect(order, d).toEqual(Array.from({ length: BATCHES * BATCH }, (_, s) => `${d}:${s}`));
      resent += dev.got.length - order.length;
    }
    // Reported, not asserted: how many DUP 1 resends (MQTT QoS 1 at least once) the run had.
    console.log(
      `commands exactly once: ${produced} commands, ${KILLS} kills, ${resent} DUP 1 resends, ${uncertain.length} uncertain (redelivered once)`,
    );
  }, 300_000);
});
