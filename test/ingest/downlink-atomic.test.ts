/**
 * Downlink DeliverOptions.inTransaction: a caller's writes to its own store in the log's LMDB
 * environment commit in the same transaction as the persistent sessions' queued copies, or not at
 * all. Real clients (mqtt.js, raw mqtt-packet sockets) over 127.0.0.1.
 */
import mqtt from 'mqtt';
import type { IPublishPacket } from 'mqtt-packet';
import { describe, expect, test } from 'vitest';
import type { ConfigInput } from '../../src/config/index.ts';
import { baseConfig, startHarness, uniq } from './helpers.ts';
import { encode, rawClient } from './raw.ts';

type H = Awaited<ReturnType<typeof startHarness>>;

function sessionsConfig(): ConfigInput {
  const base = baseConfig();
  return { ...base, mqtt: { ...base.mqtt, sessions: { enabled: true } } } as ConfigInput;
}

const downlinkOf = (h: H) => {
  const d = h.ingest.downlink();
  if (d === null) throw new Error('downlink is off');
  return d;
};

/** A persistent session of `device` subscribed to its command topics, then disconnected. */
async function offlineSession(h: H, device: string): Promise<mqtt.IClientOptions> {
  await h.devices.add(device, { password: 'pw' });
  const opts = { clientId: uniq(device), clean: false, username: device, password: 'pw', reconnectPeriod: 0 };
  const c = await mqtt.connectAsync(h.url(), opts);
  await c.subscribeAsync(`devices/${device}/commands/#`, { qos: 1 });
  await c.endAsync();
  return opts;
}

function queuedFor(h: H, clientId: string): number {
  const outgoing = h.log.openStore<[string, number], unknown>('sessions.outgoing');
  return [...outgoing.getKeys()].filter((k) => k[0] === clientId).length;
}

