/** MQTT 5 Reason Strings: Request Problem Information and the client's Maximum Packet Size, over real sockets. */
import type { IDisconnectPacket, MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { describe, expect, test } from 'vitest';
import { baseConfig, connect, startHarness, uniq } from './helpers.ts';
import { connect5Packet, encode5, publish5, type RawClient, rawClient } from './raw.ts';

const V5 = { protocolVersion: 5 } as const;
const LOGIN = 'bad user name, password or certificate';
const UNROUTED = 'unrouted: no route matches the topic';

type WithProps = Packet & { reasonCode?: number; length: number; properties?: { reasonString?: string } };

/** A raw MQTT 5 client past CONNACK 0, with these CONNECT properties. */
async function connected(port: number, properties: Record<string, unknown>): Promise<RawClient> {
  const raw = await rawClient(port, 5);
  raw.send(connect5Packet(uniq('rs5-'), { properties }));
  expect(await raw.next('connack')).toMatchObject({ reasonCode: 0 });
  return raw;
}

/** Sends an unrouted QoS 1 PUBLISH and a SUBSCRIBE, and returns the PUBACK and SUBACK. */
async function refusedTwice(raw: RawClient): Promise<{ puback: WithProps; suback: WithProps }> {
  raw.send(publish5('nowhere/x', 'x', 1, 7));
  raw.send(encode5({ cmd: 'subscribe', messageId: 8, subscriptions: [{ topic: 'a/#', qos: 0 }] } as Packet));
  const puback = (await raw.next('puback')) as WithProps;
  const suback = (await raw.next('suback')) as WithProps;
  return { puback, suback };
}

/** A PUBLISH with Topic Alias 0: DISCONNECT 0x94 [MQTT-3.3.2-8]. */
async function aliasZero(raw: RawClient): Promise<WithProps> {
  raw.send(publish5('open/a', 'x', 0, 0, { topicAlias: 0 }));
  return (await raw.next('disconnect')) as WithProps;
}

function serverDisconnect(c: MqttClient): Promise<IDisconnectPacket> {
  return new Promise((resolve) => c.once('disconnect', (p) => resolve(p)));
}

describe('ingest › MQTT 5 Reason Strings', () => {
  test('ingest › by default refusals name their cause: PUBACK, SUBACK, server DISCONNECT [§3.1.2.11.7, §3.4.2.2.2]', async () => {
    const h = await startHarness(baseConfig({ unrouted: null }));
    const raw = await connected(h.port(), {});
    const { puback, suback } = await refusedTwice(raw);
    expect(puback).toMatchObject({ messageId: 7, reasonCode: 0x90, properties: { reasonString: UNROUTED } });
    expect(suback.properties?.reasonString).toBe('subscribe-denied: Outpost takes publishes only');
    const d = await aliasZero(raw);
    expect(d.reasonCode).toBe(0x94);
    expect(d.properties?.reasonString).toMatch(/^topic-alias-invalid: .*MQTT-3\.3\.2-8/);
    expect(h.ingest.status().refusals).toMatchObject({ unrouted: 1, 'topic-alias-invalid': 1 });
  });

  test('ingest › Request Problem Information 0: no Reason String on PUBACK or SUBACK, still on DISCONNECT [MQTT-3.1.2-29]', async () => {
    const h = await startHarness(baseConfig({ unrouted: null }));
    const raw = await connected(h.port(), { requestProblemInformation: false });
    const { puback, suback } = await refusedTwice(raw);
    expect(puback.reasonCode).toBe(0x90);
    expect(puback.properties?.reasonString).toBeUndefined();
    expect(suback.properties?.reasonString).toBeUndefined();
    expect((await aliasZero(raw)).properties?.reasonString).toMatch(/^topic-alias-invalid: /);
  });

  test('ingest › a Reason String that would exceed the client Maximum Packet Size is left out [MQTT-3.1.2-24, MQTT-3.4.2-2, MQTT-3.14.2-3]', async () => {
    const h = await startHarness(baseConfig({ unrouted: null }));
    const max = 40; // our CONNACK 0 fits; the PUBACK and DISCONNECT with their Reason Strings do not
    const raw = await connected(h.port(), { maximumPacketSize: max });
    const { puback } = await refusedTwice(raw);
    expect(puback.reasonCode).toBe(0x90);
    expect(puback.properties?.reasonString).toBeUndefined();
    const d = await aliasZero(raw);
    expect(d.reasonCode).toBe(0x94);
    expect(d.properties?.reasonString).toBeUndefined();
    // Every packet we sent fits: the fixed header (1 byte + a one-byte Remaining Length) + the rest.
    for (const p of raw.packets as WithProps[]) expect(p.length + 2).toBeLessThanOrEqual(max);
    // With room to spare the same PUBACK carries it.
    const roomy = await connected(h.port(), { maximumPacketSize: 1024 });
    expect((await refusedTwice(roomy)).puback.properties?.reasonString).toBe(UNROUTED);
  });

  test('ingest › a CONNACK refusal names it, the same text for an unknown device and a wrong password; dropped over Maximum Packet Size [MQTT-3.2.2-19]', async () => {
    const h = await startHarness(
      baseConfig({ mqtt: { listeners: [{ type: 'tcp', port: 0 }], allowAnonymous: false } }),
    );
    const id = uniq('rsdev-');
    await h.devices.add(id, { password: 'reason-string-password' });
    const texts: Array<string | undefined> = [];
    for (const [user, props] of [
      [id, {}],
      [uniq('nobody-'), {}],
      [id, { maximumPacketSize: 20 }],
    ] as const) {
      const raw = await rawClient(h.port(), 5);
      raw.send(connect5Packet(user, { username: user, password: Buffer.from('wrong'), properties: props }));
      const ack = (await raw.next('connack')) as WithProps;
      expect(ack.reasonCode).toBe(0x86);
      texts.push(ack.properties?.reasonString);
      await raw.closed;
    }
    expect(texts).toEqual([LOGIN, LOGIN, undefined]);
    expect(h.ingest.status().refusals).toMatchObject({ 'bad-credentials': 2, 'unknown-device': 1 });
  });

  test('ingest › mqtt.js sees the Reason String of DISCONNECT 0x8E on a takeover [§3.14.2.2.3]', async () => {
    const h = await startHarness();
    const id = uniq('rs-to-');
    const first = await connect(h.url(), { ...V5, clientId: id });
    const got = serverDisconnect(first);
    await connect(h.url(), { ...V5, clientId: id });
    const d = await got;
    expect(d.reasonCode).toBe(0x8e);
    expect(d.properties?.reasonString).toMatch(/taken over/);
  });
});
