/** MQTT 3.1.1 behaviour standard clients rely on, with real clients (mqtt.js). */
import { describe, expect, test } from 'vitest';
import { baseConfig, connect, startHarness, uniq } from './helpers.ts';

describe('ingest › MQTT 3.1.1 conformance', () => {
  test('ingest › keepalive 0 ("no keepalive") is accepted and its publishes are acknowledged [MQTT-3.1.2-10]', async () => {
    const h = await startHarness(baseConfig());
    const c = await connect(h.url(), { clientId: uniq('ka0'), keepalive: 0 });
    const tag = uniq('ka0-');
    await c.publishAsync('open/ka0', tag, { qos: 1 });
    expect(h.records('open').map((r) => r.value.toString())).toContain(tag);
    expect(h.ingest.status().refusals).toEqual({});
  });

  test('ingest › an empty client id with CleanSession 1 gets a server-assigned id and is accepted [MQTT-3.1.3-6]', async () => {
    const h = await startHarness(baseConfig());
    const c = await connect(h.url(), { clientId: '', clean: true });
    const tag = uniq('empty-');
    await c.publishAsync('open/empty', tag, { qos: 1 });
    const rec = h.records('open').find((r) => r.value.toString() === tag);
    expect(rec?.headers['client.id']?.toString()).toMatch(/^aedes_/);
  });
});
