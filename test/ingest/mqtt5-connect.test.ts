/** MQTT 5 CONNECT / CONNACK over real sockets (mqtt.js protocolVersion 5, raw mqtt-packet bytes). */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type IConnackPacket } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { describe, expect, onTestFinished, test } from 'vitest';
import { makePki } from './certs.ts';
import { baseConfig, connackCode, connect, startHarness, uniq } from './helpers.ts';
import { rawClient } from './raw.ts';

const V5 = { protocolVersion: 5 } as const;

/** Connects with MQTT 5 and resolves with the CONNACK (accepted or refused). */
function connack5(url: string, opts: IClientOptions = {}): Promise<IConnackPacket> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...V5, ...opts });
  onTestFinished(() => {
    client.end(true);
  });
  return new Promise((resolve, reject) => {
    client.stream?.on?.('error', () => {});
    client.once('packetreceive', (p) => {
      if (p.cmd === 'connack') resolve(p as IConnackPacket);
    });
    client.once('close', () => setTimeout(() => reject(new Error('closed without CONNACK')), 50));
  });
}

function v5Connect(fields: Record<string, unknown>): Buffer {
  return mqttPacket.generate(
    {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clean: true,
      clientId: uniq('raw5-'),
      keepalive: 30,
      ...fields,
    } as never,
    { protocolVersion: 5 },
  );
}

