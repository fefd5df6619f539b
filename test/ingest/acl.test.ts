import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { baseConfig, closed, connackCode, connect, headerText, startHarness, uniq } from './helpers.ts';

const run = promisify(execFile);

describe('ingest › routes and access control', () => {
  test('ingest › one device cannot publish as another: the connection closes without PUBACK', async () => {
    const h = await startHarness(
      baseConfig({ mqtt: { listeners: [{ type: 'tcp', port: 0 }], allowAnonymous: false } }),
    );
    const a = uniq('a-');
    const b = uniq('b-');
    await h.devices.add(a, { password: 'pw-a-123456' });
    await h.devices.add(b, { password: 'pw-b-123456' });
    const client = await connect(h.url(), { username: a, password: 'pw-a-123456' });
    let acked = false;
    client.publish(`vehicles/${b}/telemetry/gps`, 'spoof', { qos: 1 }, (err) => {
      if (!err) acked = true;
    });
    await closed(client);
    expect(acked).toBe(false);
    expect(h.records('telemetry')).toHaveLength(0);
    expect(h.ingest.status().refusals.unauthorized).toBe(1);
    const metrics = await h.metrics.getSingleMetricAsString('outpost_ingest_refusals_total');
    expect(metrics).toContain('reason="unauthorized"} 1');

    // its own topic still works on a new connection
    const again = await connect(h.url(), { username: a, password: 'pw-a-123456' });
    await again.publishAsync(`vehicles/${a}/telemetry/gps`, 'mine', { qos: 1 });
    expect(h.records('telemetry').map((r) => headerText(r, 'device.id'))).toEqual([a]);
  });

  test('ingest › routes with deviceAcl false and per-device override filters admit other topics', async () => {
    const h = await startHarness(
      baseConfig({ mqtt: { listeners: [{ type: 'tcp', port: 0 }], allowAnonymous: false } }),
    );
    const a = uniq('a-');
    const fleet = uniq('fleet-');
    await h.devices.add(a, {
      password: 'pw-a-123456',
      overrides: { topics: [`vehicles/${fleet}/telemetry/#`] },
    });
    const client = await connect(h.url(), { username: a, password: 'pw-a-123456' });
    await client.publishAsync('open/anyone/here', 'o', { qos: 1 });
    await client.publishAsync(`vehicles/${fleet}/telemetry/summary`, 's', { qos: 1 });
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['o']);
    const t = h.records('telemetry');
    expect(t.map((r) => [r.key?.toString(), headerText(r, 'device.id')])).toEqual([[fleet, a]]);
  });

  test('ingest › unmatched publishes go to the unrouted topic when configured, else close the connection', async () => {
    const collect = await startHarness(baseConfig({ unrouted: 'unrouted' }));
    const c1 = await connect(collect.url());
    await c1.publishAsync('nowhere/in/particular', 'u', { qos: 1 });
    const u = collect.records('unrouted');
    expect(u.map((r) => [r.value.toString(), r.key, headerText(r, 'mqtt.topic')])).toEqual([
      ['u', null, 'nowhere/in/particular'],
    ]);

    const strict = await startHarness(baseConfig({ unrouted: null }));
    const c2 = await connect(strict.url());
    let acked = false;
    c2.publish('nowhere/in/particular', 'u', { qos: 1 }, (err) => {
      if (!err) acked = true;
    });
    await closed(c2);
    expect(acked).toBe(false);
    expect(strict.ingest.status().refusals.unrouted).toBe(1);
    expect(strict.records('unrouted')).toHaveLength(0);
  });

  test('ingest › anonymous clients are refused unless allowed, and carry no device.id when allowed', async () => {
    const closedAnon = await startHarness(
      baseConfig({ mqtt: { listeners: [{ type: 'tcp', port: 0 }], allowAnonymous: false } }),
    );
    expect(await connackCode(closedAnon.url())).toBe(5);
    expect(closedAnon.ingest.status().refusals['anonymous-refused']).toBe(1);

    const loopback = await startHarness(
      baseConfig({ mqtt: { listeners: [{ type: 'tcp', port: 0 }], allowAnonymous: 'loopback' } }),
    );
    const anon = await connect(loopback.url(), { clientId: 'anon-1' });
    // Anonymous (loopback) clients are not subject to the {deviceId} ACL.
    await anon.publishAsync('vehicles/someone/telemetry/gps', 'a', { qos: 1 });
    const [r] = loopback.records('telemetry');
    expect(r && headerText(r, 'device.id')).toBeUndefined();
    expect(r && headerText(r, 'client.id')).toBe('anon-1');
  });

  test('ingest › bad passwords get CONNACK 4 and repeated failures are throttled (CONNACK 5)', async () => {
    const h = await startHarness(
      baseConfig({
        mqtt: {
          listeners: [{ type: 'tcp', port: 0 }],
          allowAnonymous: false,
          authThrottle: { maxFailures: 3, windowMs: 60_000, blockMs: 60_000 },
        },
      }),
    );
    const id = uniq('d-');
    await h.devices.add(id, { password: 'the-right-one' });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++)
      codes.push(await connackCode(h.url(), { username: id, password: 'wrong-password' }));
    expect(codes.slice(0, 3)).toEqual([4, 4, 4]);
    expect(codes[3]).toBe(5);
    // throttled even with the right password now
    expect(await connackCode(h.url(), { username: id, password: 'the-right-one' })).toBe(5);
    const s = h.ingest.status().refusals;
    expect(s['bad-credentials']).toBe(3);
    expect(s.throttled).toBe(2);
  });

  test('ingest › subscriptions are denied with SUBACK 0x80', async () => {
    const h = await startHarness();
    const c = await connect(h.url());
    const err = await c.subscribeAsync('vehicles/#', { qos: 1 }).then(
      () => null,
      (e: { packet?: { granted?: number[] } }) => e,
    );
    expect(err?.packet?.granted).toEqual([128]);
    expect(h.ingest.status().refusals['subscribe-denied']).toBe(1);
  });

  test('ingest › mosquitto_pub QoS 1 and QoS 2 publishes land in the log', async () => {
    const h = await startHarness(
      baseConfig({ mqtt: { listeners: [{ type: 'tcp', port: 0 }], allowAnonymous: false } }),
    );
    const id = uniq('v-');
    await h.devices.add(id, { password: 'mosquitto-pw-1' });
    for (const q of ['1', '2']) {
      await run('mosquitto_pub', [
        '-h',
        '127.0.0.1',
        '-p',
        String(h.port()),
        '-u',
        id,
        '-P',
        'mosquitto-pw-1',
        '-i',
        `mp-${id}`,
        '-t',
        `vehicles/${id}/telemetry/gps`,
        '-m',
        `hi-${q}`,
        '-q',
        q,
      ]);
    }
    const recs = h.records('telemetry');
    expect(
      recs.map((r) => [r.value.toString(), headerText(r, 'mqtt.qos'), headerText(r, 'client.id')]),
    ).toEqual([
      ['hi-1', '1', `mp-${id}`],
      ['hi-2', '2', `mp-${id}`],
    ]);
  });
});
