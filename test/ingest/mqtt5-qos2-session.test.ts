/**
 * Inbound QoS 2 of a stored MQTT 5 session (mqtt.sessions on) across connections, with raw
 * mqtt-packet sockets over 127.0.0.1: an id answered PUBREC stays held when the connection drops, so
 * the resend is acknowledged and not appended again [MQTT-4.3.3-2, MQTT-4.4.0-1]. The kill -9 case is
 * in test/integrity/mqtt5-sessions-after-crash.test.ts.
 */
import type { Packet } from 'mqtt-packet';
import { describe, expect, test } from 'vitest';
import type { ConfigInput } from '../../src/config/index.ts';
import { baseConfig, startHarness, uniq } from './helpers.ts';
import { connect5Packet, encode5, type RawClient, rawClient } from './raw.ts';

function sessionsConfig(): ConfigInput {
  const base = baseConfig();
  return { ...base, mqtt: { ...base.mqtt, sessions: { enabled: true } } } as ConfigInput;
}

function qos2(topic: string, payload: string, messageId: number, dup = false): Buffer {
  return encode5({ cmd: 'publish', topic, payload, qos: 2, messageId, retain: false, dup } as Packet);
}

async function login(
  port: number,
  clientId: string,
  expiry: number,
): Promise<{ raw: RawClient; present: boolean }> {
  const raw = await rawClient(port, 5);
  raw.send(connect5Packet(clientId, { clean: false, properties: { sessionExpiryInterval: expiry } }));
  const ack = (await raw.next('connack')) as { reasonCode: number; sessionPresent: boolean };
  expect(ack.reasonCode).toBe(0);
  return { raw, present: ack.sessionPresent };
}

const acks = (raw: RawClient, cmd: string) =>
  raw.packets.filter((p) => p.cmd === cmd) as Array<Packet & { messageId: number; reasonCode?: number }>;

describe('ingest › MQTT 5 inbound QoS 2 of a stored session', () => {
  test('ingest › a QoS 2 PUBLISH resent after a reconnect, before PUBREL, is acknowledged and not appended again; PUBREL ends it [MQTT-4.3.3-2, MQTT-4.4.0-1]', async () => {
    const h = await startHarness(sessionsConfig());
    const id = uniq('q2s-');
    const first = await login(h.port(), id, 600);
    for (const n of [1, 2]) first.raw.send(qos2('open/q2s', `m${n}`, n));
    await expect
      .poll(() => acks(first.raw, 'pubrec').map((p) => [p.messageId, p.reasonCode ?? 0]))
      .toEqual([
        [1, 0],
        [2, 0],
      ]);
    first.raw.send(encode5({ cmd: 'pubrel', messageId: 1 } as Packet));
    expect(await first.raw.next('pubcomp')).toMatchObject({ messageId: 1, reasonCode: 0 });
    first.raw.socket.destroy(); // id 2 got PUBREC, never PUBREL
    await first.raw.closed;

    const back = await login(h.port(), id, 600);
    expect(back.present).toBe(true);
    back.raw.send(qos2('open/q2s', 'm2', 2, true));
    expect(await back.raw.next('pubrec')).toMatchObject({ messageId: 2, reasonCode: 0 });
    back.raw.send(encode5({ cmd: 'pubrel', messageId: 2 } as Packet));
    expect(await back.raw.next('pubcomp')).toMatchObject({ messageId: 2, reasonCode: 0 });
    back.raw.send(encode5({ cmd: 'pubrel', messageId: 1 } as Packet)); // ended on the first connection
    await expect.poll(() => acks(back.raw, 'pubcomp').map((p) => p.reasonCode ?? 0)).toEqual([0, 0x92]);
    back.raw.send(qos2('open/q2s', 'm2-new', 2)); // the id is free again: a new message
    await expect.poll(() => acks(back.raw, 'pubrec').length).toBe(2);
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['m1', 'm2', 'm2-new']);
  });

  test('ingest › a session without Session Expiry keeps no QoS 2 state past its connection (the session ended) [MQTT-3.1.2-23]', async () => {
    const h = await startHarness(sessionsConfig());
    const id = uniq('q2c-');
    const first = await login(h.port(), id, 0);
    first.raw.send(qos2('open/q2c', 'once', 7));
    await first.raw.next('pubrec');
    first.raw.socket.destroy();
    await first.raw.closed;
    const back = await login(h.port(), id, 0);
    expect(back.present).toBe(false);
    back.raw.send(encode5({ cmd: 'pubrel', messageId: 7 } as Packet));
    expect(await back.raw.next('pubcomp')).toMatchObject({ messageId: 7, reasonCode: 0x92 });
  });
});
