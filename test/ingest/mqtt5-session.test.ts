/** MQTT 5 DISCONNECT, wills, takeover, subscriptions and keepalive over real sockets. */
import { connect as netConnect } from 'node:net';
import type { IDisconnectPacket, MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { describe, expect, onTestFinished, test } from 'vitest';
import { baseConfig, closed, connect, headerText, slowLog, startHarness, uniq } from './helpers.ts';
import { connect5Packet, connectPacket, encode5, publish5, rawClient, rawConnected5 } from './raw.ts';

const V5 = { protocolVersion: 5 } as const;

function serverDisconnect(c: MqttClient): Promise<IDisconnectPacket> {
  return new Promise((resolve) => c.once('disconnect', (p) => resolve(p)));
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe('ingest › MQTT 5 sessions', () => {
  test('ingest › stop sends DISCONNECT 0x8B (server shutting down) [MQTT-3.14.2-1]', async () => {
    const h = await startHarness();
    const c = await connect(h.url(), { ...V5, clientId: uniq('s5-') });
    await c.publishAsync('open/before-stop', 'x', { qos: 1 });
    const got = serverDisconnect(c);
    await h.ingest.stop({ timeoutMs: 1000 });
    expect((await got).reasonCode).toBe(0x8b);
    expect(h.records('open')).toHaveLength(1);
  });

  test('ingest › a second connection with the client id takes over: DISCONNECT 0x8E, across 3.1.1 and 5 [MQTT-3.1.4-3]', async () => {
    const h = await startHarness();
    const id = uniq('to-');
    const first = await connect(h.url(), { ...V5, clientId: id });
    const got = serverDisconnect(first);
    const second = await connect(h.url(), { ...V5, clientId: id });
    expect((await got).reasonCode).toBe(0x8e);
    // A 3.1.1 connection takes over the MQTT 5 one too, and an MQTT 5 one a 3.1.1 one.
    const got2 = serverDisconnect(second);
    const third = await connect(h.url(), { clientId: id });
    expect((await got2).reasonCode).toBe(0x8e);
    const thirdGone = closed(third);
    const fourth = await connect(h.url(), { ...V5, clientId: id });
    await thirdGone;
    await fourth.publishAsync('open/takeover', 'last', { qos: 1 });
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['last']);
  });

  test('ingest › the will: published on a dropped socket and after DISCONNECT 0x04, not after 0x00 [MQTT-3.14.4-3]', async () => {
    const h = await startHarness();
    const will = (tag: string) => ({
      topic: 'open/will',
      payload: Buffer.from(tag),
      qos: 1 as const,
      retain: false,
      properties: { contentType: 'text/plain', userProperties: { why: 'gone' } },
    });
    for (const [tag, how] of [
      ['dropped', 'drop'],
      ['with-will', 0x04],
      ['normal', 0x00],
    ] as const) {
      const raw = await rawClient(h.port(), 5);
      raw.send(connect5Packet(uniq('w5-'), { will: will(tag) }));
      expect(await raw.next('connack')).toMatchObject({ reasonCode: 0 });
      if (how === 'drop') raw.socket.destroy();
      else raw.send(encode5({ cmd: 'disconnect', reasonCode: how } as Packet));
      await raw.closed;
    }
    await until(() => h.records('open').length >= 2);
    await new Promise((r) => setTimeout(r, 100)); // a wrongly published third will would land by now
    const records = h.records('open');
    expect(records.map((r) => r.value.toString()).sort()).toEqual(['dropped', 'with-will']);
    expect(records.map((r) => headerText(r, 'mqtt.user.why'))).toEqual(['gone', 'gone']);
    expect(records.map((r) => headerText(r, 'mqtt.content.type'))).toEqual(['text/plain', 'text/plain']);
  });

  test('ingest › a will payload marked UTF-8 that is not gets CONNACK 0x99 [§3.1.3.2.3, §3.2.2.2]', async () => {
    const h = await startHarness();
    const raw = await rawClient(h.port(), 5);
    raw.send(
      connect5Packet(uniq('w5-'), {
        will: {
          topic: 'open/will',
          payload: Buffer.from([0xff]),
          qos: 0,
          retain: false,
          properties: { payloadFormatIndicator: true },
        },
      }),
    );
    expect(await raw.next('connack')).toMatchObject({ reasonCode: 0x99 });
    await raw.closed;
    expect(h.ingest.status().refusals['payload-format']).toBe(1);
  });

  test('ingest › SUBSCRIBE gets SUBACK 0x87 for every filter, UNSUBSCRIBE 0x11 [MQTT-3.9.3-1]', async () => {
    const h = await startHarness();
    const raw = await rawConnected5(h.port(), uniq('sub5-'));
    raw.send(
      encode5({
        cmd: 'subscribe',
        messageId: 4,
        subscriptions: [
          { topic: 'a/#', qos: 1 },
          { topic: 'b/+', qos: 0 },
        ],
      } as Packet),
    );
    expect(await raw.next('suback')).toMatchObject({ messageId: 4, granted: [0x87, 0x87] });
    raw.send(encode5({ cmd: 'unsubscribe', messageId: 5, unsubscriptions: ['a/#'] } as Packet));
    expect(await raw.next('unsuback')).toMatchObject({ messageId: 5, granted: [0x11] });
    expect(h.ingest.status().refusals['subscribe-denied']).toBe(2);
    expect(raw.isClosed()).toBe(false);
  });

  test('ingest › a second CONNECT, an AUTH packet, a DISCONNECT raising Session Expiry are DISCONNECT 0x82 [MQTT-3.1.0-2, MQTT-4.12.0-1, MQTT-3.14.2-2]', async () => {
    const h = await startHarness();
    for (const bad of [
      connect5Packet(uniq('again-')),
      encode5({ cmd: 'auth', reasonCode: 0x18 } as Packet),
      encode5({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 60 } } as Packet),
    ]) {
      const raw = await rawConnected5(h.port(), uniq('pe5-'));
      raw.send(bad);
      expect(await raw.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
      await raw.closed;
    }
    expect(h.ingest.status().refusals['protocol-error']).toBe(3);
  });

  test('ingest › a silent client is closed after 1.5 × keepalive with DISCONNECT 0x8D [MQTT-3.1.2-22]', async () => {
    const h = await startHarness();
    const raw = await rawClient(h.port(), 5);
    raw.send(connect5Packet(uniq('ka5-'), { keepalive: 1 }));
    expect(await raw.next('connack')).toMatchObject({ reasonCode: 0 });
    expect(await raw.next('disconnect')).toMatchObject({ reasonCode: 0x8d });
    expect(h.ingest.status().refusals['keepalive-timeout']).toBe(1);
  });

  test('ingest › PINGREQ gets PINGRESP [MQTT-3.12.4-1]', async () => {
    const h = await startHarness();
    const raw = await rawConnected5(h.port(), uniq('ping5-'));
    raw.send(encode5({ cmd: 'pingreq' } as Packet));
    expect(await raw.next('pingresp')).not.toBeNull();
  });

  test('ingest › a socket that never completes the first packet is closed by connectTimeoutMs and counted', async () => {
    const h = await startHarness(
      baseConfig({
        mqtt: { listeners: [{ type: 'tcp', port: 0 }], allowAnonymous: 'loopback', connectTimeoutMs: 300 },
      }),
    );
    const socket = netConnect(h.port(), '127.0.0.1');
    socket.on('error', () => {});
    onTestFinished(() => {
      socket.destroy();
    });
    await new Promise<void>((r) => socket.once('connect', r));
    socket.write(connect5Packet('half').subarray(0, 3)); // not yet the protocol level
    socket.resume();
    await new Promise<void>((r) => socket.once('close', () => r()));
    expect(h.ingest.status().refusals['connect-timeout']).toBe(1);
    // 3.1.1 still works beside it.
    const raw = await rawClient(h.port());
    raw.send(connectPacket(uniq('v4-')));
    expect(await raw.next('connack')).toMatchObject({ returnCode: 0 });
  });

  test('ingest › disabling a device: DISCONNECT 0x98 with a Reason String, counted, its will discarded (revocation) [§3.14.2.1]', async () => {
    const h = await startHarness(
      baseConfig({ mqtt: { listeners: [{ type: 'tcp', port: 0 }], allowAnonymous: false } }),
    );
    const id = uniq('rev5-');
    await h.devices.add(id, { password: 'revoke-password-5' });
    const c = await connect(h.url(), {
      ...V5,
      clientId: id,
      username: id,
      password: 'revoke-password-5',
      will: { topic: 'open/revoked-will', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    await c.publishAsync('open/revoked-before', 'before', { qos: 1 });
    const got = serverDisconnect(c);
    const gone = closed(c);
    await h.devices.setEnabled(id, false);
    const d = await got;
    expect(d.reasonCode).toBe(0x98);
    expect(d.properties?.reasonString).toMatch(/^device-revoked/);
    await gone;
    expect(h.ingest.status().refusals['device-revoked']).toBe(1);
    await until(() => h.ingest.status().connections === 0);
    expect(h.ingest.status().connections).toBe(0);
    // A revoked device no longer speaks through Outpost: its will is discarded (docs/ingest.md). A
    // publish after the close is appended, the will before it is not.
    const otherId = uniq('other-');
    await h.devices.add(otherId, { password: 'other-password' });
    const other = await connect(h.url(), {
      ...V5,
      clientId: otherId,
      username: otherId,
      password: 'other-password',
    });
    await other.publishAsync('open/after', 'after', { qos: 1 });
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['before', 'after']);
  });

  test('ingest › a revoked device gets the PUBACKs of what it sent before, in order, then DISCONNECT 0x98 [MQTT-4.6.0-2]', async () => {
    let appending: () => void = () => {};
    const appended = new Promise<void>((r) => {
      appending = r;
    });
    const h = await startHarness(
      baseConfig({ mqtt: { listeners: [{ type: 'tcp', port: 0 }], allowAnonymous: false } }),
      {
        wrapLog: (log) =>
          slowLog(
            log,
            () => 300,
            () => appending(),
          ),
      },
    );
    const id = uniq('revq5-');
    await h.devices.add(id, { password: 'revoke-password-q' });
    const raw = await rawClient(h.port(), 5);
    raw.send(connect5Packet(id, { username: id, password: Buffer.from('revoke-password-q') }));
    expect(await raw.next('connack')).toMatchObject({ reasonCode: 0 });
    raw.send(Buffer.concat([1, 2, 3].map((i) => publish5('open/revq', `r${i}`, 1, i))));
    await appended; // the commits are slow: the revocation finds them in flight
    await h.devices.setEnabled(id, false);
    await raw.closed;
    const got = raw.packets as Array<Packet & { reasonCode?: number }>;
    expect(got.map((p) => [p.cmd, p.messageId, p.reasonCode ?? 0])).toEqual([
      ['connack', undefined, 0],
      ['puback', 1, 0],
      ['puback', 2, 0],
      ['puback', 3, 0],
      ['disconnect', undefined, 0x98],
    ]);
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['r1', 'r2', 'r3']);
  });

  test('ingest › a Will Delay Interval is accepted; the session ends with the connection, so the will goes at once [MQTT-3.1.2-8, MQTT-3.1.3-9]', async () => {
    const h = await startHarness();
    const willOf = (tag: string) => ({
      topic: 'open/will-delay',
      payload: Buffer.from(tag),
      qos: 1 as const,
      retain: false,
      properties: { willDelayInterval: 3600 },
    });
    // Asked for an hour of session and an hour of will delay: Session Expiry is answered 0.
    const raw = await rawClient(h.port(), 5);
    raw.send(
      connect5Packet(uniq('wd5-'), { will: willOf('dropped'), properties: { sessionExpiryInterval: 3600 } }),
    );
    const ack = (await raw.next('connack')) as { reasonCode?: number; properties?: Record<string, unknown> };
    expect(ack).toMatchObject({ reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    raw.socket.destroy();
    await until(() => h.records('open').length >= 1);
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['dropped']);
    // A connection taken over ends its session too: its will is published, not held for the delay.
    const id = uniq('wd5-to-');
    const first = await connect(h.url(), { ...V5, clientId: id, will: willOf('taken-over') });
    const got = serverDisconnect(first);
    await connect(h.url(), { ...V5, clientId: id });
    expect((await got).reasonCode).toBe(0x8e);
    await until(() => h.records('open').length >= 2);
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['dropped', 'taken-over']);
  });
});