describe('downlink › inTransaction', () => {
  test('downlink › writes made in inTransaction commit with the queued copy of an offline persistent session; the outcome says atomic', async () => {
    const h = await startHarness(sessionsConfig());
    const opts = await offlineSession(h, 'a1');
    const mine = h.log.openStore<string, unknown>('test.mine');
    const seen: Array<{ matched: number; queued: number }> = [];
    const out = await downlinkOf(h).deliver(
      { topic: 'devices/a1/commands/x', payload: Buffer.from('x'), qos: 1 },
      {
        inTransaction: (s) => {
          seen.push(s);
          mine.put('cmd-1', { handled: true });
        },
      },
    );
    expect(seen).toEqual([{ matched: 1, queued: 1 }]);
    expect(out).toMatchObject({ matched: 1, queued: 1, delivered: 0, atomic: true });
    expect(mine.get('cmd-1')).toEqual({ handled: true });
    expect(queuedFor(h, opts.clientId as string)).toBe(1);
  });

  test('downlink › a throw in inTransaction rolls the queued copy back and deliver rejects; the session is not charged for it', async () => {
    const h = await startHarness(sessionsConfig());
    const opts = await offlineSession(h, 'a2');
    const mine = h.log.openStore<string, unknown>('test.mine');
    await expect(
      downlinkOf(h).deliver(
        { topic: 'devices/a2/commands/x', payload: Buffer.from('x'), qos: 1 },
        {
          inTransaction: () => {
            mine.put('cmd-1', 1);
            throw new Error('refused by the caller');
          },
        },
      ),
    ).rejects.toThrow('refused by the caller');
    expect(mine.get('cmd-1')).toBeUndefined();
    expect(queuedFor(h, opts.clientId as string)).toBe(0);
    // The broker goes on: a second deliver queues, and the device gets only that one.
    const out = await downlinkOf(h).deliver({
      topic: 'devices/a2/commands/y',
      payload: Buffer.from('y'),
      qos: 1,
    });
    expect(out).toMatchObject({ queued: 1, atomic: false });
    const back = await mqtt.connectAsync(h.url(), opts);
    const got: string[] = [];
    back.on('message', (_t, p) => got.push(p.toString()));
    await expect.poll(() => queuedFor(h, opts.clientId as string)).toBe(0);
    expect(got).toEqual(['y']);
    back.end(true);
  });

  test('downlink › an online clean session has no durable copy: inTransaction is not called and the outcome is delivered, not atomic', async () => {
    const h = await startHarness(sessionsConfig());
    await h.devices.add('a3', { password: 'pw' });
    const c = await mqtt.connectAsync(h.url(), {
      clientId: uniq('a3'),
      clean: true,
      username: 'a3',
      password: 'pw',
    });
    await c.subscribeAsync('devices/a3/commands/#', { qos: 1 });
    let calls = 0;
    const out = await downlinkOf(h).deliver(
      { topic: 'devices/a3/commands/x', payload: Buffer.from('x'), qos: 1 },
      { inTransaction: () => calls++ },
    );
    expect(calls).toBe(0);
    expect(out).toMatchObject({ matched: 1, delivered: 1, queued: 0, atomic: false });
    c.end(true);
  });

  test('downlink › an online persistent session: the copy is stored (inTransaction with it) before it is sent, and then acknowledged', async () => {
    const h = await startHarness(sessionsConfig());
    const opts = await offlineSession(h, 'a4');
    const c = await mqtt.connectAsync(h.url(), opts);
    const got: string[] = [];
    c.on('message', (_t, p) => got.push(p.toString()));
    let calls = 0;
    const out = await downlinkOf(h).deliver(
      { topic: 'devices/a4/commands/x', payload: Buffer.from('x'), qos: 1 },
      { inTransaction: () => calls++ },
    );
    expect(calls).toBe(1);
    expect(out).toMatchObject({ matched: 1, queued: 1, atomic: true });
    await expect.poll(() => got).toEqual(['x']);
    await expect.poll(() => queuedFor(h, opts.clientId as string)).toBe(0);
    c.end(true);
  });

  test('downlink › a QoS 1 PUBLISH sent and not acknowledged is resent after reconnect with its packet id and DUP 1 [MQTT-4.4.0-1, MQTT-3.3.1-1]', async () => {
    const h = await startHarness(sessionsConfig());
    const opts = await offlineSession(h, 'a5');
    const connect = encode({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: false,
      clientId: opts.clientId as string,
      keepalive: 60,
      username: 'a5',
      password: Buffer.from('pw'),
    });
    const raw = await rawClient(h.port());
    raw.send(connect);
    await raw.next('connack');
    await downlinkOf(h).deliver({ topic: 'devices/a5/commands/x', payload: Buffer.from('x'), qos: 1 });
    const first = (await raw.next('publish')) as IPublishPacket;
    expect(first.dup).toBe(false);
    raw.socket.destroy(); // no PUBACK
    await raw.closed;
    const again = await rawClient(h.port());
    again.send(connect);
    await again.next('connack');
    const resent = (await again.next('publish')) as IPublishPacket;
    expect({ id: resent.messageId, dup: resent.dup, payload: String(resent.payload) }).toEqual({
      id: first.messageId,
      dup: true,
      payload: 'x',
    });
    again.send(encode({ cmd: 'puback', messageId: resent.messageId as number }));
    await expect.poll(() => queuedFor(h, opts.clientId as string)).toBe(0);
  });
});

describe('downlink › resume', () => {
  test('downlink › a persistent session resuming while commands keep coming gets every one once, in order (live copies wait for the stored queue)', async () => {
    const h = await startHarness(sessionsConfig());
    const opts = await offlineSession(h, 'r1');
    const d = downlinkOf(h);
    const send = (n: number) =>
      d.deliver({ topic: 'devices/r1/commands/x', payload: Buffer.from(String(n)), qos: 1 });
    for (let n = 0; n < 40; n++) await send(n);
    const got: Array<{ n: number; dup: boolean }> = [];
    const c = mqtt.connect(h.url(), opts);
    c.on('message', (_t, p, packet) => got.push({ n: Number(p.toString()), dup: packet.dup }));
    // Live commands from the moment the CONNECT is sent, while the queue drains.
    await new Promise<void>((r) => c.once('packetsend', () => r()));
    for (let n = 40; n < 100; n++) await send(n);
    await expect.poll(() => got.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(100);
    await expect.poll(() => queuedFor(h, opts.clientId as string)).toBe(0);
    expect(got.map((g) => g.n)).toEqual(Array.from({ length: 100 }, (_, n) => n));
    c.end(true);
  });
});
