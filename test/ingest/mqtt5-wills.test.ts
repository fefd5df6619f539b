/**
 * MQTT 5 wills with sessions on (mqtt.sessions, forwardDevicePublishes), over real sockets: the Will
 * Delay Interval, its cancellation by a reconnect [MQTT-3.1.3-9], the session ending first
 * [MQTT-3.1.2-8], takeovers (the non-normative text of §3.1.3.2.2), 3.1.1 reconnects, revocation
 * while a will waits, and the store. The kill -9 and restart cases are in
 * test/integrity/mqtt5-sessions-after-crash.test.ts.
 */
import type { MqttClient } from 'mqtt';
import { describe, expect, test } from 'vitest';
import type { ConfigInput } from '../../src/config/index.ts';
import { baseConfig, closed, connect, type Harness, headerText, startHarness, uniq } from './helpers.ts';
import { connect5Packet, rawClient } from './raw.ts';

const V5 = { protocolVersion: 5 } as const;
const TOPIC = 'open/will5';

function sessionsConfig(extra: Partial<ConfigInput> = {}): ConfigInput {
  const base = baseConfig(extra);
  return {
    ...base,
    mqtt: {
      ...base.mqtt,
      sessions: { enabled: true, forwardDevicePublishes: true, anonymousFilters: ['open/#'] },
    },
  } as ConfigInput;
}

function will(tag: string, delay: number) {
  return {
    topic: TOPIC,
    payload: Buffer.from(tag),
    qos: 1 as const,
    retain: false,
    properties: { willDelayInterval: delay, userProperties: { why: tag } },
  };
}

/** An MQTT 5 device with a will whose socket is then dropped (no DISCONNECT): the will is due. */
async function dropWithWill(h: Harness, id: string, tag: string, delay: number, expiry = 600): Promise<void> {
  const raw = await rawClient(h.port(), 5);
  raw.send(
    connect5Packet(id, {
      clean: false,
      will: will(tag, delay),
      properties: { sessionExpiryInterval: expiry },
    }),
  );
  expect(await raw.next('connack')).toMatchObject({ reasonCode: 0 });
  raw.socket.destroy();
  await raw.closed;
}

async function metric(h: Harness, name: string, outcome?: string): Promise<number> {
  const got = await h.metrics.getSingleMetric(name)?.get();
  const values = got?.values.filter((v) => outcome === undefined || v.labels['outcome'] === outcome);
  return (values ?? []).reduce((sum, v) => sum + v.value, 0);
}

const wills = (h: Harness) => h.records('open').map((r) => r.value.toString());
const stored = (h: Harness) => [...h.log.openStore<[string, string], unknown>('sessions.wills5').getKeys()];

function reconnect(h: Harness, id: string, clean: boolean, protocol: 4 | 5 = 5): Promise<MqttClient> {
  return connect(h.url(), {
    ...(protocol === 5 ? { ...V5, properties: { sessionExpiryInterval: 600 } } : {}),
    clientId: id,
    clean,
  });
}

