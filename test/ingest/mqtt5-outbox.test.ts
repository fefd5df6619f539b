/**
 * The MQTT 5 Outbox's Message Expiry and Maximum Packet Size rules, on a fake store and clock
 * (logic only: test/ingest/mqtt5-delivery-limits.test.ts has the same over real sockets).
 */
import mqttPacket, { type Packet } from 'mqtt-packet';
import { describe, expect, test } from 'vitest';
import { type HeldStore, Outbox, type OutboxDrop, type OutMessage } from '../../src/ingest/mqtt5/outbox.ts';

interface Rig {
  outbox: Outbox;
  written: Packet[];
  drops: Array<[OutboxDrop, string]>;
  discarded: number[];
  clock: { now: number };
}

function rig(opts: { max?: number; held?: OutMessage[]; receiveMaximum?: number } = {}): Rig {
  const written: Packet[] = [];
  const drops: Array<[OutboxDrop, string]> = [];
  const discarded: number[] = [];
  const clock = { now: 1_000_000 };
  const stored = opts.held === undefined ? null : [...opts.held];
  const held: HeldStore | null =
    stored === null
      ? null
      : {
          next: (skip, limit) => stored.filter((m) => !skip.has(m.counter as number)).slice(0, limit),
          assigned: async () => {},
          released: async () => {},
          cleared: async (id) => {
            const i = stored.findIndex((m) => m.messageId === id);
            if (i >= 0) stored.splice(i, 1);
          },
          discard: async (counter) => {
            discarded.push(counter);
            const i = stored.findIndex((m) => m.counter === counter);
            if (i >= 0) stored.splice(i, 1);
          },
        };
  const outbox = new Outbox({
    write: (p) => written.push(p),
    receiveMaximum: opts.receiveMaximum ?? 10,
    maximumPacketSize: opts.max,
    maxWaiting: 10,
    held,
    reserved: [],
    dropped: (reason, topic) => drops.push([reason, topic]),
    failed: (err) => {
      throw err;
    },
    now: () => clock.now,
  });
  return { outbox, written, drops, discarded, clock };
}

const msg = (topic: string, extra: Partial<OutMessage> = {}): OutMessage => ({
  topic,
  payload: Buffer.from('x'),
  qos: 1,
  retain: false,
  ...extra,
});

const publishes = (r: Rig) =>
  r.written.filter((p) => p.cmd === 'publish') as Array<Packet & { topic: string }>;

describe('ingest › MQTT 5 outbox limits', () => {
  test('Message Expiry: sent with what is left, rounded up; an expired copy is not sent, counted, settled dropped [MQTT-3.3.2-5, MQTT-3.3.2-6]', async () => {
    const r = rig();
    const outcomes: string[] = [];
    r.outbox.offer(msg('a', { expiresAt: r.clock.now + 2_500 }));
    r.outbox.offer(msg('b', { expiresAt: r.clock.now, settle: (o) => outcomes.push(o) }));
    r.outbox.offer(msg('c', { qos: 0, expiresAt: r.clock.now - 1 }));
    await r.outbox.settled();
    expect(publishes(r).map((p) => p.topic)).toEqual(['a']);
    expect((publishes(r)[0] as { properties?: Record<string, unknown> }).properties).toEqual({
      messageExpiryInterval: 3,
    });
    expect(r.drops).toEqual([
      ['expired', 'b'],
      ['expired', 'c'],
    ]);
    expect(outcomes).toEqual(['dropped']);
  });

  test('Message Expiry: a copy waiting on Receive Maximum expires while it waits [MQTT-3.3.2-5]', async () => {
    const r = rig({ receiveMaximum: 1 });
    r.outbox.offer(msg('first'));
    r.outbox.offer(msg('waits', { expiresAt: r.clock.now + 1_000 }));
    await r.outbox.settled();
    const first = publishes(r)[0] as { messageId: number };
    r.clock.now += 1_000;
    r.outbox.acked('puback', first.messageId, 0);
    await r.outbox.settled();
    expect(publishes(r).map((p) => p.topic)).toEqual(['first']);
    expect(r.drops).toEqual([['expired', 'waits']]);
  });

  test('Message Expiry: a stored copy past it is removed from the store, the next one goes; a resend goes anyway (onward delivery started)', async () => {
    const now = 1_000_000;
    const r = rig({
      held: [
        msg('old', { counter: 1, expiresAt: now - 1 }),
        msg('resent', { counter: 2, expiresAt: now - 1, messageId: 7 }),
        msg('fresh', { counter: 3, expiresAt: now + 60_000 }),
      ],
    });
    r.outbox.pump();
    await r.outbox.settled();
    await r.outbox.settled();
    expect(publishes(r).map((p) => p.topic)).toEqual(['resent', 'fresh']);
    expect(publishes(r)[0]).toMatchObject({
      dup: true,
      messageId: 7,
      properties: { messageExpiryInterval: 1 },
    });
    expect(r.discarded).toEqual([1]);
    expect(r.drops).toEqual([['expired', 'old']]);
  });

  test('Maximum Packet Size: a PUBLISH over it is not sent and the exchange counts as done; one at the limit is sent [MQTT-3.1.2-24, MQTT-3.1.2-25]', async () => {
    const fits = msg('t', { payload: Buffer.alloc(40) });
    const size = mqttPacket.generate(
      { cmd: 'publish', topic: 't', payload: fits.payload, qos: 1, messageId: 1, retain: false, dup: false },
      { protocolVersion: 5 },
    ).length;
    const r = rig({ max: size, receiveMaximum: 1 });
    const outcomes: string[] = [];
    r.outbox.offer(msg('t', { payload: Buffer.alloc(41), settle: (o) => outcomes.push(o) }));
    r.outbox.offer(fits);
    await r.outbox.settled();
    expect(publishes(r).map((p) => (p as { payload: Buffer }).payload.length)).toEqual([40]);
    expect(r.outbox.inFlight).toBe(1); // the dropped one never took the only slot
    expect(r.drops).toEqual([['too-large', 't']]);
    expect(outcomes).toEqual(['dropped']);
  });

  test('Maximum Packet Size: a stored copy over it (a resend too) is removed from the store', async () => {
    const r = rig({
      max: 64,
      held: [
        msg('big', { counter: 1, payload: Buffer.alloc(100), messageId: 3 }),
        msg('small', { counter: 2 }),
      ],
    });
    r.outbox.pump();
    await r.outbox.settled();
    expect(publishes(r).map((p) => p.topic)).toEqual(['small']);
    expect(r.discarded).toEqual([1]);
    expect(r.drops).toEqual([['too-large', 'big']]);
  });
});
