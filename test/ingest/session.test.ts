import { describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { baseConfig, closed, connect, headerText, startHarness, uniq } from './helpers.ts';
import { connectPacket, encode, publishPacket, rawClient } from './raw.ts';

describe('ingest › wills, duplicates, revocation and reload', () => {
  test('ingest › a will is appended under its own route when the device vanishes, not after DISCONNECT; both are counted', async () => {
    const h = await startHarness(
      baseConfig({ mqtt: { listeners: [{ type: 'tcp', port: 0 }], allowAnonymous: false } }),
    );
    const id = uniq('w-');
    await h.devices.add(id, { password: 'will-password-1' });
    const will = {
      topic: `stb/${id}/events/offline`,
      payload: Buffer.from('gone'),
      qos: 1 as const,
      retain: true,
    };
    const polite = await connect(h.url(), { username: id, password: 'will-password-1', will });
    await polite.endAsync(); // DISCONNECT: the will is discarded [MQTT-3.14.4-3]
    const rude = await connect(h.url(), { username: id, password: 'will-password-1', will });
    rude.stream.destroy(); // no DISCONNECT: the will is published [MQTT-3.1.2-8]
    await expect.poll(() => h.records('events').length).toBe(1);
    const [r] = h.records('events');
    expect(r?.value.toString()).toBe('gone');
    expect(r?.key?.toString()).toBe(`${id}-offline`);
    expect(r && headerText(r, 'device.id')).toBe(id);
    expect(r && headerText(r, 'mqtt.retain')).toBe('true');
    // Counted beside MQTT 5 wills.
    const wills = (await h.metrics.getSingleMetric('outpost_mqtt_wills_total')?.get())?.values ?? [];
    const outcome = (o: string) => wills.find((v) => v.labels['outcome'] === o)?.value ?? 0;
    expect([outcome('published'), outcome('discarded'), outcome('cancelled')]).toEqual([1, 1, 0]);
  });

  test('ingest › a retransmitted QoS 2 PUBLISH awaiting PUBREL is acknowledged again but appended once', async () => {
    const h = await startHarness();
    const raw = await rawClient(h.port());
    raw.send(connectPacket('qos2'));
    await raw.next('connack');
    raw.send(publishPacket('open/q2', 'once', 2, 9));
    await raw.next('pubrec');
    const dup = encode({
      cmd: 'publish',
      topic: 'open/q2',
      payload: 'once',
      qos: 2,
      dup: true,
      retain: false,
      messageId: 9,
    });
    raw.send(dup);
    await expect.poll(() => raw.packets.filter((p) => p.cmd === 'pubrec').length).toBe(2);
    raw.send(encode({ cmd: 'pubrel', messageId: 9 }));
    await raw.next('pubcomp');
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['once']);
  });

  test('ingest › disabling a device (e.g. from the CLI) closes its open connections and discards its will', async () => {
    const h = await startHarness(
      baseConfig({ mqtt: { listeners: [{ type: 'tcp', port: 0 }], allowAnonymous: false } }),
    );
    const id = uniq('r-');
    await h.devices.add(id, { password: 'revoke-password' });
    const c = await connect(h.url(), {
      username: id,
      password: 'revoke-password',
      will: { topic: 'open/revoked-will', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    await c.publishAsync('open/revoked-before', 'before', { qos: 1 });
    expect(h.ingest.status().connectedDevices).toBe(1);
    await h.devices.setEnabled(id, false);
    await closed(c);
    await expect.poll(() => h.ingest.status().connectedDevices).toBe(0);
    expect(h.ingest.status().refusals['device-revoked']).toBe(1);
    // The will is not published: a publish after the close is appended, the will is not.
    const otherId = uniq('other-');
    await h.devices.add(otherId, { password: 'other-password' });
    const other = await connect(h.url(), {
      clientId: otherId,
      username: otherId,
      password: 'other-password',
    });
    await other.publishAsync('open/after', 'after', { qos: 1 });
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['before', 'after']);
  });

  test('ingest › reload applies new routes to the next publish without reconnecting', async () => {
    const input = baseConfig({ unrouted: 'unrouted' });
    const h = await startHarness(input);
    const c = await connect(h.url(), { clientId: 'reload' });
    await c.publishAsync('later/x', 'before', { qos: 1 });
    expect(h.records('unrouted').map((r) => r.value.toString())).toEqual(['before']);
    h.ingest.reload(
      parseConfig({
        ...input,
        dataDir: h.dir,
        routes: [...(input.routes ?? []), { match: 'later/#', topic: 'open', deviceAcl: false }],
      }),
    );
    await c.publishAsync('later/x', 'after', { qos: 1 });
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['after']);
  });
});