describe('ingest › MQTT 5 wills with sessions', () => {
  test('ingest › a will waits for its Will Delay Interval; a reconnect with Clean Start 0 within it cancels the will [MQTT-3.1.3-9]', async () => {
    const h = await startHarness(sessionsConfig());
    const id = uniq('wd-');
    await dropWithWill(h, id, 'never', 600);
    await expect.poll(() => metric(h, 'outpost_mqtt_wills_waiting')).toBe(1);
    expect(wills(h)).toEqual([]);
    expect(stored(h).map((k) => k[0])).toEqual([id]);
    const back = await reconnect(h, id, false);
    expect(await metric(h, 'outpost_mqtt_wills_waiting')).toBe(0);
    expect(await metric(h, 'outpost_mqtt_wills_total', 'cancelled')).toBe(1);
    await back.endAsync(); // DISCONNECT 0x00: no will of its own either
    await expect.poll(() => stored(h)).toEqual([]);
    const other = await connect(h.url(), { ...V5, clientId: uniq('o-') });
    await other.publishAsync('open/sentinel', 'sentinel', { qos: 1 });
    expect(wills(h)).toEqual(['sentinel']);
    expect(await metric(h, 'outpost_mqtt_wills_total', 'published')).toBe(0);
  });

  test('ingest › the will goes once its delay ends, with its properties as headers and to subscribers [MQTT-3.1.2-8]', async () => {
    const h = await startHarness(sessionsConfig());
    const sub = await connect(h.url(), { ...V5, clientId: uniq('sub-') });
    const got: Array<{ payload: string; props: unknown }> = [];
    sub.on('message', (_t, payload, packet) =>
      got.push({ payload: payload.toString(), props: packet.properties?.userProperties }),
    );
    await sub.subscribeAsync(TOPIC, { qos: 1 });
    const id = uniq('wl-');
    await dropWithWill(h, id, 'late', 1);
    await expect.poll(() => metric(h, 'outpost_mqtt_wills_waiting')).toBe(1);
    await expect.poll(() => wills(h), { timeout: 5000 }).toEqual(['late']);
    const [record] = h.records('open');
    expect(headerText(record!, 'mqtt.user.why')).toBe('late');
    expect(headerText(record!, 'client.id')).toBe(id);
    await expect.poll(() => got).toEqual([{ payload: 'late', props: { why: 'late' } }]);
    expect(await metric(h, 'outpost_mqtt_wills_total', 'published')).toBe(1);
    expect(await metric(h, 'outpost_mqtt_wills_waiting')).toBe(0);
    await expect.poll(() => stored(h)).toEqual([]);
  });

  test('ingest › the session ending first publishes the will: Session Expiry 1 s under a Will Delay of an hour [MQTT-3.1.2-8]', async () => {
    const h = await startHarness(sessionsConfig());
    await dropWithWill(h, uniq('se-'), 'session-ended', 3600, 1);
    await expect.poll(() => wills(h), { timeout: 5000 }).toEqual(['session-ended']);
  });

  test('ingest › a reconnect with Clean Start 1 ends the session, so a waiting will goes at once; 3.1.1 CleanSession 0 cancels it [§3.1.3.2.2]', async () => {
    const h = await startHarness(sessionsConfig());
    const clean = uniq('wc-');
    await dropWithWill(h, clean, 'ended-by-clean-start', 3600);
    await expect.poll(() => metric(h, 'outpost_mqtt_wills_waiting')).toBe(1);
    await reconnect(h, clean, true);
    await expect.poll(() => wills(h)).toEqual(['ended-by-clean-start']);
    const v311 = uniq('w4-');
    await dropWithWill(h, v311, 'cancelled-by-3.1.1', 3600);
    await expect.poll(() => metric(h, 'outpost_mqtt_wills_waiting')).toBe(1);
    await reconnect(h, v311, false, 4);
    expect(await metric(h, 'outpost_mqtt_wills_total', 'cancelled')).toBe(1);
    expect(await metric(h, 'outpost_mqtt_wills_waiting')).toBe(0);
    expect(wills(h)).toEqual(['ended-by-clean-start']);
  });

  test('ingest › a connection taken over: with Clean Start 0 its delayed will is not published; with Clean Start 1 it is [§3.1.3.2.2]', async () => {
    const h = await startHarness(sessionsConfig());
    const id = uniq('wt-');
    const opts = { ...V5, clientId: id, clean: false, properties: { sessionExpiryInterval: 600 } };
    const first = await connect(h.url(), { ...opts, will: will('taken-over-continued', 3600) });
    const firstGone = closed(first);
    const second = await connect(h.url(), { ...opts, will: will('taken-over-clean', 3600) });
    await firstGone;
    await expect.poll(() => metric(h, 'outpost_mqtt_wills_total', 'cancelled')).toBe(1);
    const secondGone = closed(second);
    const third = await connect(h.url(), { ...opts, clean: true });
    await secondGone;
    await expect.poll(() => wills(h)).toEqual(['taken-over-clean']);
    // The store holds no will of the client id now: the third connection has none.
    await expect.poll(() => stored(h)).toEqual([]);
    await third.endAsync();
  });

  test('ingest › a waiting will whose device is disabled meanwhile is discarded when its turn comes', async () => {
    const h = await startHarness(
      sessionsConfig({ mqtt: { listeners: [{ type: 'tcp', port: 0 }], allowAnonymous: false } }),
    );
    const id = uniq('wr-');
    await h.devices.add(id, { password: 'will-revoked-pass' });
    const c = await connect(h.url(), {
      ...V5,
      clientId: id,
      username: id,
      password: 'will-revoked-pass',
      clean: false,
      properties: { sessionExpiryInterval: 600 },
      will: will('revoked-while-waiting', 1),
    });
    c.stream.destroy();
    await expect.poll(() => metric(h, 'outpost_mqtt_wills_waiting')).toBe(1);
    await h.devices.setEnabled(id, false);
    await expect.poll(() => metric(h, 'outpost_mqtt_wills_total', 'discarded'), { timeout: 5000 }).toBe(1);
    expect(wills(h)).toEqual([]);
    await expect.poll(() => stored(h)).toEqual([]);
  });
});
