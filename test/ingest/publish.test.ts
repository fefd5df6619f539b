import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test } from 'vitest';
import { partitionFor } from '../../src/log/index.ts';
import { makePki } from './certs.ts';
import { baseConfig, connect, headerText, startHarness, uniq } from './helpers.ts';

function pkiDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-pki-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('ingest › publish', () => {
  for (const type of ['tcp', 'tls', 'ws'] as const) {
    test(`ingest › QoS 0, 1 and 2 over ${type} land in the log with key, partition and headers`, async () => {
      const pki = makePki(pkiDir());
      const listener =
        type === 'tcp'
          ? { type, host: '127.0.0.1', port: 0 }
          : type === 'tls'
            ? { type, host: '127.0.0.1', port: 0, cert: pki.serverCert, key: pki.serverKey }
            : { type, host: '127.0.0.1', port: 0, path: '/mqtt' };
      const h = await startHarness(baseConfig({ mqtt: { listeners: [listener], allowAnonymous: false } }));
      const id = uniq('veh-');
      await h.devices.add(id, { password: 'correct horse battery' });
      const client = await connect(h.url(type), {
        clientId: `c-${id}`,
        username: id,
        password: 'correct horse battery',
        ...(type === 'tls' ? { ca: readFileSync(pki.ca) } : {}),
      });
      for (const qos of [0, 1, 2] as const) {
        await client.publishAsync(`vehicles/${id}/telemetry/gps`, `fix-${qos}`, { qos, retain: qos === 2 });
      }
      // QoS 0 has no acknowledgement: wait until the record shows up.
      await expect.poll(() => h.records('telemetry').length).toBe(3);
      const recs = h.records('telemetry').sort((a, b) => a.offset - b.offset);
      const expectedPartition = partitionFor(Buffer.from(id), 4);
      for (const [i, r] of recs.entries()) {
        expect(r.key?.toString()).toBe(id);
        expect(r.partition).toBe(expectedPartition);
        expect(r.value.toString()).toBe(`fix-${i}`);
        expect(headerText(r, 'mqtt.topic')).toBe(`vehicles/${id}/telemetry/gps`);
        expect(headerText(r, 'mqtt.qos')).toBe(String(i));
        expect(headerText(r, 'mqtt.retain')).toBe(i === 2 ? 'true' : 'false');
        expect(headerText(r, 'client.id')).toBe(`c-${id}`);
        expect(headerText(r, 'device.id')).toBe(id);
      }
      expect(h.ingest.status().topics['telemetry']?.messages).toBe(3);
    });
  }

  test('ingest › every record carries its own qos and retain headers when one connection mixes them on one topic', async () => {
    // Header sets are precomputed per connection and topic; each (qos, retain) must get its own.
    const h = await startHarness(
      baseConfig({
        mqtt: { listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }], allowAnonymous: false },
      }),
    );
    const id = uniq('veh-');
    await h.devices.add(id, { password: 'correct horse battery' });
    const client = await connect(h.url('tcp'), {
      clientId: `c-${id}`,
      username: id,
      password: 'correct horse battery',
    });
    const sent: Array<{ qos: 1 | 2; retain: boolean }> = [];
    for (let i = 0; i < 12; i++) {
      const shape = { qos: (i % 3 === 2 ? 2 : 1) as 1 | 2, retain: i % 2 === 1 };
      sent.push(shape);
      await client.publishAsync(`vehicles/${id}/telemetry/mixed`, `m-${i}`, shape);
    }
    const recs = h.records('telemetry').sort((a, b) => a.offset - b.offset);
    expect(recs.map((r) => r.value.toString())).toEqual(sent.map((_, i) => `m-${i}`));
    expect(recs.map((r) => [headerText(r, 'mqtt.qos'), headerText(r, 'mqtt.retain')])).toEqual(
      sent.map((s) => [String(s.qos), String(s.retain)]),
    );
    expect(
      recs.every((r) => headerText(r, 'device.id') === id && headerText(r, 'client.id') === `c-${id}`),
    ).toBe(true);
  });

  test('ingest › a TLS client certificate whose CN is the device id logs the device in', async () => {
    const pki = makePki(pkiDir());
    const h = await startHarness(
      baseConfig({
        mqtt: {
          listeners: [
            {
              type: 'tls',
              host: '127.0.0.1',
              port: 0,
              cert: pki.serverCert,
              key: pki.serverKey,
              ca: pki.ca,
              requestCert: true,
            },
          ],
          allowAnonymous: false,
        },
      }),
    );
    const id = uniq('stb-');
    await h.devices.add(id, { certCn: id });
    const { cert, key } = pki.client(id);
    const client = await connect(h.url('tls'), { clientId: `c-${id}`, ca: readFileSync(pki.ca), cert, key });
    await client.publishAsync(`stb/${id}/events/boot`, 'up', { qos: 1 });
    const recs = h.records('events');
    expect(recs).toHaveLength(1);
    expect(recs[0]?.key?.toString()).toBe(`${id}-boot`);
    expect(headerText(recs[0]!, 'device.id')).toBe(id);
  });

  test('ingest › a failed TLS handshake is counted as a tls-handshake refusal and the listener keeps serving', async () => {
    const pki = makePki(pkiDir());
    const h = await startHarness(
      baseConfig({
        mqtt: {
          listeners: [{ type: 'tls', host: '127.0.0.1', port: 0, cert: pki.serverCert, key: pki.serverKey }],
          allowAnonymous: 'loopback',
        },
      }),
    );
    // Plain bytes on the TLS port: no ClientHello, so the handshake fails before aedes sees a connection.
    const socket = createConnection({ host: '127.0.0.1', port: h.port('tls') });
    onTestFinished(() => {
      socket.destroy();
    });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write('this is not a TLS ClientHello\r\n\r\n');
    await expect.poll(() => h.ingest.status().refusals['tls-handshake']).toBe(1);
    const counter = await h.metrics.getSingleMetric('outpost_ingest_refusals_total')?.get();
    expect(counter?.values.find((v) => v.labels['reason'] === 'tls-handshake')?.value).toBe(1);
    const client = await connect(h.url('tls'), { clientId: uniq('tls-'), ca: readFileSync(pki.ca) });
    await client.publishAsync('open/after-handshake-error', 'still-serving', { qos: 1 });
    expect(h.records('open').map((r) => r.value.toString())).toEqual(['still-serving']);
  });
});
