import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { baseConfig, closed, connackCode, connect, startHarness } from './helpers.ts';

describe('ingest › log full', () => {
  test('ingest › a full log refuses publishes and new connections, then recovers once space is freed', async () => {
    const topics = {
      telemetry: { partitions: 1, retentionBytes: 64 * 1024 ** 2 },
      events: { partitions: 1 },
      unrouted: { partitions: 1 },
      open: { partitions: 1, retentionBytes: 64 * 1024 ** 2 },
    };
    const h = await startHarness(baseConfig({ log: { topics, maxBytes: 3 * 1024 ** 2, onFull: 'reject' } }));
    // Random bytes: the default zstd cannot shrink them, so the fill reaches the budget.
    const payload = randomBytes(16 * 1024);

    // Fill: publish QoS 1 one at a time until the broker closes the connection instead of acking.
    const c = await connect(h.url(), { clientId: 'filler' });
    const gone = closed(c);
    let acked = 0;
    let refused = false;
    for (let i = 0; i < 1000 && !refused; i++) {
      const ok = await Promise.race([
        c.publishAsync('open/fill', payload, { qos: 1 }).then(
          () => true,
          () => false,
        ),
        gone.then(() => false),
      ]);
      if (ok) acked++;
      else refused = true;
    }
    expect(refused).toBe(true);
    expect(h.records('open')).toHaveLength(acked); // every PUBACK is a stored record, nothing more
    expect(h.ingest.status().refusals['log-full']).toBeGreaterThan(0);

    // New connections: CONNACK 3 "server unavailable" [MQTT-3.2.2-…, return code 3].
    expect(await connackCode(h.url(), { clientId: 'late' })).toBe(3);
    expect(h.ingest.status().logFull).toBe(true);

    // Free space: retention down to ~256 KiB per partition.
    await h.log.reconfigure(
      Object.fromEntries(
        Object.entries(topics).map(([t, v]) => [
          t,
          { partitions: v.partitions, retentionMs: 86_400_000, retentionBytes: 256 * 1024 },
        ]),
      ),
    );
    await h.log.runRetention();
    await expect
      .poll(() => connackCode(h.url(), { clientId: 'again' }), { timeout: 5000, interval: 300 })
      .toBe(0);
    const after = await connect(h.url(), { clientId: 'after' });
    await after.publishAsync('open/fill', 'recovered', { qos: 1 });
    expect(h.records('open').at(-1)?.value.toString()).toBe('recovered');
  });
});
