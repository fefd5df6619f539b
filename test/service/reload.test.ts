import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  baseConfig,
  connectMqtt,
  metricValue,
  readTopic,
  startOutpost,
  tempDir,
  uniq,
  writeConfig,
} from './helpers.ts';

const TOPICS = { a: { partitions: 2 }, b: { partitions: 1 } };

describe('service SIGHUP reload', () => {
  test('service › SIGHUP applies new routes and log level without dropping connections, and says what needs a restart', async () => {
    const dir = tempDir('hup');
    const dataDir = join(dir, 'data');
    const cfg = join(dir, 'c.json');
    const config = baseConfig(dataDir) as Record<string, unknown> & ReturnType<typeof baseConfig>;
    writeConfig(cfg, config);
    const svc = await startOutpost(cfg);
    const dev = uniq('dev');
    const client = await connectMqtt(svc.mqttPort, dev);
    let closed = false;
    client.on('close', () => {
      closed = true;
    });
    await client.publishAsync(`a/${dev}/x`, 'before', { qos: 1 });

    writeConfig(cfg, {
      ...config,
      routes: [...(config.routes ?? []), { match: 'b/{deviceId}/#', topic: 'b', key: '{deviceId}' }],
      logging: { level: 'debug' },
      mqtt: {
        ...config.mqtt,
        listeners: [
          { type: 'tcp', host: '127.0.0.1', port: 0 },
          { type: 'ws', host: '127.0.0.1', port: 0 },
        ],
      },
    });
    svc.proc.kill('SIGHUP');
    await svc.waitForLine((l) => l.msg === 'config reloaded');
    const restart = svc.lines.find((l) => l.reason === 'needs-restart');
    expect(restart?.path).toBe('mqtt.listeners');
    expect(restart?.msg).toContain('needs a restart');
    expect(svc.lines.find((l) => l.msg === 'log level changed')?.logLevel).toBe('debug');

    // Same connection, new route: lands in topic b.
    await client.publishAsync(`b/${dev}/y`, 'after-reload', { qos: 1 });
    expect(closed).toBe(false);
    expect(client.connected).toBe(true);
    const metrics = await (await fetch(`${svc.http}metrics`)).text();
    expect(metricValue(metrics, 'outpost_config_reloads_total', { result: 'ok' })).toBe(1);

    client.end(true);
    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
    const b = await readTopic(dataDir, TOPICS, 'b');
    expect(b.map((r) => r.value.toString())).toEqual(['after-reload']);
  });

  test('service › SIGHUP with an invalid config is refused with a clear line and the old config stays in force', async () => {
    const dir = tempDir('hupbad');
    const dataDir = join(dir, 'data');
    const cfg = join(dir, 'c.json');
    const config = baseConfig(dataDir);
    writeConfig(cfg, config);
    const svc = await startOutpost(cfg);
    const dev = uniq('dev');
    const client = await connectMqtt(svc.mqttPort, dev);

    writeConfig(cfg, { ...config, routes: [{ match: 'a/{deviceId}/#', topic: 'no-such-topic' }] });
    svc.proc.kill('SIGHUP');
    const refused = await svc.waitForLine((l) => l.msg.startsWith('reload refused'));
    expect(refused.level).toBe('error');
    expect(refused.msg).toContain('no-such-topic');
    expect(refused.msg).toContain('the old config stays in force');

    writeConfig(cfg, '{ not json');
    svc.proc.kill('SIGHUP');
    await svc.waitForLine((l) => l.msg.startsWith('reload refused') && l.msg.includes('not valid JSON'));

    // Still running on the old routes, same connection.
    await client.publishAsync(`a/${dev}/x`, 'still-routed', { qos: 1 });
    expect(client.connected).toBe(true);
    const metrics = await (await fetch(`${svc.http}metrics`)).text();
    expect(metricValue(metrics, 'outpost_config_reloads_total', { result: 'invalid' })).toBe(2);
    client.end(true);
    svc.proc.kill('SIGTERM');
    await svc.exited;
    const a = await readTopic(dataDir, TOPICS, 'a');
    expect(a.map((r) => r.value.toString())).toContain('still-routed');
  });
});
