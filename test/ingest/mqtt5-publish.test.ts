/** MQTT 5 PUBLISH over real sockets: properties → headers, topic aliases, reason codes, QoS 2. */
import { randomBytes } from 'node:crypto';
import type { Packet } from 'mqtt-packet';
import { describe, expect, test } from 'vitest';
import { OutpostError } from '../../src/errors.ts';
import type { PartitionedLog } from '../../src/log/index.ts';
import { baseConfig, connect, headerText, startHarness, uniq } from './helpers.ts';
import { connect5Packet, encode5, publish5, type RawClient, rawClient, rawConnected5 } from './raw.ts';

const V5 = { protocolVersion: 5 } as const;

/** The packets of `cmd` once there are `n` of them (or the connection closed): bounded wait. */
async function packetsOf(raw: RawClient, cmd: string, n: number): Promise<Packet[]> {
  for (let i = 0; i < 500; i++) {
    const got = raw.packets.filter((p) => p.cmd === cmd);
    if (got.length >= n || raw.isClosed()) return got;
    await new Promise((r) => setTimeout(r, 10));
  }
  return raw.packets.filter((p) => p.cmd === cmd);
}

const codes = (ps: Packet[]) =>
  ps.map((p) => [(p as { messageId?: number }).messageId, (p as { reasonCode?: number }).reasonCode ?? 0]);

