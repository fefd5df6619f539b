/** MQTT 5 refusal paths not covered by the connect / publish / session suites, over real sockets. */
import type { Packet } from 'mqtt-packet';
import { describe, expect, test } from 'vitest';
import { baseConfig, startHarness, uniq } from './helpers.ts';
import {
  connect5Packet,
  connectPacket,
  publish5,
  publishPacket,
  type RawClient,
  rawClient,
  rawConnected5,
} from './raw.ts';

function limited(limits: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return baseConfig({
    mqtt: { listeners: [{ type: 'tcp', port: 0 }], allowAnonymous: 'loopback', limits, ...extra },
  });
}

/** Replaces the first occurrence of `marker` in `packet` with `bytes` of the same length. */
function patch(packet: Buffer, marker: string, bytes: number[]): Buffer {
  const at = packet.indexOf(marker);
  if (at < 0 || bytes.length !== marker.length) throw new Error('bad patch');
  const out = Buffer.from(packet);
  Buffer.from(bytes).copy(out, at);
  return out;
}

async function acks(raw: RawClient, n: number, cmds = ['puback']): Promise<Packet[]> {
  const mine = () => raw.packets.filter((p) => cmds.includes(p.cmd));
  for (let i = 0; i < 300 && mine().length < n; i++) await new Promise((r) => setTimeout(r, 10));
  return mine();
}

async function pubacks(raw: RawClient, n: number): Promise<Array<number | undefined>> {
  return (await acks(raw, n)).map((p) => (p as { reasonCode?: number }).reasonCode ?? 0);
}

/** One write of PUBLISHes to open/rate with ids 1..n (QoS 1, the last `qos2` of them QoS 2). */
function burst5(n: number, qos2 = 0): Buffer {
  return Buffer.concat(
    Array.from({ length: n }, (_, i) => publish5('open/rate', `m${i + 1}`, i >= n - qos2 ? 2 : 1, i + 1)),
  );
}

