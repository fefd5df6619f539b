import { describe, expect, test } from 'vitest';
import type { LogRecord } from '../../src/log/index.ts';
import { baseConfig, connect, slowLog, startHarness, uniq } from './helpers.ts';
import { connectPacket, publishPacket, rawClient } from './raw.ts';

function seqsByKey(records: LogRecord[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const r of [...records].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
    const k = r.key?.toString() ?? '';
    out.set(k, [...(out.get(k) ?? []), Number(r.value.toString())]);
  }
  return out;
}

describe('ingest › ordering, backpressure and lifecycle', () => {
  test('ingest › each device keeps its order under concurrent load while commits complete out of order', async () => {
    const h = await startHarness(
      baseConfig({
        mqtt: {
          listeners: [{ type: 'tcp', port: 0 }],
          allowAnonymous: 'loopback',
          limits: { publishRate: { perSecond: 100_000, burst: 100_000 } },
        },
      }),
      { wrapLog: (log) => slowLog(log, () => Math.floor(Math.random() * 25)) },
    );
    const devices = 12;
    const perDevice = Number(process.env['ORDER_MESSAGES'] ?? 300);
    const results = await Promise.all(
      Array.from({ length: devices }, async (_, d) => {
        const id = `ord${d}-${uniq('')}`;
        const c = await connect(h.url(), { clientId: id });
        const acked: number[] = [];
        await Promise.all(
          Array.from({ length: perDevice }, (_, i) =>
            // mix QoS 1 and 2; every publish is acknowledged
            c
              .publishAsync(`vehicles/${id}/telemetry/seq`, String(i), { qos: i % 5 === 0 ? 2 : 1 })
              .then(() => {
                acked.push(i);
              }),
          ),
        );
        return { id, acked };
      }),
    );
    const byKey = seqsByKey(h.records('telemetry'));
    for (const { id, acked } of results) {
      const expected = Array.from({ length: perDevice }, (_, i) => i);
      expect(byKey.get(id)).toEqual(expected); // log order = publish order, no loss, no duplicates
      expect(acked.filter((i) => i % 5 !== 0)).toEqual(expected.filter((i) => i % 5 !== 0)); // PUBACKs in order
    }
  });

  test('ingest › publishes read in one socket chunk share one append call and are acknowledged in order', async () => {
    const appends: number[] = [];
    const h = await startHarness(baseConfig(), {
      wrapLog: (log) =>
        new Proxy(log, {
          get(target, prop, receiver) {
            if (prop === 'append') {
              return (records: Parameters<typeof log.append>[0]) => {
                appends.push(records.length);
                return target.append(records);
              };
            }
            const v = Reflect.get(target, prop, receiver);
            return typeof v === 'function' ? v.bind(target) : v;
          },
        }),
    });
    const raw = await rawClient(h.port());
    const id = uniq('chunk-');
    raw.send(connectPacket(id));
    expect((await raw.next('connack'))?.cmd).toBe('connack');
    // One TCP write with 10 QoS 1 PUBLISHes: aedes dispatches them in one turn, the pipeline
    // appends them with a single log.append (one group commit).
    raw.send(
      Buffer.concat(
        Array.from({ length: 10 }, (_, i) =>
          publishPacket(`vehicles/${id}/telemetry/x`, String(i), 1, i + 1),
        ),
      ),
    );
    await expect.poll(() => raw.packets.filter((p) => p.cmd === 'puback').length).toBe(10);
    expect(appends).toEqual([10]);
    expect(
      raw.packets.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId?: number }).messageId),
    ).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(seqsByKey(h.records('telemetry')).get(id)).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  test('ingest › over the device rate, reads pause and every message still lands in order', async () => {
    const h = await startHarness(
      baseConfig({
        mqtt: {
          listeners: [{ type: 'tcp', port: 0 }],
          allowAnonymous: 'loopback',
          limits: { publishRate: { perSecond: 100, burst: 5 } },
        },
      }),
    );
    const c = await connect(h.url(), { clientId: 'rated' });
    const n = 40;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        c.publishAsync('vehicles/rated/telemetry/x', String(i), { qos: 1 }),
      ),
    );
    expect(seqsByKey(h.records('telemetry')).get('rated')).toEqual(Array.from({ length: n }, (_, i) => i));
    const held = await h.metrics.getSingleMetricAsString('outpost_ingest_backpressure_total');
    expect(Number(held.trim().split(' ').at(-1))).toBeGreaterThan(0);
  });

  test('ingest › a connection taken over by the same client id never appends after its successor', async () => {
    const h = await startHarness(
      baseConfig({
        mqtt: {
          listeners: [{ type: 'tcp', port: 0 }],
          allowAnonymous: 'loopback',
          limits: { publishRate: { perSecond: 20, burst: 1 } },
        },
      }),
    );
    const first = await connect(h.url(), { clientId: 'same-id' });
    for (let i = 0; i < 10; i++) first.publish('vehicles/same-id/telemetry/x', `a${i}`, { qos: 1 });
    await expect.poll(() => h.records('telemetry').length).toBeGreaterThan(0);
    const second = await connect(h.url(), { clientId: 'same-id' }); // [MQTT-3.1.4-2]: the first is closed
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        second.publishAsync('vehicles/same-id/telemetry/x', `b${i}`, { qos: 1 }),
      ),
    );
    const values = h.records('telemetry').map((r) => r.value.toString());
    const lastA = values.findLastIndex((v) => v.startsWith('a'));
    const firstB = values.findIndex((v) => v.startsWith('b'));
    expect(firstB).toBeGreaterThan(lastA);
    expect(values.slice(firstB)).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
  });

  test('ingest › keepalive does not expire while a slow commit holds the client', async () => {
    let delay = 0;
    const h = await startHarness(baseConfig(), { wrapLog: (log) => slowLog(log, () => delay) });
    const raw = await rawClient(h.port());
    raw.send(connectPacket('ka-client', 1)); // aedes would drop a silent client after 1.5 s
    await raw.next('connack');
    delay = 3500;
    raw.send(publishPacket('open/slow', 'x', 1, 42));
    const ack = await raw.next('puback');
    expect(ack).toMatchObject({ cmd: 'puback', messageId: 42 });
    expect(raw.isClosed()).toBe(false);
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['x']);
  });

  test('ingest › stop lets in-flight appends finish and acknowledges them before closing clients', async () => {
    let appends = 0;
    const h = await startHarness(baseConfig(), {
      wrapLog: (log) =>
        slowLog(
          log,
          () => 300,
          () => appends++,
        ),
    });
    const c = await connect(h.url(), { clientId: 'stopper' });
    let acked = 0;
    for (let i = 0; i < 20; i++) {
      c.publish('open/stop', String(i), { qos: 1 }, (err) => {
        if (!err) acked++;
      });
    }
    await expect.poll(() => appends).toBeGreaterThan(0);
    await h.ingest.stop({ timeoutMs: 5000 });
    const stored = h.records('open').length;
    expect(stored).toBeGreaterThan(0);
    await expect.poll(() => acked).toBe(stored);
    expect(h.ingest.ready()).toBe(false);
  });
});
