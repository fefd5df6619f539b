/**
 * MQTT 3.1.1 sessions, subscriptions, retained messages and the downlink (mqtt.sessions), with
 * real clients (mqtt.js, raw mqtt-packet sockets) over 127.0.0.1.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { describe, expect, test } from 'vitest';
import type { ConfigInput } from '../../src/config/index.ts';
import { baseConfig, connect, startHarness, uniq } from './helpers.ts';
import { connectPacket, encode, publishPacket, type RawClient, rawClient } from './raw.ts';

function sessionsConfig(sessions: Record<string, unknown> = {}): ConfigInput {
  const base = baseConfig();
  return { ...base, mqtt: { ...base.mqtt, sessions: { enabled: true, ...sessions } } } as ConfigInput;
}

async function device(h: Awaited<ReturnType<typeof startHarness>>, id: string): Promise<void> {
  await h.devices.add(id, { password: 'pw' });
}

/** Connects and returns the client with the CONNACK's session-present flag. */
async function connectSession(
  url: string,
  opts: mqtt.IClientOptions,
): Promise<{ client: MqttClient; sessionPresent: boolean }> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  const sessionPresent = await new Promise<boolean>((resolve, reject) => {
    client.once('connect', (ack) => resolve(ack.sessionPresent));
    client.once('error', reject);
  });
  return { client, sessionPresent };
}

function received(
  client: MqttClient,
): Array<{ topic: string; payload: string; retain: boolean; qos: number }> {
  const out: Array<{ topic: string; payload: string; retain: boolean; qos: number }> = [];
  client.on('message', (topic, payload, packet) =>
    out.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos }),
  );
  return out;
}

function login(clientId: string, username: string, clean: boolean): Buffer {
  return encode({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean,
    clientId,
    keepalive: 60,
    username,
    password: Buffer.from('pw'),
  });
}

let nextId = 100;
/** SUBSCRIBE over a raw socket; resolves with the SUBACK's return codes. */
async function subackOf(
  raw: RawClient,
  filters: string[],
  qos: number[] = filters.map(() => 1),
): Promise<number[]> {
  const messageId = nextId++;
  raw.send(
    encode({
      cmd: 'subscribe',
      messageId,
      subscriptions: filters.map((topic, i) => ({ topic, qos: qos[i] as 0 | 1 | 2 })),
    } as Packet),
  );
  await expect
    .poll(() => raw.packets.some((p) => p.cmd === 'suback' && p.messageId === messageId))
    .toBe(true);
  const ack = raw.packets.find((p) => p.cmd === 'suback' && p.messageId === messageId) as {
    granted: number[];
  };
  return ack.granted;
}

const downlinkOf = (h: Awaited<ReturnType<typeof startHarness>>) => {
  const d = h.ingest.downlink();
  if (d === null) throw new Error('downlink is off');
  return d;
};