describe('ingest › MQTT 5 refusals', () => {
  test('ingest › too many topic levels 0x90, a payload over maxPayloadBytes 0x83 [MQTT-3.4.2-1]', async () => {
    const h = await startHarness(limited({ maxPayloadBytes: 1024, maxTopicLevels: 4 }));
    const raw = await rawConnected5(h.port(), uniq('lim5-'));
    raw.send(
      Buffer.concat([
        publish5('open/a/b/c/d', 'deep', 1, 1),
        publish5('open/big', Buffer.alloc(1100, 1), 1, 2), // under Maximum Packet Size, over the payload limit
        publish5('open/fine', 'ok', 1, 3),
      ]),
    );
    expect(await pubacks(raw, 3)).toEqual([0x90, 0x83, 0]);
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['ok']);
    const s = h.ingest.status().refusals;
    expect(s['topic-too-many-levels']).toBe(1);
    expect(s['too-large']).toBe(1);
  });

  test('ingest › a held MQTT 5 connection is not read beyond a bounded read-ahead: TCP pushes back, other connections go on', async () => {
    const h = await startHarness(limited({ publishRate: { perSecond: 1, burst: 1 } }));
    const held = await rawConnected5(h.port(), uniq('held5-'));
    // 600 × 32 KiB, far more than the loopback socket buffers hold: once Outpost stops reading,
    // what it has not read stays in this client's send buffer.
    const payload = Buffer.alloc(32 * 1024, 7);
    for (let i = 1; i <= 600; i++) held.send(publish5('open/held', payload, 1, i));
    const other = await rawConnected5(h.port(), uniq('free5-'));
    other.send(Buffer.concat([1, 2, 3].map((i) => publish5('open/free', `f${i}`, 1, i))));
    expect(await pubacks(other, 3)).toEqual([0, 0, 0]);
    await new Promise((r) => setTimeout(r, 300));
    expect(held.socket.writableLength).toBeGreaterThan(0);
    expect(h.records('open').filter((r) => r.value.length === payload.length).length).toBeLessThanOrEqual(3);
  });

  test('ingest › a record the log cannot store gets 0x83 and the connection goes on', async () => {
    const h = await startHarness(baseConfig(), { logMaxRecordBytes: 2048 });
    const raw = await rawConnected5(h.port(), uniq('rec5-'));
    raw.send(
      Buffer.concat([publish5('open/rec', Buffer.alloc(4000, 2), 1, 1), publish5('open/rec', 'ok', 1, 2)]),
    );
    expect(await pubacks(raw, 2)).toEqual([0x83, 0]);
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['ok']);
    expect(h.ingest.status().refusals['record-invalid']).toBe(1);
  });

  test('ingest › ill-formed UTF-8 in a topic is DISCONNECT 0x81, a wildcard topic 0x90, after earlier PUBACKs [MQTT-1.5.4-1, MQTT-3.3.2-2]', async () => {
    const h = await startHarness();
    for (const [bad, code, reason] of [
      [patch(publish5('open/XX', 'u', 1, 2), 'XX', [0xc3, 0x28]), 0x81, 'invalid-utf8'],
      [publish5('open/+', 'w', 1, 2), 0x90, 'invalid-topic'],
    ] as const) {
      const raw = await rawConnected5(h.port(), uniq('wire5-'));
      const tag = uniq('first-');
      raw.send(Buffer.concat([publish5('open/first', tag, 1, 1), bad]));
      await raw.closed;
      expect(raw.packets.map((p) => p.cmd)).toEqual(['connack', 'puback', 'disconnect']);
      expect(raw.packets[2]).toMatchObject({ reasonCode: code });
      expect(h.ingest.status().refusals[reason]).toBe(1);
      expect(h.records('open').filter((r) => r.value.toString() === tag)).toHaveLength(1);
    }
  });

  test('ingest › a malformed CONNECT gets CONNACK 0x81, an oversized one 0x95, level 6 0x84, before closing (§4.13)', async () => {
    const h = await startHarness(limited({ maxPayloadBytes: 1024, maxClientIdLength: 32 }));
    for (const [bytes, code, reason] of [
      [patch(connect5Packet('id-XX'), 'XX', [0xed, 0xa0]), 0x81, 'invalid-utf8'],
      [connect5Packet(uniq('big-'), { username: 'u', password: Buffer.alloc(4000) }), 0x95, 'too-large'],
      [patch(connect5Packet('level-6'), '\u0005', [6]), 0x84, 'protocol-version'], // [MQTT-3.1.2-2]
    ] as const) {
      const raw = await rawClient(h.port(), 5);
      raw.send(bytes);
      expect(await raw.next('connack')).toMatchObject({ reasonCode: code });
      await raw.closed;
      expect(h.ingest.status().refusals[reason]).toBe(1);
    }
  });

  test('ingest › a will the device may not publish gets CONNACK 0x87 [MQTT-3.2.2-8]', async () => {
    const h = await startHarness(baseConfig({ unrouted: null }));
    const raw = await rawClient(h.port(), 5);
    raw.send(
      connect5Packet(uniq('will5-'), {
        will: { topic: 'nowhere/will', payload: 'x', qos: 1, retain: false },
      }),
    );
    expect(await raw.next('connack')).toMatchObject({ reasonCode: 0x87 });
    await raw.closed;
    expect(h.ingest.status().refusals['will-refused']).toBe(1);
  });

  test('ingest › a CONNECT that stops after its protocol level is closed by connectTimeoutMs and counted', async () => {
    const h = await startHarness(limited({}, { connectTimeoutMs: 300 }));
    const raw = await rawClient(h.port(), 5);
    raw.send(connect5Packet(uniq('slow5-')).subarray(0, 12)); // the MQTT 5 handler has it, CONNECT incomplete
    await raw.closed;
    expect(raw.packets as Packet[]).toEqual([]);
    expect(h.ingest.status().refusals['connect-timeout']).toBe(1);
  });

  test('ingest › over the publish rate MQTT 5 is pushed back by default, nothing refused', async () => {
    const h = await startHarness(limited({ publishRate: { perSecond: 1, burst: 2 } }));
    const raw = await rawConnected5(h.port(), uniq('bp5-'));
    raw.send(burst5(3)); // the third waits about a second for a token
    expect(await pubacks(raw, 3)).toEqual([0, 0, 0]);
    expect(h.records('open')).toHaveLength(3);
    expect(h.ingest.status().refusals['rate-limited']).toBeUndefined();
  });

  test('ingest › overLimitMqtt5 "refuse": PUBACK/PUBREC 0x97 in order, nothing stored, counted each, logged once [§3.4.2.1, MQTT-4.6.0-2]', async () => {
    const logLines: Array<Record<string, unknown>> = [];
    const h = await startHarness(
      limited({ publishRate: { perSecond: 1, burst: 2, overLimitMqtt5: 'refuse' } }),
      { logLines },
    );
    const raw = await rawConnected5(h.port(), uniq('rl5-'));
    raw.send(burst5(5, 1));
    const got = (await acks(raw, 5, ['puback', 'pubrec'])) as Array<Packet & { reasonCode?: number }>;
    expect(got.map((p) => [p.cmd, p.messageId, p.reasonCode ?? 0])).toEqual([
      ['puback', 1, 0],
      ['puback', 2, 0],
      ['puback', 3, 0x97],
      ['puback', 4, 0x97],
      ['pubrec', 5, 0x97],
    ]);
    expect((got[2] as { properties?: { reasonString?: string } }).properties?.reasonString).toMatch(
      /^rate-limited/,
    );
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['m1', 'm2']);
    expect(h.ingest.status().refusals['rate-limited']).toBe(3);
    const metric = await h.metrics.getSingleMetric('outpost_ingest_refusals_total')?.get();
    expect(metric?.values.find((v) => v.labels['reason'] === 'rate-limited')?.value).toBe(3);
    expect(logLines.filter((l) => l['reason'] === 'rate-limited')).toHaveLength(1);
    expect(raw.isClosed()).toBe(false); // the connection goes on
    // MQTT 3.1.1 has no negative acknowledgement: the same config pushes it back, all stored.
    const v4 = await rawClient(h.port());
    v4.send(connectPacket(uniq('rl4-')));
    expect(await v4.next('connack')).toMatchObject({ returnCode: 0 });
    v4.send(Buffer.concat([1, 2, 3].map((i) => publishPacket('open/rate4', `v${i}`, 1, i))));
    expect((await acks(v4, 3)).map((p) => p.messageId)).toEqual([1, 2, 3]);
    expect(h.records('open').filter((r) => r.value.toString().startsWith('v'))).toHaveLength(3);
  });
});