describe('ingest › MQTT 5 CONNECT', () => {
  test('ingest › an MQTT 5 client connects and gets the CONNACK properties of our limits (§3.2.2.3)', async () => {
    const h = await startHarness(
      baseConfig({
        mqtt: {
          listeners: [{ type: 'tcp', port: 0 }],
          allowAnonymous: 'loopback',
          limits: { maxInflightPerClient: 77 },
        },
      }),
    );
    const ack = await connack5(h.url(), { clientId: uniq('v5-') });
    expect(ack.reasonCode).toBe(0);
    expect(ack.sessionPresent).toBe(false);
    expect(ack.properties).toMatchObject({
      receiveMaximum: 77, // §3.2.2.3.3 Receive Maximum: our in-flight bound
      topicAliasMaximum: 32,
      retainAvailable: true,
      wildcardSubscriptionAvailable: false,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionAvailable: false,
    });
    const maxPacket = ack.properties?.maximumPacketSize ?? 0;
    expect(maxPacket).toBeGreaterThan(h.config.mqtt.limits.maxPayloadBytes);
    expect(ack.properties?.assignedClientIdentifier).toBeUndefined();
    expect(ack.properties?.serverKeepAlive).toBeUndefined();
  });

  test('ingest › an empty client id gets an Assigned Client Identifier, used in client.id [MQTT-3.2.2-16]', async () => {
    const h = await startHarness();
    const ack = await connack5(h.url(), { clientId: '' });
    expect(ack.reasonCode).toBe(0);
    const assigned = ack.properties?.assignedClientIdentifier;
    expect(assigned).toMatch(/^outpost-[0-9a-f-]{36}$/);
  });

  test('ingest › a keepalive above the limit is clamped with Server Keep Alive, not refused [MQTT-3.2.2-21]', async () => {
    const h = await startHarness(
      baseConfig({
        mqtt: {
          listeners: [{ type: 'tcp', port: 0 }],
          allowAnonymous: 'loopback',
          limits: { maxKeepaliveSeconds: 100, requireKeepalive: true },
        },
      }),
    );
    expect((await connack5(h.url(), { keepalive: 500 })).properties?.serverKeepAlive).toBe(100);
    expect((await connack5(h.url(), { keepalive: 0 })).properties?.serverKeepAlive).toBe(100);
    expect((await connack5(h.url(), { keepalive: 50 })).properties?.serverKeepAlive).toBeUndefined();
  });

  test('ingest › a requested Session Expiry Interval is answered with 0: sessions end with the connection [MQTT-3.2.2-3]', async () => {
    const h = await startHarness();
    const ack = await connack5(h.url(), {
      clientId: uniq('se5-'),
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    expect(ack.reasonCode).toBe(0);
    expect(ack.sessionPresent).toBe(false);
    expect(ack.properties?.sessionExpiryInterval).toBe(0);
  });

  test('ingest › login refusals get 0x86, 0x87 and 0x8A (throttled) [MQTT-3.2.2-8]', async () => {
    const h = await startHarness(
      baseConfig({
        mqtt: {
          listeners: [{ type: 'tcp', port: 0 }],
          allowAnonymous: false,
          authThrottle: { maxFailures: 3, windowMs: 60_000, blockMs: 60_000 },
        },
      }),
    );
    const id = uniq('d5-');
    const off = uniq('off5-');
    await h.devices.add(id, { password: 'right-password-5' });
    await h.devices.add(off, { password: 'right-password-5' });
    await h.devices.setEnabled(off, false);
    expect((await connack5(h.url())).reasonCode).toBe(0x87); // anonymous refused
    expect((await connack5(h.url(), { username: off, password: 'right-password-5' })).reasonCode).toBe(0x87);
    expect((await connack5(h.url(), { username: uniq('nobody-'), password: 'x-password' })).reasonCode).toBe(
      0x86,
    );
    expect((await connack5(h.url(), { username: id, password: 'wrong-password' })).reasonCode).toBe(0x86);
    expect((await connack5(h.url(), { username: id, password: 'wrong-password' })).reasonCode).toBe(0x86);
    expect((await connack5(h.url(), { username: id, password: 'right-password-5' })).reasonCode).toBe(0x8a);
    const s = h.ingest.status().refusals;
    expect(s['anonymous-refused']).toBe(1);
    expect(s.disabled).toBe(1);
    expect(s['unknown-device']).toBe(1);
    expect(s['bad-credentials']).toBe(2);
    expect(s.throttled).toBe(1);
    // A good login works over MQTT 5 as over 3.1.1 (another harness: the throttle is per address).
    const ok = await startHarness(
      baseConfig({ mqtt: { listeners: [{ type: 'tcp', port: 0 }], allowAnonymous: false } }),
    );
    const other = uniq('ok5-');
    await ok.devices.add(other, { password: 'right-password-5' });
    expect((await connack5(ok.url(), { username: other, password: 'right-password-5' })).reasonCode).toBe(0);
  });

  test('ingest › a too long client id gets 0x85, the connection limit 0x89, stopping 0x88 [MQTT-3.2.2-8]', async () => {
    const h = await startHarness(
      baseConfig({
        mqtt: {
          listeners: [{ type: 'tcp', port: 0 }],
          allowAnonymous: 'loopback',
          limits: { maxClientIdLength: 10, maxConnections: 1 },
        },
      }),
    );
    expect((await connack5(h.url(), { clientId: 'x'.repeat(11) })).reasonCode).toBe(0x85);
    await connect(h.url(), { ...V5, clientId: 'holder' });
    expect((await connack5(h.url(), { clientId: 'second' })).reasonCode).toBe(0x89);
    const s = h.ingest.status().refusals;
    expect(s['client-id-too-long']).toBe(1);
    expect(s['max-connections']).toBe(1);

    const raw = await rawClient(h.port());
    const stopping = h.ingest.stop({ timeoutMs: 1000 });
    raw.send(v5Connect({ clientId: 'late' }));
    expect(await raw.next('connack')).toMatchObject({ returnCode: 0x88 }); // 3.1.1 parser: the reason code byte
    await stopping;
  });

  test('ingest › enhanced authentication is refused with 0x8C and counted [MQTT-4.12.0-1]', async () => {
    const h = await startHarness();
    const raw = await rawClient(h.port());
    raw.send(v5Connect({ properties: { authenticationMethod: 'SCRAM-SHA-1' } }));
    // raw.ts parses with mqtt-packet's 3.1.1 parser: the reason code byte is the return code there.
    const ack = (await raw.next('connack')) as { returnCode?: number; reasonCode?: number } | null;
    expect(ack?.reasonCode ?? ack?.returnCode).toBe(0x8c);
    await raw.closed;
    expect(h.ingest.status().refusals['auth-method']).toBe(1);
  });

  test('ingest › 3.1.1 keeps its CONNACK codes beside MQTT 5 on the same listener (3.1.1 §3.2.2.3)', async () => {
    const h = await startHarness(
      baseConfig({
        mqtt: {
          listeners: [{ type: 'tcp', port: 0 }],
          allowAnonymous: 'loopback',
          limits: { maxClientIdLength: 10 },
        },
      }),
    );
    expect(await connackCode(h.url(), { clientId: 'x'.repeat(11) })).toBe(2);
    expect((await connack5(h.url(), { clientId: 'x'.repeat(11) })).reasonCode).toBe(0x85);
    expect(await connackCode(h.url(), { clientId: 'fine' })).toBe(0);
  });

  test('ingest › MQTT 5 works on the tls and ws listeners too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-pki5-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const c = makePki(dir);
    const h = await startHarness(
      baseConfig({
        mqtt: {
          listeners: [
            { type: 'tls', host: '127.0.0.1', port: 0, cert: c.serverCert, key: c.serverKey },
            { type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt' },
          ],
          allowAnonymous: 'loopback',
        },
      }),
    );
    const tls = await connect(h.url('tls'), { ...V5, rejectUnauthorized: false, clientId: uniq('t5-') });
    await tls.publishAsync('open/tls5', 'a', { qos: 1 });
    const ws = await connect(h.url('ws'), { ...V5, clientId: uniq('w5-') });
    await ws.publishAsync('open/ws5', 'b', { qos: 1 });
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['a', 'b']);
  });
});