describe('ingest › MQTT 5 PUBLISH', () => {
  test('ingest › properties become record headers, user properties in order with repeats [MQTT-3.3.2-18]', async () => {
    const h = await startHarness();
    const c = await connect(h.url(), { ...V5, clientId: uniq('p5-') });
    await c.publishAsync('open/props', 'hello', {
      qos: 1,
      properties: {
        contentType: 'text/plain',
        payloadFormatIndicator: true,
        responseTopic: 'replies/here',
        correlationData: Buffer.from([0, 1, 255]),
        messageExpiryInterval: 90,
        userProperties: { site: 'north', tag: ['a', 'b', 'c'], zone: '7' },
      },
    });
    const [r] = h.records('open');
    expect(r).toBeDefined();
    if (!r) return;
    expect(headerText(r, 'mqtt.content.type')).toBe('text/plain');
    expect(headerText(r, 'mqtt.payload.format')).toBe('1');
    expect(headerText(r, 'mqtt.response.topic')).toBe('replies/here');
    expect(r.headers['mqtt.correlation.data']).toEqual(Buffer.from([0, 1, 255]));
    expect(headerText(r, 'mqtt.message.expiry')).toBe('90');
    const user = Object.keys(r.headers).filter((k) => k.startsWith('mqtt.user.'));
    expect(user).toEqual([
      'mqtt.user.site',
      'mqtt.user.tag',
      'mqtt.user.tag#2',
      'mqtt.user.tag#3',
      'mqtt.user.zone',
    ]);
    expect(user.map((k) => headerText(r, k))).toEqual(['north', 'a', 'b', 'c', '7']);
    // The 3.1.1 headers are there as well.
    expect(headerText(r, 'mqtt.topic')).toBe('open/props');
    expect(headerText(r, 'mqtt.qos')).toBe('1');
  });

  test('ingest › a record without properties has no MQTT 5 headers', async () => {
    const h = await startHarness();
    const c = await connect(h.url(), { ...V5, clientId: uniq('p5-') });
    await c.publishAsync('open/plain', 'x', { qos: 1 });
    const [r] = h.records('open');
    expect(Object.keys(r?.headers ?? {}).sort()).toEqual([
      'client.id',
      'mqtt.qos',
      'mqtt.retain',
      'mqtt.topic',
    ]);
  });

  test('ingest › topic aliases set by the client resolve to their topic [MQTT-3.3.2-12]', async () => {
    const h = await startHarness();
    const raw = await rawConnected5(h.port(), uniq('alias-'));
    raw.send(
      Buffer.concat([
        publish5('open/aliased', 'one', 1, 1, { topicAlias: 3 }),
        publish5('', 'two', 1, 2, { topicAlias: 3 }),
      ]),
    );
    expect(codes(await packetsOf(raw, 'puback', 2))).toEqual([
      [1, 0],
      [2, 0],
    ]);
    expect(h.records('open').map((r) => [headerText(r, 'mqtt.topic'), r.value.toString()])).toEqual([
      ['open/aliased', 'one'],
      ['open/aliased', 'two'],
    ]);
  });

  test('ingest › alias 0 or above Topic Alias Maximum is DISCONNECT 0x94; an unset alias 0x82 [MQTT-3.3.2-8, MQTT-3.3.2-9]', async () => {
    const h = await startHarness();
    for (const [bytes, code, reason] of [
      [publish5('open/a', 'x', 1, 1, { topicAlias: 33 }), 0x94, 'topic-alias-invalid'],
      [publish5('', 'x', 1, 1, { topicAlias: 5 }), 0x82, 'protocol-error'],
    ] as const) {
      const raw = await rawConnected5(h.port(), uniq('alias-'));
      raw.send(bytes);
      expect(await raw.next('disconnect')).toMatchObject({ reasonCode: code });
      await raw.closed;
      expect(h.ingest.status().refusals[reason]).toBe(1);
    }
    expect(h.records('open')).toHaveLength(0);
  });

  test('ingest › refused PUBLISHes get PUBACK reason codes in order and the connection goes on [MQTT-3.4.2-1, MQTT-4.6.0-2]', async () => {
    const h = await startHarness(baseConfig({ unrouted: null }));
    const id = uniq('dev5-');
    await h.devices.add(id, { password: 'password-5-acl' });
    const raw = await rawConnected5(h.port(), id);
    // Anonymous (loopback) skips the ACL: log in as the device for the 0x87 case.
    const dev = await connect(h.url(), {
      ...V5,
      clientId: uniq('d5-'),
      username: id,
      password: 'password-5-acl',
    });
    raw.send(
      Buffer.concat([
        publish5('open/ok/1', 'a', 1, 1),
        publish5('nowhere/at/all', 'b', 1, 2), // unrouted: 0x90
        publish5('open/utf8', Buffer.from([0xff, 0xfe]), 1, 3, { payloadFormatIndicator: true }), // 0x99
        publish5('open/ok/4', 'd', 1, 4),
        publish5(`open/${'x'.repeat(600)}`, 'e', 1, 5), // topic too long: 0x90
        publish5('open/ok/6', 'f', 1, 6),
      ]),
    );
    expect(codes(await packetsOf(raw, 'puback', 6))).toEqual([
      [1, 0],
      [2, 0x90],
      [3, 0x99],
      [4, 0],
      [5, 0x90],
      [6, 0],
    ]);
    const err = await dev.publishAsync(`vehicles/${uniq('other-')}/telemetry/gps`, 'n', { qos: 1 }).then(
      () => null,
      (e: { code?: number }) => e,
    );
    expect(err?.code).toBe(0x87); // outside the ACL [MQTT-3.4.2-1]
    await dev.publishAsync(`vehicles/${id}/telemetry/gps`, 'mine', { qos: 1 }); // still connected
    expect(raw.isClosed()).toBe(false);
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['a', 'd', 'f']);
    expect(h.records('telemetry').map((r) => r.value.toString())).toEqual(['mine']);
    const s = h.ingest.status().refusals;
    expect(s.unrouted).toBe(1);
    expect(s['payload-format']).toBe(1);
    expect(s['topic-too-long']).toBe(1);
    expect(s.unauthorized).toBe(1);
  });

  test('ingest › a refused QoS 0 PUBLISH is counted and not stored; valid UTF-8 with the indicator is (§3.3.2.3.2)', async () => {
    const h = await startHarness();
    const raw = await rawConnected5(h.port(), uniq('q0-'));
    raw.send(
      Buffer.concat([
        publish5('open/q0', Buffer.from([0xc3, 0x28]), 0, 0, { payloadFormatIndicator: true }),
        publish5('open/q0', 'grüße', 1, 9, { payloadFormatIndicator: true }),
      ]),
    );
    expect(codes(await packetsOf(raw, 'puback', 1))).toEqual([[9, 0]]);
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['grüße']);
    expect(h.ingest.status().refusals['payload-format']).toBe(1);
  });

  test('ingest › QoS 2: PUBREC after fsync, a DUP before PUBREL is not stored twice, PUBCOMP; unknown PUBREL 0x92 [MQTT-4.3.3-2, §3.7.2.1]', async () => {
    const h = await startHarness(baseConfig({ unrouted: null }));
    const raw = await rawConnected5(h.port(), uniq('q2-'));
    raw.send(publish5('open/q2', 'once', 2, 11));
    expect(codes(await packetsOf(raw, 'pubrec', 1))).toEqual([[11, 0]]);
    const dup = publish5('open/q2', 'once', 2, 11);
    dup[0] = (dup[0] as number) | 0x08; // DUP flag
    raw.send(dup);
    expect(codes(await packetsOf(raw, 'pubrec', 2))).toEqual([
      [11, 0],
      [11, 0],
    ]);
    raw.send(encode5({ cmd: 'pubrel', messageId: 11 } as Packet));
    expect(codes(await packetsOf(raw, 'pubcomp', 1))).toEqual([[11, 0]]);
    raw.send(encode5({ cmd: 'pubrel', messageId: 12 } as Packet));
    expect(codes(await packetsOf(raw, 'pubcomp', 2))).toEqual([
      [11, 0],
      [12, 0x92],
    ]);
    // A refused QoS 2 PUBLISH gets PUBREC with the code, which ends the exchange (§4.3.3).
    raw.send(publish5('nowhere/q2', 'no', 2, 13));
    expect(codes(await packetsOf(raw, 'pubrec', 3))[2]).toEqual([13, 0x90]);
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['once']);
  });

  test('ingest › a full log answers PUBACK 0x97 and stores nothing more; the connection stays [MQTT-3.4.2-1]', async () => {
    const topics = {
      telemetry: { partitions: 1 },
      events: { partitions: 1 },
      unrouted: { partitions: 1 },
      open: { partitions: 1, retentionBytes: 64 * 1024 ** 2 },
    };
    const h = await startHarness(baseConfig({ log: { topics, maxBytes: 3 * 1024 ** 2, onFull: 'reject' } }));
    const c = await connect(h.url(), { ...V5, clientId: uniq('fill5-') });
    // Random bytes: the default zstd cannot shrink them, so the budget fills.
    const payload = randomBytes(16 * 1024);
    let acked = 0;
    let code: number | undefined;
    for (let i = 0; i < 1000 && code === undefined; i++) {
      await c.publishAsync('open/fill', payload, { qos: 1 }).then(
        () => {
          acked++;
        },
        (e: { code?: number }) => {
          code = e.code;
        },
      );
    }
    expect(code).toBe(0x97);
    expect(c.connected).toBe(true);
    expect(h.records('open')).toHaveLength(acked);
    expect(h.ingest.status().refusals['log-full']).toBeGreaterThan(0);
    // A new MQTT 5 CONNECT while the log is full: CONNACK 0x97 [MQTT-3.2.2-8].
    const raw = await rawClient(h.port(), 5);
    raw.send(connect5Packet(uniq('late5-')));
    expect(await raw.next('connack')).toMatchObject({ reasonCode: 0x97 });
    expect(h.ingest.status().refusals['log-full-connect']).toBe(1);
  });

  test('ingest › a failed append answers PUBACK 0x80, stores nothing and is counted once', async () => {
    let fail = false;
    const failing = (log: PartitionedLog): PartitionedLog =>
      new Proxy(log, {
        get(target, prop, receiver) {
          if (prop === 'append')
            return (records: Parameters<PartitionedLog['append']>[0]) =>
              fail
                ? Promise.reject(new OutpostError('LOG_WRITE_FAILED', 'disk said no'))
                : target.append(records);
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    const h = await startHarness(baseConfig(), { wrapLog: failing });
    const c = await connect(h.url(), { ...V5, clientId: uniq('af5-') });
    await c.publishAsync('open/af', 'before', { qos: 1 });
    fail = true;
    const err = await c.publishAsync('open/af', 'lost', { qos: 1 }).then(
      () => null,
      (e: { code?: number }) => e,
    );
    expect(err?.code).toBe(0x80);
    fail = false;
    await c.publishAsync('open/af', 'after', { qos: 1 });
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['before', 'after']);
    expect(h.ingest.status().refusals['append-failed']).toBe(1);
  });
});