describe('ingest › sessions and subscriptions (MQTT 3.1.1)', () => {
  test('sessions › off by default: SUBSCRIBE is refused with 0x80 and there is no downlink', async () => {
    const h = await startHarness(baseConfig());
    expect(h.ingest.downlink()).toBeNull();
    const raw = await rawClient(h.port());
    raw.send(connectPacket(uniq('off')));
    await raw.next('connack');
    expect(await subackOf(raw, ['devices/x/commands/#'])).toEqual([128]);
    expect(h.ingest.status().refusals['subscribe-denied']).toBe(1);
  });

  test('sessions › a device may subscribe to its own command topics only; the rest get 0x80 in the same SUBACK [MQTT-3.8.4-1, MQTT-3.8.4-5, MQTT-3.9.3-1, MQTT-3.9.3-2]', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const h = await startHarness(sessionsConfig(), { logLines: lines });
    await device(h, 'd1');
    const raw = await rawClient(h.port());
    const clientId = uniq('d1');
    raw.send(login(clientId, 'd1', true));
    await raw.next('connack');
    const filters = [
      'devices/d1/commands/#',
      'devices/d2/commands/#',
      'devices/d1/commands/reboot',
      'devices/+/commands/#',
      '#',
    ];
    expect(await subackOf(raw, filters, [1, 1, 2, 1, 0])).toEqual([1, 128, 2, 128, 128]);
    expect(h.ingest.status().refusals['subscribe-denied']).toBe(3);
    const denied = lines.filter((l) => l['reason'] === 'subscribe-denied');
    expect(denied.map((l) => [l['clientId'], l['deviceId'], l['filter']])).toEqual([
      [clientId, 'd1', 'devices/d2/commands/#'],
      [clientId, 'd1', 'devices/+/commands/#'],
      [clientId, 'd1', '#'],
    ]);
    // The connection goes on, and the denied filters are not stored: a command for d2 matches no session.
    expect(raw.isClosed()).toBe(false);
    const out = await downlinkOf(h).deliver({
      topic: 'devices/d2/commands/x',
      payload: Buffer.from('n'),
      qos: 1,
    });
    expect(out.matched).toBe(0);
  });

  test('sessions › CleanSession 0 keeps subscriptions: session present 0 first, 1 after reconnect, and the subscription is live without SUBSCRIBE [MQTT-3.1.2-4, MQTT-3.2.2-2, MQTT-3.2.2-3]', async () => {
    const h = await startHarness(sessionsConfig());
    await device(h, 'p1');
    const opts = { clientId: uniq('p1'), clean: false, username: 'p1', password: 'pw' };
    const first = await connectSession(h.url(), opts);
    expect(first.sessionPresent).toBe(false);
    await first.client.subscribeAsync('devices/p1/commands/#', { qos: 1 });
    await first.client.endAsync();
    const again = await connectSession(h.url(), opts);
    expect(again.sessionPresent).toBe(true);
    const got = received(again.client);
    const out = await downlinkOf(h).deliver({
      topic: 'devices/p1/commands/go',
      payload: Buffer.from('go'),
      qos: 1,
    });
    expect(out.matched).toBe(1);
    await expect.poll(() => got.map((m) => m.payload)).toEqual(['go']);
    again.client.end(true);
  });

  test('sessions › QoS 1 messages for an offline persistent session are queued and delivered on reconnect, in order [MQTT-3.1.2-5, MQTT-4.6.0-6]', async () => {
    const h = await startHarness(sessionsConfig());
    await device(h, 'q1');
    const opts = { clientId: uniq('q1'), clean: false, username: 'q1', password: 'pw' };
    const first = await connectSession(h.url(), opts);
    await first.client.subscribeAsync('devices/q1/commands/#', { qos: 1 });
    await first.client.endAsync();
    const outcomes = [];
    for (const n of ['a', 'b', 'c']) {
      outcomes.push(
        await downlinkOf(h).deliver({ topic: `devices/q1/commands/${n}`, payload: Buffer.from(n), qos: 1 }),
      );
    }
    expect(outcomes).toEqual(
      Array(3).fill({ matched: 1, delivered: 0, queued: 1, dropped: 0, lost: 0, atomic: false }),
    );
    const client = mqtt.connect(h.url(), { reconnectPeriod: 0, ...opts });
    const got = received(client);
    await expect.poll(() => got.map((m) => m.payload)).toEqual(['a', 'b', 'c']);
    expect(got.every((m) => m.qos === 1)).toBe(true);
    client.end(true);
  });

  test('sessions › CleanSession 1 discards the previous session: session present 0, nothing queued is delivered, no subscription left [MQTT-3.1.2-6, MQTT-3.2.2-1]', async () => {
    const h = await startHarness(sessionsConfig());
    await device(h, 'c1');
    const clientId = uniq('c1');
    const first = await connectSession(h.url(), { clientId, clean: false, username: 'c1', password: 'pw' });
    await first.client.subscribeAsync('devices/c1/commands/#', { qos: 1 });
    await first.client.endAsync();
    await downlinkOf(h).deliver({ topic: 'devices/c1/commands/x', payload: Buffer.from('stale'), qos: 1 });
    const clean = await connectSession(h.url(), { clientId, clean: true, username: 'c1', password: 'pw' });
    expect(clean.sessionPresent).toBe(false);
    const got = received(clean.client);
    await clean.client.endAsync();
    expect(got).toEqual([]);
    const out = await downlinkOf(h).deliver({
      topic: 'devices/c1/commands/x',
      payload: Buffer.from('n'),
      qos: 1,
    });
    expect(out.matched).toBe(0);
  });

  test('sessions › UNSUBSCRIBE is answered UNSUBACK with its packet id and ends delivery, also for the stored session [MQTT-3.10.4-1, MQTT-3.10.4-2, MQTT-3.10.4-4]', async () => {
    const h = await startHarness(sessionsConfig());
    await device(h, 'u1');
    const opts = { clientId: uniq('u1'), clean: false, username: 'u1', password: 'pw' };
    const raw = await rawClient(h.port());
    raw.send(
      encode({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: false,
        clientId: opts.clientId,
        keepalive: 60,
        username: 'u1',
        password: Buffer.from('pw'),
      }),
    );
    await raw.next('connack');
    raw.send(
      encode({
        cmd: 'subscribe',
        messageId: 21,
        subscriptions: [{ topic: 'devices/u1/commands/#', qos: 1 }],
      } as Packet),
    );
    await raw.next('suback');
    raw.send(
      encode({ cmd: 'unsubscribe', messageId: 22, unsubscriptions: ['devices/u1/commands/#'] } as Packet),
    );
    const unsuback = await raw.next('unsuback');
    expect((unsuback as { messageId?: number }).messageId).toBe(22);
    const out = await downlinkOf(h).deliver({
      topic: 'devices/u1/commands/x',
      payload: Buffer.from('n'),
      qos: 1,
    });
    expect(out.matched).toBe(0);
    expect(raw.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
  });

  test('sessions › an unacknowledged QoS 1 message is re-sent with its original packet id when the session resumes [MQTT-4.4.0-1]', async () => {
    const h = await startHarness(sessionsConfig());
    await device(h, 'r1');
    const clientId = uniq('r1');
    const connectBytes = encode({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: false,
      clientId,
      keepalive: 60,
      username: 'r1',
      password: Buffer.from('pw'),
    });
    const raw = await rawClient(h.port());
    raw.send(connectBytes);
    await raw.next('connack');
    raw.send(
      encode({
        cmd: 'subscribe',
        messageId: 1,
        subscriptions: [{ topic: 'devices/r1/commands/#', qos: 1 }],
      } as Packet),
    );
    await raw.next('suback');
    const out = await downlinkOf(h).deliver({
      topic: 'devices/r1/commands/x',
      payload: Buffer.from('again'),
      qos: 1,
    });
    expect(out.queued).toBe(1);
    const first = (await raw.next('publish')) as Packet & { messageId: number; payload: Buffer };
    raw.socket.destroy(); // no PUBACK
    await raw.closed;
    const raw2 = await rawClient(h.port());
    raw2.send(connectBytes);
    const connack = (await raw2.next('connack')) as { sessionPresent: boolean };
    expect(connack.sessionPresent).toBe(true);
    const resent = (await raw2.next('publish')) as Packet & { messageId: number; payload: Buffer };
    expect(resent.messageId).toBe(first.messageId);
    expect(resent.payload.toString()).toBe('again');
    raw2.send(encode({ cmd: 'puback', messageId: resent.messageId }));
    await expect
      .poll(() => h.metrics.getSingleMetric('outpost_mqtt_session_queued')?.get())
      .toMatchObject({ values: [{ value: 0 }] });
  });

  test('sessions › a QoS 2 PUBLISH resent on a resumed session after PUBREC is acknowledged again and appended once [MQTT-4.3.3-2]', async () => {
    const h = await startHarness(sessionsConfig());
    const clientId = uniq('qos2');
    const connectBytes = encode({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: false,
      clientId,
      keepalive: 60,
    });
    const raw = await rawClient(h.port());
    raw.send(connectBytes);
    await raw.next('connack');
    raw.send(publishPacket('open/q2', 'once', 2, 7));
    await raw.next('pubrec');
    raw.socket.destroy();
    await raw.closed;
    const raw2 = await rawClient(h.port());
    raw2.send(connectBytes);
    await raw2.next('connack');
    raw2.send(
      encode({
        cmd: 'publish',
        topic: 'open/q2',
        payload: 'once',
        qos: 2,
        dup: true,
        retain: false,
        messageId: 7,
      }),
    );
    await raw2.next('pubrec');
    raw2.send(encode({ cmd: 'pubrel', messageId: 7 }));
    await raw2.next('pubcomp');
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['once']);
    // PUBCOMP released the id: the next PUBLISH with it is a new message.
    raw2.send(publishPacket('open/q2', 'twice', 2, 7));
    await expect.poll(() => raw2.packets.filter((p) => p.cmd === 'pubrec').length).toBe(2);
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['once', 'twice']);
  });

  test('sessions › retained messages: a new subscriber gets the last one with RETAIN 1, live copies carry RETAIN 0, an empty payload clears it [MQTT-3.3.1-5, MQTT-3.3.1-6, MQTT-3.3.1-8, MQTT-3.3.1-9, MQTT-3.3.1-10, MQTT-3.3.1-11]', async () => {
    const h = await startHarness(sessionsConfig());
    await device(h, 't1');
    const d = downlinkOf(h);
    await d.deliver({
      topic: 'devices/t1/commands/config',
      payload: Buffer.from('v1'),
      qos: 1,
      retain: true,
    });
    await d.deliver({
      topic: 'devices/t1/commands/config',
      payload: Buffer.from('v2'),
      qos: 1,
      retain: true,
    });
    const a = await connect(h.url(), { clientId: uniq('t1'), username: 't1', password: 'pw' });
    const gotA = received(a);
    await a.subscribeAsync('devices/t1/commands/#', { qos: 1 });
    await expect
      .poll(() => gotA)
      .toEqual([{ topic: 'devices/t1/commands/config', payload: 'v2', retain: true, qos: 1 }]);
    await d.deliver({
      topic: 'devices/t1/commands/config',
      payload: Buffer.from('v3'),
      qos: 1,
      retain: true,
    });
    await expect
      .poll(() => gotA.at(-1))
      .toEqual({ topic: 'devices/t1/commands/config', payload: 'v3', retain: false, qos: 1 });
    await d.deliver({ topic: 'devices/t1/commands/config', payload: Buffer.alloc(0), qos: 1, retain: true });
    const b = await connect(h.url(), { clientId: uniq('t1b'), username: 't1', password: 'pw' });
    const gotB = received(b);
    await b.subscribeAsync('devices/t1/commands/#', { qos: 1 });
    await d.deliver({ topic: 'devices/t1/commands/ping', payload: Buffer.from('p'), qos: 1 });
    await expect.poll(() => gotB.map((m) => m.payload)).toEqual(['p']);
  });

  test('sessions › a clean-session subscriber: deliver resolves once its PUBACK / PUBCOMP came back', async () => {
    const h = await startHarness(sessionsConfig());
    await device(h, 'k1');
    const c = await connect(h.url(), { clientId: uniq('k1'), username: 'k1', password: 'pw' });
    await c.subscribeAsync('devices/k1/commands/#', { qos: 2 });
    const got = received(c);
    const q1 = await downlinkOf(h).deliver({
      topic: 'devices/k1/commands/a',
      payload: Buffer.from('1'),
      qos: 1,
    });
    const q2 = await downlinkOf(h).deliver({
      topic: 'devices/k1/commands/b',
      payload: Buffer.from('2'),
      qos: 2,
    });
    expect([q1, q2]).toEqual([
      { matched: 1, delivered: 1, queued: 0, dropped: 0, lost: 0, atomic: false },
      { matched: 1, delivered: 1, queued: 0, dropped: 0, lost: 0, atomic: false },
    ]);
    expect(got.map((m) => [m.payload, m.qos])).toEqual([
      ['1', 1],
      ['2', 2],
    ]);
  });

  test('sessions › an offline queue is bounded per session: what does not fit is counted and logged, the rest is delivered exactly', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const h = await startHarness(sessionsConfig({ maxQueuedPerSession: 3 }), { logLines: lines });
    await device(h, 'b1');
    const opts = { clientId: uniq('b1'), clean: false, username: 'b1', password: 'pw' };
    const first = await connectSession(h.url(), opts);
    await first.client.subscribeAsync('devices/b1/commands/#', { qos: 1 });
    await first.client.endAsync();
    const outcomes = [];
    for (let i = 0; i < 5; i++) {
      outcomes.push(
        await downlinkOf(h).deliver({
          topic: 'devices/b1/commands/n',
          payload: Buffer.from(String(i)),
          qos: 1,
        }),
      );
    }
    expect(outcomes.map((o) => [o.queued, o.dropped])).toEqual([
      [1, 0],
      [1, 0],
      [1, 0],
      [0, 1],
      [0, 1],
    ]);
    const dropped = (await h.metrics.getSingleMetric('outpost_mqtt_session_dropped_total')?.get())?.values;
    expect(dropped).toEqual([{ value: 2, labels: { reason: 'queue-full' } }]);
    expect(lines.filter((l) => l['reason'] === 'queue-full' && l['clientId'] === opts.clientId)).toHaveLength(
      1,
    );
    const client = mqtt.connect(h.url(), { reconnectPeriod: 0, ...opts });
    const got = received(client);
    await expect.poll(() => got.map((m) => m.payload)).toEqual(['0', '1', '2']);
    client.end(true);
  });

  test('sessions › forwardDevicePublishes: a local anonymous subscriber (mosquitto_sub) gets what devices publish once it is in the log', async () => {
    const h = await startHarness(
      sessionsConfig({ forwardDevicePublishes: true, anonymousFilters: ['vehicles/#'] }),
    );
    await device(h, 'v1');
    const { spawn } = await import('node:child_process');
    const sub = spawn('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(h.port()),
      '-t',
      'vehicles/#',
      '-q',
      '1',
      '-C',
      '1',
      '-v',
      '-i',
      uniq('local'),
    ]);
    let out = '';
    sub.stdout.on('data', (d) => {
      out += d.toString();
    });
    await expect.poll(() => h.ingest.status().connections).toBe(1);
    // mosquitto_sub may not have subscribed yet: publish until it has one (bounded by the poll's timeout).
    const dev = await connect(h.url(), { clientId: uniq('v1'), username: 'v1', password: 'pw' });
    await expect
      .poll(async () => {
        await dev.publishAsync('vehicles/v1/telemetry/speed', '42', { qos: 1 });
        return out;
      })
      .toContain('vehicles/v1/telemetry/speed 42');
    const inLog = h.records('telemetry').map((r) => r.value.toString());
    expect(inLog).toContain('42');
    sub.kill();
  });
});
