/**
 * MQTT 5 subscriptions and sessions (mqtt.sessions on): SUBSCRIBE/UNSUBSCRIBE reason codes, delivery
 * of downlink messages and forwarded publishes with the subscription options, Receive Maximum, and
 * Session Expiry, with mqtt.js (protocolVersion 5) and raw mqtt-packet sockets over 127.0.0.1.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import mqtt from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { describe, expect, test } from 'vitest';
import type { ConfigInput } from '../../src/config/index.ts';
import type { Downlink } from '../../src/ingest/index.ts';
import { baseConfig, connect, startHarness, uniq } from './helpers.ts';
import { connect5Packet, encode5, type RawClient, rawClient } from './raw.ts';

const V5 = { protocolVersion: 5 } as const;

function sessionsConfig(sessions: Record<string, unknown> = {}): ConfigInput {
  const base = baseConfig();
  return {
    ...base,
    mqtt: { ...base.mqtt, sessions: { enabled: true, anonymousFilters: ['open/#', 'cmd/#'], ...sessions } },
  } as ConfigInput;
}

function downlinkOf(h: Awaited<ReturnType<typeof startHarness>>): Downlink {
  const d = h.ingest.downlink();
  if (d === null) throw new Error('no downlink');
  return d;
}

type Got = { topic: string; payload: string; qos: number; retain: boolean; props?: Record<string, unknown> };

function received(client: MqttClient): Got[] {
  const out: Got[] = [];
  client.on('message', (topic, payload, packet) =>
    out.push({
      topic,
      payload: payload.toString(),
      qos: packet.qos,
      retain: packet.retain,
      ...(packet.properties ? { props: packet.properties as Record<string, unknown> } : {}),
    }),
  );
  return out;
}

/** mqtt.js connect that returns the CONNACK too. */
async function connack5(url: string, opts: IClientOptions) {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...V5, ...opts });
  const ack = await new Promise<{ sessionPresent: boolean; properties?: Record<string, unknown> }>(
    (resolve, reject) => {
      client.once('connect', (a) => resolve(a as never));
      client.once('error', reject);
    },
  );
  return { client, ack };
}

let nextId = 1;
async function subscribeRaw(
  raw: RawClient,
  subscriptions: Array<{ topic: string; qos: 0 | 1 | 2; nl?: boolean; rap?: boolean; rh?: number }>,
  properties?: Record<string, unknown>,
): Promise<number[]> {
  const messageId = nextId++;
  raw.send(
    encode5({ cmd: 'subscribe', messageId, subscriptions, ...(properties ? { properties } : {}) } as Packet),
  );
  await expect
    .poll(() => raw.packets.some((p) => p.cmd === 'suback' && p.messageId === messageId))
    .toBe(true);
  return (raw.packets.find((p) => p.cmd === 'suback' && p.messageId === messageId) as { granted: number[] })
    .granted;
}

/** A PINGREQ round trip: what the server wrote before PINGRESP has arrived. */
async function roundTrip(raw: RawClient): Promise<void> {
  const before = raw.packets.filter((p) => p.cmd === 'pingresp').length;
  raw.send(encode5({ cmd: 'pingreq' }));
  await expect.poll(() => raw.packets.filter((p) => p.cmd === 'pingresp').length).toBe(before + 1);
}

function publishes(raw: RawClient): Array<Packet & { messageId?: number; payload: Buffer; dup: boolean }> {
  return raw.packets.filter((p) => p.cmd === 'publish') as never;
}

