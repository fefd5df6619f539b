import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { baseConfig, closed, connackCode, connect, type Harness, startHarness } from './helpers.ts';
import { connectPacket, encode, publishPacket, rawClient } from './raw.ts';

/** The broker still takes a normal QoS 1 publish from a fresh client. */
async function stillServes(h: Harness, tag: string): Promise<void> {
  const c = await connect(h.url(), { clientId: `h-${tag.slice(0, 12)}` });
  await c.publishAsync('open/healthy', tag, { qos: 1 });
  expect(h.records('open').some((r) => r.value.toString() === tag)).toBe(true);
  c.end(true);
}

const limited = () =>
  baseConfig({
    mqtt: {
      listeners: [{ type: 'tcp', port: 0 }],
      allowAnonymous: 'loopback',
      limits: {
        maxPayloadBytes: 1024,
        maxClientIdLength: 16,
        maxTopicLength: 64,
        maxTopicLevels: 4,
        maxKeepaliveSeconds: 120,
      },
    },
  });

describe('ingest › hostile input', () => {
  test('ingest › an oversize payload closes that connection without PUBACK and others keep working', async () => {
    const h = await startHarness(limited());
    const c = await connect(h.url());
    let acked = false;
    c.publish('open/big', Buffer.alloc(2048, 1), { qos: 1 }, (err) => {
      if (!err) acked = true;
    });
    await closed(c);
    expect(acked).toBe(false);
    expect(h.records('open')).toHaveLength(0);
    expect(h.ingest.status().refusals['too-large']).toBe(1);
    await stillServes(h, 'after-oversize');
  });

  test('ingest › a packet announcing a huge length is cut off before it is buffered', async () => {
    const h = await startHarness(limited());
    const raw = await rawClient(h.port());
    raw.send(connectPacket('huge'));
    expect((await raw.next('connack')) as unknown).toMatchObject({ returnCode: 0 });
    // PUBLISH QoS 0 header with Remaining Length 100 MiB (varint 0x80 0x80 0x80 0x32), then a few bytes.
    raw.send(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x32, 0x00, 0x04, 0x6f, 0x70, 0x65, 0x6e]));
    await raw.closed;
    expect(h.ingest.status().refusals['too-large']).toBe(1);
    await stillServes(h, 'after-huge');
  });

  test('ingest › long topics, deep topics, long client ids and large keepalives are refused', async () => {
    const h = await startHarness(limited());
    const deep = await connect(h.url());
    deep.publish('open/a/b/c/d', 'x', { qos: 1 });
    await closed(deep);
    const long = await connect(h.url());
    long.publish(`open/${'x'.repeat(80)}`, 'x', { qos: 1 });
    await closed(long);
    expect(await connackCode(h.url(), { clientId: 'c'.repeat(17) })).toBe(2);
    expect(await connackCode(h.url(), { clientId: 'ka', keepalive: 121 })).toBe(2);
    const r = h.ingest.status().refusals;
    expect([
      r['topic-too-many-levels'],
      r['topic-too-long'],
      r['client-id-too-long'],
      r['keepalive-too-large'],
    ]).toEqual([1, 1, 1, 1]);
    expect(h.records('open')).toHaveLength(0);
    await stillServes(h, 'after-limits');
  });

  test('ingest › connections beyond maxConnections get CONNACK 3 server unavailable', async () => {
    const h = await startHarness(
      baseConfig({
        mqtt: {
          listeners: [{ type: 'tcp', port: 0 }],
          allowAnonymous: 'loopback',
          limits: { maxConnections: 2 },
        },
      }),
    );
    await connect(h.url(), { clientId: 'one' });
    await connect(h.url(), { clientId: 'two' });
    expect(await connackCode(h.url(), { clientId: 'three' })).toBe(3);
    expect(h.ingest.status().refusals['max-connections']).toBe(1);
    expect(h.ingest.status().connections).toBe(2);
  });

  test('ingest › malformed packets and garbage bytes close only that connection', async () => {
    const h = await startHarness(limited());
    // garbage before CONNECT
    const g = await rawClient(h.port());
    g.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await g.closed;
    // a PUBLISH with both QoS bits set [MQTT-3.3.1-4]
    const m = await rawClient(h.port());
    m.send(connectPacket('malformed'));
    await m.next('connack');
    const bad = publishPacket('open/x', 'p', 1);
    bad[0] = (bad[0] as number) | 0x06;
    m.send(bad);
    await m.closed;
    // a second CONNECT on the same connection [MQTT-3.1.0-2]
    const twice = await rawClient(h.port());
    twice.send(connectPacket('twice'));
    await twice.next('connack');
    twice.send(connectPacket('twice'));
    await twice.closed;
    expect(h.records('open')).toHaveLength(0);
    await stillServes(h, 'after-garbage');
  });

  test('ingest › a bounded fuzz loop of random and mutated packets never takes the broker down', async () => {
    const h = await startHarness(limited());
    const valid = [
      connectPacket('fuzz'),
      publishPacket('open/fuzz', 'payload', 1, 7),
      publishPacket('open/fuzz', 'payload', 2, 8),
      encode({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'open/#', qos: 1 }] }),
      encode({ cmd: 'pingreq' }),
      encode({ cmd: 'pubrel', messageId: 8 }),
    ];
    const iterations = Number(process.env['FUZZ_ITERATIONS'] ?? 150);
    let seed = 0x5eed;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const one = async (i: number): Promise<void> => {
      const raw = await rawClient(h.port());
      const parts: Buffer[] = [];
      if (i % 3 !== 0) parts.push(connectPacket(`fz${i}`)); // mostly past CONNECT, to reach deeper handlers
      for (let k = 0; k < 1 + rnd(4); k++) {
        if (rnd(4) === 0) {
          parts.push(randomBytes(1 + rnd(64)));
        } else {
          const b = Buffer.from(valid[rnd(valid.length)] as Buffer);
          for (let f = 0; f < 1 + rnd(3); f++) b[rnd(b.length)] = rnd(256);
          parts.push(rnd(5) === 0 ? b.subarray(0, rnd(b.length)) : b);
        }
      }
      raw.send(Buffer.concat(parts));
      // each case ends by the broker closing it, or by us after a short bounded wait
      await Promise.race([raw.closed, new Promise((r) => setTimeout(r, 200))]);
      raw.socket.destroy();
    };
    for (let i = 0; i < iterations; i += 10) {
      await Promise.all(Array.from({ length: Math.min(10, iterations - i) }, (_, k) => one(i + k)));
    }
    await stillServes(h, 'after-fuzz');
    expect(h.ingest.status().refusals['protocol-error'] ?? 0).toBeGreaterThan(0);
  });
});
