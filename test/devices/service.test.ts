/**
 * End to end: a real `outpost run`, the real `outpost devices` CLI beside it, real mqtt.js clients.
 * (Service helpers are shared with test/service.)
 */
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, test } from 'vitest';
import { baseConfig, readTopic, startOutpost, tempDir, uniq, writeConfig } from '../service/helpers.ts';
import { outpost } from './helpers.ts';

function connect(port: number, opts: mqtt.IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({
      host: '127.0.0.1',
      port,
      clientId: uniq('c'),
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      protocolVersion: 4,
      ...opts,
    });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

async function refusal(port: number, opts: mqtt.IClientOptions): Promise<number | undefined> {
  try {
    const c = await connect(port, opts);
    c.end(true);
    return 0;
  } catch (err) {
    return (err as { code?: number }).code;
  }
}

describe('devices › with a running service', () => {
  test('a device added, disabled and removed by the CLI is accepted, cut off and refused without restart', async () => {
    const dir = tempDir('devices-e2e');
    const dataDir = join(dir, 'data');
    const cfg = baseConfig(dataDir);
    cfg.mqtt = { listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }], allowAnonymous: false };
    const configPath = join(dir, 'outpost.json');
    writeConfig(configPath, cfg);
    const svc = await startOutpost(configPath);

    // Anonymous is off in this config, and the device does not exist yet.
    expect(await refusal(svc.mqttPort, {})).toBe(5);
    expect(await refusal(svc.mqttPort, { username: 'car-1', password: 'pw-1' })).toBe(4);

    const add = await outpost(
      ['devices', 'add', 'car-1', '--config', configPath, '--password-stdin'],
      'pw-1\n',
    );
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);

    const client = await connect(svc.mqttPort, { username: 'car-1', password: 'pw-1' });
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    await client.publishAsync('a/car-1/gps', 'hello', { qos: 1 });
    expect(await refusal(svc.mqttPort, { username: 'car-1', password: 'wrong' })).toBe(4);

    const disable = await outpost(['devices', 'disable', 'car-1', '--config', configPath]);
    expect(disable.code).toBe(0);
    await closed; // the service disconnects the device on its own (change seen within ~1 s)
    expect(await refusal(svc.mqttPort, { username: 'car-1', password: 'pw-1' })).toBe(5);

    expect((await outpost(['devices', 'enable', 'car-1', '--config', configPath])).code).toBe(0);
    const again = await connect(svc.mqttPort, { username: 'car-1', password: 'pw-1' });
    again.end(true);

    expect((await outpost(['devices', 'remove', 'car-1', '--config', configPath])).code).toBe(0);
    expect(await refusal(svc.mqttPort, { username: 'car-1', password: 'pw-1' })).toBe(4);

    const metrics = await (await fetch(`${svc.http.replace(/\/$/, '')}/metrics`)).text();
    expect(metrics).toMatch(/^outpost_devices_registered 0$/m);
    expect(metrics).toMatch(/^outpost_auth_failures_total\{reason="bad-credentials"\} 1$/m);
    expect(metrics).toMatch(/^outpost_auth_failures_total\{reason="unknown-device"\} 2$/m);
    expect(metrics).toMatch(/^outpost_auth_failures_total\{reason="disabled"\} 1$/m);
    expect(metrics).toMatch(/^outpost_auth_failures_total\{reason="anonymous-refused"\} 1$/m);

    const refused = svc.lines.filter((l) => l['event'] === 'device.auth.refused');
    expect(refused.map((l) => [l['deviceId'], l['reason']])).toEqual([
      [null, 'anonymous-refused'],
      ['car-1', 'unknown-device'],
      ['car-1', 'bad-credentials'],
      ['car-1', 'disabled'],
      ['car-1', 'unknown-device'],
    ]);
    expect(JSON.stringify(svc.lines)).not.toContain('pw-1');

    svc.proc.kill('SIGTERM');
    await svc.exited;
    const records = await readTopic(dataDir, { a: { partitions: 2 }, b: { partitions: 1 } }, 'a');
    expect(records.map((r) => [r.value.toString(), r.headers['device.id']?.toString()])).toEqual([
      ['hello', 'car-1'],
    ]);
  });
});