describe('ingest › MQTT 5 subscriptions (mqtt.sessions on)', () => {
  test('ingest › CONNACK tells the truth: wildcards and Subscription Identifiers available, shared subscriptions not', async () => {
    const h = await startHarness(sessionsConfig());
    const { client, ack } = await connack5(h.url(), { clientId: uniq('ca-') });
    client.end(true);
    expect(ack.properties).toMatchObject({
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: false,
    });
    expect(ack.sessionPresent).toBe(false);
  });

  test('ingest › SUBACK has one reason code per filter, in order: granted QoS, 0x87 outside the ACL, 0x8F invalid, 0x9E shared [MQTT-3.9.3-1, MQTT-3.8.4-6]; UNSUBACK 0x00 / 0x11 [MQTT-3.11.3-1, MQTT-3.10.4-5]', async () => {
    const h = await startHarness(sessionsConfig());
    const raw = await rawClient(h.port(), 5);
    raw.send(connect5Packet(uniq('sa-')));
    await raw.next('connack');
    const codes = await subscribeRaw(raw, [
      { topic: 'open/a/#', qos: 2 },
      { topic: 'elsewhere/#', qos: 1 },
      { topic: 'open/#/x', qos: 1 },
      { topic: 'open/b+', qos: 1 },
      { topic: '$share/g/open/c', qos: 1 },
      { topic: 'open/+/d', qos: 0 },
      { topic: 'cmd/one', qos: 1 },
    ]);
    expect(codes).toEqual([0x02, 0x87, 0x8f, 0x8f, 0x9e, 0x00, 0x01]);
    expect(h.ingest.status().refusals['subscribe-denied']).toBe(1);
    raw.send(
      encode5({ cmd: 'unsubscribe', messageId: 900, unsubscriptions: ['open/a/#', 'never/x'] } as Packet),
    );
    const unsuback = (await raw.next('unsuback')) as unknown as { messageId: number; granted: number[] };
    expect(unsuback).toMatchObject({ messageId: 900, granted: [0x00, 0x11] });
  });

  test('ingest › downlink to a clean MQTT 5 subscriber: delivered once PUBACKed, at the granted QoS [MQTT-3.8.4-8], one copy for overlapping filters with every Subscription Identifier [MQTT-3.3.4-2, MQTT-3.3.4-3]', async () => {
    const h = await startHarness(sessionsConfig());
    const c = await connect(h.url(), { ...V5, clientId: uniq('dl-') });
    const got = received(c);
    await c.subscribeAsync('cmd/x/#', { qos: 1, properties: { subscriptionIdentifier: 7 } });
    await c.subscribeAsync('cmd/+/y', { qos: 0, properties: { subscriptionIdentifier: 9 } });
    const out = await downlinkOf(h).deliver({ topic: 'cmd/x/y', payload: Buffer.from('both'), qos: 2 });
    expect(out).toEqual({ matched: 1, delivered: 1, queued: 0, dropped: 0, lost: 0, atomic: false });
    const low = await downlinkOf(h).deliver({ topic: 'cmd/z/y', payload: Buffer.from('low'), qos: 1 });
    expect(low).toMatchObject({ matched: 1, delivered: 1 });
    await expect.poll(() => got.length).toBe(2);
    expect(got[0]).toMatchObject({ topic: 'cmd/x/y', payload: 'both', qos: 1 });
    expect([got[0]?.props?.['subscriptionIdentifier']].flat().sort()).toEqual([7, 9]);
    expect(got[1]).toMatchObject({ topic: 'cmd/z/y', payload: 'low', qos: 0 });
    expect(got[1]?.props?.['subscriptionIdentifier']).toBe(9);
  });

  test('ingest › outgoing QoS 1 stays within the client Receive Maximum; each PUBACK lets one more go [MQTT-4.9.0-2, MQTT-3.3.4-9]', async () => {
    const h = await startHarness(sessionsConfig());
    const raw = await rawClient(h.port(), 5);
    raw.send(connect5Packet(uniq('rm-'), { properties: { receiveMaximum: 2 } }));
    await raw.next('connack');
    expect(await subscribeRaw(raw, [{ topic: 'cmd/rm', qos: 1 }])).toEqual([1]);
    const d = downlinkOf(h);
    const outcomes = Array.from({ length: 5 }, (_, i) =>
      d.deliver({ topic: 'cmd/rm', payload: Buffer.from(String(i)), qos: 1 }),
    );
    await expect.poll(() => publishes(raw).length).toBe(2);
    await roundTrip(raw);
    expect(publishes(raw).length).toBe(2);
    raw.send(encode5({ cmd: 'puback', messageId: publishes(raw)[0]?.messageId as number } as Packet));
    await expect.poll(() => publishes(raw).length).toBe(3);
    await roundTrip(raw);
    expect(publishes(raw).length).toBe(3);
    for (const p of publishes(raw).slice(1))
      raw.send(encode5({ cmd: 'puback', messageId: p.messageId } as Packet));
    await expect.poll(() => publishes(raw).length).toBe(5);
    for (const p of publishes(raw).slice(3))
      raw.send(encode5({ cmd: 'puback', messageId: p.messageId } as Packet));
    expect(publishes(raw).map((p) => p.payload.toString())).toEqual(['0', '1', '2', '3', '4']);
    for (const o of await Promise.all(outcomes)) expect(o).toMatchObject({ delivered: 1, lost: 0 });
  });

  test('ingest › QoS 2 to a subscriber: PUBREC, PUBREL, PUBCOMP; a clean subscriber that closes first counts as lost', async () => {
    const h = await startHarness(sessionsConfig());
    const raw = await rawClient(h.port(), 5);
    raw.send(connect5Packet(uniq('q2-')));
    await raw.next('connack');
    await subscribeRaw(raw, [{ topic: 'cmd/q2', qos: 2 }]);
    const d = downlinkOf(h);
    const done = d.deliver({ topic: 'cmd/q2', payload: Buffer.from('two'), qos: 2 });
    const pub = (await raw.next('publish')) as { messageId: number; qos: number };
    expect(pub.qos).toBe(2);
    raw.send(encode5({ cmd: 'pubrec', messageId: pub.messageId } as Packet));
    expect(await raw.next('pubrel')).toMatchObject({ messageId: pub.messageId });
    raw.send(encode5({ cmd: 'pubcomp', messageId: pub.messageId } as Packet));
    expect(await done).toMatchObject({ matched: 1, delivered: 1, lost: 0 });
    const lost = d.deliver({ topic: 'cmd/q2', payload: Buffer.from('lost'), qos: 1 });
    await expect.poll(() => publishes(raw).length).toBe(2);
    raw.socket.destroy();
    expect(await lost).toMatchObject({ matched: 1, delivered: 0, lost: 1 });
  });

  test('ingest › No Local: a forwarded device publish does not come back to its publisher [MQTT-3.8.3-3]; others get it', async () => {
    const h = await startHarness(sessionsConfig({ forwardDevicePublishes: true }));
    const self = await connect(h.url(), { ...V5, clientId: uniq('nl-') });
    const other = await connect(h.url(), { ...V5, clientId: uniq('nlo-') });
    const gotSelf = received(self);
    const gotOther = received(other);
    await self.subscribeAsync('open/nl/#', { qos: 1, nl: true });
    await other.subscribeAsync('open/nl/#', { qos: 1 });
    await self.publishAsync('open/nl/a', 'mine', { qos: 1 });
    await other.publishAsync('open/nl/b', 'theirs', { qos: 1 });
    await expect.poll(() => gotOther.map((g) => g.payload)).toEqual(['mine', 'theirs']);
    await expect.poll(() => gotSelf.map((g) => g.payload)).toEqual(['theirs']);
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['mine', 'theirs']);
  });

  test('ingest › Retain Handling 0 sends the retained message, 1 only on a new subscription, 2 never [MQTT-3.3.1-9, MQTT-3.3.1-10, MQTT-3.3.1-11]; Retain As Published keeps RETAIN on live copies [MQTT-3.3.1-12, MQTT-3.3.1-13]', async () => {
    const h = await startHarness(sessionsConfig());
    const d = downlinkOf(h);
    await d.deliver({ topic: 'cmd/ret/a', payload: Buffer.from('kept'), qos: 1, retain: true });
    const c = await connect(h.url(), { ...V5, clientId: uniq('rh-') });
    const got = received(c);
    await c.subscribeAsync('cmd/ret/+', { qos: 1, rh: 0 });
    await expect.poll(() => got.length).toBe(1);
    expect(got[0]).toMatchObject({ payload: 'kept', retain: true, qos: 1 });
    await c.subscribeAsync('cmd/ret/#', { qos: 1, rh: 1 }); // new: sent
    await c.subscribeAsync('cmd/ret/#', { qos: 1, rh: 1 }); // exists: not sent
    await c.subscribeAsync('cmd/+/a', { qos: 1, rh: 2, rap: true }); // never
    // A live retained copy: RETAIN 1 only through the Retain As Published subscription.
    await d.deliver({ topic: 'cmd/ret/a', payload: Buffer.from('live'), qos: 1, retain: true });
    await expect.poll(() => got.length).toBe(3);
    expect(got.map((g) => [g.payload, g.retain])).toEqual([
      ['kept', true],
      ['kept', true],
      ['live', true],
    ]);
    const plain = await connect(h.url(), { ...V5, clientId: uniq('rap-') });
    const gotPlain = received(plain);
    await plain.subscribeAsync('cmd/ret/a', { qos: 1, rh: 2 });
    await d.deliver({ topic: 'cmd/ret/a', payload: Buffer.from('again'), qos: 1, retain: true });
    await expect.poll(() => gotPlain.map((g) => [g.payload, g.retain])).toEqual([['again', false]]);
  });

  test('ingest › a SUBSCRIBE right behind a retained PUBLISH, in one write, is handled after it: SUBACK follows its PUBACK and the message arrives', async () => {
    const h = await startHarness(sessionsConfig({ forwardDevicePublishes: true }));
    const raw = await rawClient(h.port(), 5);
    raw.send(connect5Packet(uniq('own-')));
    await raw.next('connack');
    raw.send(
      Buffer.concat([
        encode5({
          cmd: 'publish',
          topic: 'open/own/state',
          payload: 'mine',
          qos: 1,
          retain: true,
          dup: false,
          messageId: 1,
        } as Packet),
        encode5({
          cmd: 'subscribe',
          messageId: 2,
          subscriptions: [{ topic: 'open/own/#', qos: 1 }],
        } as Packet),
      ]),
    );
    // Live (RETAIN 0) if it is still being forwarded as the subscription opens, else the retained copy.
    const pub = (await raw.next('publish')) as { payload: Buffer } | null;
    expect(pub?.payload.toString()).toBe('mine');
    expect(raw.packets.map((p) => p.cmd).slice(0, 3)).toEqual(['connack', 'puback', 'suback']);
  });
});

