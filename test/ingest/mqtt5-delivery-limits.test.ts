/**
 * What limits a copy sent to a subscriber (mqtt.sessions on), over real sockets with mqtt.js and raw
 * mqtt-packet clients: the properties a stored copy keeps, Message Expiry on stored and waiting
 * copies (MQTT 5 publishers and downlink messages with an expiry, for MQTT 5 and 3.1.1 sessions),
 * retained messages' properties and expiry, and the client's Maximum Packet Size.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { describe, expect, test } from 'vitest';
import type { ConfigInput } from '../../src/config/index.ts';
import type { Downlink } from '../../src/ingest/index.ts';
import { baseConfig, connect, startHarness, uniq } from './helpers.ts';
import { connect5Packet, encode5, rawClient } from './raw.ts';

type Harness = Awaited<ReturnType<typeof startHarness>>;
type Got = { topic: string; payload: string; props: Record<string, unknown> };

function sessionsConfig(): ConfigInput {
  const base = baseConfig();
  return {
    ...base,
    mqtt: {
      ...base.mqtt,
      sessions: { enabled: true, forwardDevicePublishes: true, anonymousFilters: ['open/#', 'cmd/#'] },
    },
  } as ConfigInput;
}

function downlinkOf(h: Harness): Downlink {
  const d = h.ingest.downlink();
  if (d === null) throw new Error('no downlink');
  return d;
}

async function persistent(url: string, clientId: string, extra: IClientOptions = {}): Promise<MqttClient> {
  return connect(url, {
    clientId,
    clean: false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: 600 },
    ...extra,
  });
}

function received(client: MqttClient): Got[] {
  const out: Got[] = [];
  client.on('message', (topic, payload, packet) =>
    out.push({
      topic,
      payload: payload.toString(),
      props: (packet.properties ?? {}) as Record<string, unknown>,
    }),
  );
  return out;
}

async function droppedBy(h: Harness, reason: string): Promise<number> {
  const values = (await h.metrics.getSingleMetric('outpost_mqtt_session_dropped_total')?.get())?.values ?? [];
  return values.find((v) => v.labels['reason'] === reason)?.value ?? 0;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ingest › limits on copies sent to subscribers', () => {
  test('ingest › a stored copy keeps the publish properties [MQTT-3.3.2-4, MQTT-3.3.2-15, MQTT-3.3.2-16, MQTT-3.3.2-17, MQTT-3.3.2-20] and carries what is left of its Message Expiry [MQTT-3.3.2-6]', async () => {
    const h = await startHarness(sessionsConfig());
    const id = uniq('sp-');
    const sub = await persistent(h.url(), id);
    await sub.subscribeAsync('open/sp/#', { qos: 1 });
    await sub.endAsync();
    const device = await connect(h.url(), { protocolVersion: 5, clientId: uniq('spd-') });
    const properties = {
      payloadFormatIndicator: true,
      messageExpiryInterval: 600,
      contentType: 'application/json',
      responseTopic: 'open/sp/reply',
      correlationData: Buffer.from('c-17'),
      userProperties: { unit: 'C', tag: ['a', 'b'] },
    };
    await device.publishAsync('open/sp/t', '{"t":21}', { qos: 1, properties });
    await device.endAsync();
    const back = await persistent(h.url(), id);
    const got = received(back);
    await expect.poll(() => got.length).toBe(1);
    await back.endAsync();
    const props = got[0]?.props ?? {};
    expect(props).toMatchObject({
      payloadFormatIndicator: true,
      contentType: 'application/json',
      responseTopic: 'open/sp/reply',
      userProperties: { unit: 'C', tag: ['a', 'b'] },
    });
    expect(Buffer.from(props['correlationData'] as Buffer).toString()).toBe('c-17');
    expect(props['messageExpiryInterval']).toBeGreaterThanOrEqual(1);
    expect(props['messageExpiryInterval']).toBeLessThanOrEqual(600);
  });

  test('ingest › a stored copy whose Message Expiry passed is not sent on resume and leaves the queue [MQTT-3.3.2-5]; the log keeps the publish; counted', async () => {
    const h = await startHarness(sessionsConfig());
    const id = uniq('ex-');
    const sub = await persistent(h.url(), id);
    await sub.subscribeAsync('open/ex/#', { qos: 1 });
    await sub.endAsync();
    const device = await connect(h.url(), { protocolVersion: 5, clientId: uniq('exd-') });
    await device.publishAsync('open/ex/t', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await device.publishAsync('open/ex/t', 'forever', { qos: 1 });
    await device.endAsync();
    await pause(1_100); // the first one's second passes while the subscriber is away
    const back = await persistent(h.url(), id);
    const got = received(back);
    await expect.poll(() => got.map((g) => g.payload)).toEqual(['forever']);
    expect(got[0]?.props['messageExpiryInterval']).toBeUndefined();
    await back.endAsync();
    expect(await droppedBy(h, 'expired')).toBe(1);
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['short', 'forever']);
    const again = await persistent(h.url(), id);
    const late = received(again);
    await again.subscribeAsync('open/ex/none', { qos: 1 }); // a round trip: nothing else was queued
    await again.endAsync();
    expect(late).toEqual([]);
  });

  test('ingest › a downlink message with expiresAt: an MQTT 5 subscriber gets its interval; a 3.1.1 session resumed after it gets nothing, counted', async () => {
    const h = await startHarness(sessionsConfig());
    const d = downlinkOf(h);
    const v5 = await connect(h.url(), { protocolVersion: 5, clientId: uniq('dl5-') });
    const got5 = received(v5);
    await v5.subscribeAsync('cmd/dx/#', { qos: 1 });
    const id = uniq('dl4-');
    const v4 = await connect(h.url(), { clientId: id, clean: false });
    await v4.subscribeAsync('cmd/dx/#', { qos: 1 });
    await v4.endAsync();
    const out = await d.deliver({
      topic: 'cmd/dx/a',
      payload: Buffer.from('soon'),
      qos: 1,
      expiresAt: Date.now() + 1_000,
    });
    expect(out).toMatchObject({ matched: 2, delivered: 1, queued: 1 });
    await expect.poll(() => got5.length).toBe(1);
    expect(got5[0]?.props['messageExpiryInterval']).toBe(1);
    await d.deliver({ topic: 'cmd/dx/b', payload: Buffer.from('kept'), qos: 1 });
    await pause(1_100);
    const back = await connect(h.url(), { clientId: id, clean: false });
    const got4 = received(back);
    await expect.poll(() => got4.map((g) => g.payload)).toEqual(['kept']);
    await back.endAsync();
    await v5.endAsync();
    expect(await droppedBy(h, 'expired')).toBe(1);
    await expect(
      d.deliver({ topic: 'cmd/dx/c', payload: Buffer.alloc(0), qos: 1, expiresAt: Number.NaN }),
    ).rejects.toMatchObject({ code: 'DOWNLINK_INVALID' });
  });

  test('ingest › a retained message keeps its properties for later subscribers [MQTT-3.3.2-4] with what is left of its Message Expiry [MQTT-3.3.2-6]; once it passes, no subscriber gets it and it is no longer kept [MQTT-3.3.2-5]', async () => {
    const h = await startHarness(sessionsConfig());
    const device = await connect(h.url(), { protocolVersion: 5, clientId: uniq('rtd-') });
    const properties = {
      contentType: 'text/plain',
      correlationData: Buffer.from('r-1'),
      userProperties: { site: 'north' },
    };
    await device.publishAsync('open/rt/long', 'kept', {
      qos: 1,
      retain: true,
      properties: { ...properties, messageExpiryInterval: 600 },
    });
    await device.publishAsync('open/rt/short', 'brief', {
      qos: 1,
      retain: true,
      properties: { messageExpiryInterval: 1 },
    });
    await device.publishAsync('open/rt/plain', 'plain', { qos: 1, retain: true });
    await device.endAsync();
    const stats = async () =>
      (await h.metrics.getSingleMetric('outpost_mqtt_retained')?.get())?.values[0]?.value;
    await expect.poll(stats).toBe(3);

    const first = await connect(h.url(), { protocolVersion: 5, clientId: uniq('rts-') });
    const got = received(first);
    await first.subscribeAsync('open/rt/#', { qos: 1 });
    await expect.poll(() => got.map((g) => g.payload).sort()).toEqual(['brief', 'kept', 'plain']);
    await first.endAsync();
    const kept = got.find((g) => g.payload === 'kept')?.props ?? {};
    expect(kept).toMatchObject({ contentType: 'text/plain', userProperties: { site: 'north' } });
    expect(Buffer.from(kept['correlationData'] as Buffer).toString()).toBe('r-1');
    expect(kept['messageExpiryInterval']).toBeGreaterThanOrEqual(1);
    expect(kept['messageExpiryInterval']).toBeLessThanOrEqual(600);
    expect(got.find((g) => g.payload === 'plain')?.props['messageExpiryInterval']).toBeUndefined();

    await pause(1_100); // the short one's second passes
    const later = await connect(h.url(), { protocolVersion: 5, clientId: uniq('rts-') });
    const late = received(later);
    await later.subscribeAsync('open/rt/#', { qos: 1 });
    await expect.poll(() => late.map((g) => g.payload).sort()).toEqual(['kept', 'plain']);
    await later.endAsync();
    expect(await droppedBy(h, 'expired')).toBe(1);
    await expect.poll(stats).toBe(2); // its entry went
    // A 3.1.1 subscriber does not get it either.
    const v4 = await connect(h.url(), { clientId: uniq('rt4-') });
    const got4: string[] = [];
    v4.on('message', (_t, payload) => got4.push(payload.toString()));
    await v4.subscribeAsync('open/rt/#', { qos: 1 });
    await expect.poll(() => [...got4].sort()).toEqual(['kept', 'plain']);
    await v4.endAsync();
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['kept', 'brief', 'plain']);
  });

  test('ingest › a PUBLISH over the client Maximum Packet Size is not sent and counts as done [MQTT-3.1.2-24, MQTT-3.1.2-25]; smaller ones go on', async () => {
    const h = await startHarness(sessionsConfig());
    const raw = await rawClient(h.port(), 5);
    raw.send(connect5Packet(uniq('mp-'), { properties: { maximumPacketSize: 128 } }));
    await raw.next('connack');
    raw.send(
      encode5({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'cmd/mp/#', qos: 1 }] } as Packet),
    );
    await raw.next('suback');
    const d = downlinkOf(h);
    const big = await d.deliver({ topic: 'cmd/mp/a', payload: Buffer.alloc(200, 1), qos: 1 });
    const big0 = await d.deliver({ topic: 'cmd/mp/b', payload: Buffer.alloc(200, 2), qos: 0 });
    const small = d.deliver({ topic: 'cmd/mp/c', payload: Buffer.from('fits'), qos: 1 });
    const pub = (await raw.next('publish')) as { messageId: number; payload: Buffer; topic: string };
    expect(pub.topic).toBe('cmd/mp/c');
    raw.send(encode5({ cmd: 'puback', messageId: pub.messageId } as Packet));
    expect(await small).toMatchObject({ matched: 1, delivered: 1 });
    expect(big).toMatchObject({ matched: 1, delivered: 0, dropped: 1 });
    expect(big0).toMatchObject({ matched: 1, delivered: 0, dropped: 1 });
    expect(raw.packets.filter((p) => p.cmd === 'publish')).toHaveLength(1);
    expect(await droppedBy(h, 'too-large')).toBe(2);
    raw.socket.destroy();
  });

  test('ingest › a stored copy over the Maximum Packet Size of the resuming client leaves the queue; the rest arrive in order', async () => {
    const h = await startHarness(sessionsConfig());
    const id = uniq('mps-');
    const sub = await persistent(h.url(), id);
    await sub.subscribeAsync('cmd/mps/#', { qos: 1 });
    await sub.endAsync();
    const d = downlinkOf(h);
    for (const payload of [Buffer.from('1'), Buffer.alloc(500, 7), Buffer.from('3')]) {
      expect(await d.deliver({ topic: 'cmd/mps/x', payload, qos: 1 })).toMatchObject({ queued: 1 });
    }
    const back = await persistent(h.url(), id, {
      properties: { sessionExpiryInterval: 600, maximumPacketSize: 256 },
    });
    const got = received(back);
    await expect.poll(() => got.map((g) => g.payload)).toEqual(['1', '3']);
    await back.endAsync();
    expect(await droppedBy(h, 'too-large')).toBe(1);
    const roomy = await persistent(h.url(), id);
    const none = received(roomy);
    await roomy.subscribeAsync('cmd/mps/none', { qos: 1 });
    await roomy.endAsync();
    expect(none).toEqual([]); // discarded, not held back for a larger limit
  });
});