describe('ingest › MQTT 5 sessions (Session Expiry, mqtt.sessions on)', () => {
  test('ingest › Session Expiry > 0 keeps the session: downlink messages queued while offline arrive in order on resume with session present 1 [MQTT-3.1.2-23, MQTT-3.2.2-3]; Clean Start 1 discards it [MQTT-3.1.2-4, MQTT-3.2.2-2]', async () => {
    const h = await startHarness(sessionsConfig());
    const id = uniq('se-');
    const opts = { clientId: id, clean: false, properties: { sessionExpiryInterval: 300 } };
    const first = await connack5(h.url(), opts);
    expect(first.ack.sessionPresent).toBe(false);
    expect(first.ack.properties?.['sessionExpiryInterval']).toBeUndefined(); // granted as asked
    await first.client.subscribeAsync('cmd/se/#', { qos: 1 });
    await first.client.endAsync();
    const d = downlinkOf(h);
    for (let i = 0; i < 3; i++) {
      const out = await d.deliver({ topic: 'cmd/se/n', payload: Buffer.from(String(i)), qos: 1 });
      expect(out).toEqual({ matched: 1, delivered: 0, queued: 1, dropped: 0, lost: 0, atomic: false });
    }
    const again = await connack5(h.url(), opts);
    const got = received(again.client);
    expect(again.ack.sessionPresent).toBe(true);
    await expect.poll(() => got.map((g) => g.payload)).toEqual(['0', '1', '2']);
    // Live delivery to the resumed subscription without a new SUBSCRIBE.
    expect(await d.deliver({ topic: 'cmd/se/n', payload: Buffer.from('3'), qos: 1 })).toMatchObject({
      queued: 1,
    });
    await expect.poll(() => got.length).toBe(4);
    await again.client.endAsync();
    await d.deliver({ topic: 'cmd/se/n', payload: Buffer.from('dropped-by-clean-start'), qos: 1 });
    const clean = await connack5(h.url(), {
      clientId: id,
      clean: true,
      properties: { sessionExpiryInterval: 0 },
    });
    const gotClean = received(clean.client);
    expect(clean.ack.sessionPresent).toBe(false);
    expect(await d.deliver({ topic: 'cmd/se/n', payload: Buffer.from('x'), qos: 1 })).toMatchObject({
      matched: 0,
    });
    await clean.client.endAsync();
    expect(gotClean).toEqual([]);
    const last = await connack5(h.url(), opts);
    last.client.end(true);
    expect(last.ack.sessionPresent).toBe(false);
  });

  test('ingest › an unacknowledged PUBLISH is re-sent on resume with DUP 1 and its packet id [MQTT-4.4.0-1]', async () => {
    const h = await startHarness(sessionsConfig());
    const id = uniq('dup-');
    const login = connect5Packet(id, { clean: false, properties: { sessionExpiryInterval: 600 } });
    const raw = await rawClient(h.port(), 5);
    raw.send(login);
    await raw.next('connack');
    await subscribeRaw(raw, [{ topic: 'cmd/dup', qos: 1 }]);
    expect(
      await downlinkOf(h).deliver({ topic: 'cmd/dup', payload: Buffer.from('once'), qos: 1 }),
    ).toMatchObject({ queued: 1 });
    const first = (await raw.next('publish')) as { messageId: number; dup: boolean };
    expect(first.dup).toBe(false);
    raw.socket.destroy();
    await raw.closed;
    const back = await rawClient(h.port(), 5);
    back.send(login);
    expect(await back.next('connack')).toMatchObject({ sessionPresent: true });
    const resent = (await back.next('publish')) as { messageId: number; dup: boolean; payload: Buffer };
    expect(resent).toMatchObject({ messageId: first.messageId, dup: true });
    expect(resent.payload.toString()).toBe('once');
  });

  test('ingest › Session Expiry is clamped to maxSessionExpirySeconds and said in CONNACK; DISCONNECT with Session Expiry 0 ends the session', async () => {
    const h = await startHarness(sessionsConfig({ maxSessionExpirySeconds: 60 }));
    const id = uniq('cl-');
    const opts = { clientId: id, clean: false, properties: { sessionExpiryInterval: 0xffffffff } };
    const first = await connack5(h.url(), opts);
    expect(first.ack.properties?.['sessionExpiryInterval']).toBe(60);
    await first.client.subscribeAsync('cmd/cl', { qos: 1 });
    await first.client.endAsync(false, { properties: { sessionExpiryInterval: 0 } } as never);
    // QoS 0 probes: never queued, so they leave nothing behind for the session.
    await expect
      .poll(
        async () =>
          (await downlinkOf(h).deliver({ topic: 'cmd/cl', payload: Buffer.from('x'), qos: 0 })).matched,
      )
      .toBe(0);
    const again = await connack5(h.url(), opts);
    again.client.end(true);
    expect(again.ack.sessionPresent).toBe(false);
  });

  test('ingest › an expired session is removed on reconnect and counted in outpost_mqtt_sessions_expired_total [MQTT-3.1.2-23]', async () => {
    const h = await startHarness(sessionsConfig());
    const id = uniq('ex-');
    const opts = { clientId: id, clean: false, properties: { sessionExpiryInterval: 1 } };
    const first = await connack5(h.url(), opts);
    await first.client.subscribeAsync('cmd/ex', { qos: 1 });
    await first.client.endAsync();
    expect(await downlinkOf(h).deliver({ topic: 'cmd/ex', payload: Buffer.from('q'), qos: 1 })).toMatchObject(
      {
        queued: 1,
      },
    );
    await new Promise((r) => setTimeout(r, 1200)); // the interval passes
    const again = await connack5(h.url(), opts);
    const got = received(again.client);
    expect(again.ack.sessionPresent).toBe(false);
    const metric = await h.metrics.getSingleMetricAsString('outpost_mqtt_sessions_expired_total');
    expect(metric).toMatch(/outpost_mqtt_sessions_expired_total 1$/m);
    await again.client.endAsync();
    expect(got).toEqual([]);
  });

  test('ingest › sessions off: SUBSCRIBE 0x87 and Session Expiry 0, wildcards and identifiers not available', async () => {
    const h = await startHarness();
    const { client, ack } = await connack5(h.url(), {
      clientId: uniq('off-'),
      clean: false,
      properties: { sessionExpiryInterval: 100 },
    });
    expect(ack.sessionPresent).toBe(false);
    expect(ack.properties).toMatchObject({
      sessionExpiryInterval: 0,
      wildcardSubscriptionAvailable: false,
      subscriptionIdentifiersAvailable: false,
    });
    await expect(client.subscribeAsync('open/x', { qos: 1 })).rejects.toThrow(/Not authorized/);
    client.end(true);
    expect(h.ingest.status().refusals['subscribe-denied']).toBe(1);
  });
});
