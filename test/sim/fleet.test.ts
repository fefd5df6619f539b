import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type AuditRecord, audit } from '../../src/sim/audit.ts';
import { parseQosMix, runFleet, speaksMqtt5 } from '../../src/sim/fleet.ts';
import { envelopeSchema } from '../../src/sim/payloads/index.ts';

/** A real MQTT broker (aedes on a real socket) that records every PUBLISH it accepts, in order. */
async function recordingBroker(opts: { cutEvery?: number; password?: string } = {}) {
  const stored: AuditRecord[] = [];
  const cut = new Set<string>();
  const broker = await Aedes.createBroker({
    authenticate: (_client, username, password, done) => {
      if (opts.password === undefined) return done(null, true);
      done(
        null,
        username !== undefined && password?.toString() === opts.password.replace('{deviceId}', username),
      );
    },
    authorizePublish: (client, packet, done) => {
      const p = envelopeSchema.parse(JSON.parse(packet.payload.toString()));
      const offset = stored.length;
      stored.push({
        deviceId: p.deviceId,
        seq: p.seq,
        run: p.run,
        topic: packet.topic,
        partition: 0,
        offset,
      });
      done(null);
      // the first time a device's seq is a multiple of cutEvery: store it, then cut the connection
      // before the PUBACK goes out (the device must re-send it: an expected duplicate)
      const key = `${p.deviceId}/${p.seq}`;
      if (opts.cutEvery && p.seq % opts.cutEvery === 0 && !cut.has(key)) {
        cut.add(key);
        client?.conn.destroy();
      }
    },
  });
  const server: Server = createServer(broker.handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onTestFinished(async () => {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  return { port: addr.port, stored };
}

describe('sim fleet', () => {
  it('delivers every acknowledged message of a seeded fleet to a real broker', async () => {
    const b = await recordingBroker({ password: 'pw-{deviceId}' });
    const { summary, acked } = await runFleet({
      host: '127.0.0.1',
      port: b.port,
      stb: 6,
      vehicles: 4,
      rateStb: 40,
      rateVehicle: 40,
      qosMix: parseQosMix('0:1,1:8,2:1'),
      seed: 5,
      messages: 600,
      password: 'pw-{deviceId}',
      drainTimeoutMs: 10_000,
    });
    expect(summary.generated).toBe(600);
    expect(summary.drained).toBe(true);
    expect(summary.acked + summary.qos0).toBe(600);
    expect(summary.refusals).toBe(0);
    const report = audit(b.stored, { acked });
    expect(report.verdict).toBe('pass');
    expect(report.records).toBe(600);
    expect(report.ackedChecked).toBe(summary.acked);
  });

  it('re-sends unacknowledged messages in order after drops; the audit counts them as expected duplicates', async () => {
    const b = await recordingBroker({ cutEvery: 37 });
    const { summary, acked } = await runFleet({
      host: '127.0.0.1',
      port: b.port,
      stb: 3,
      vehicles: 2,
      rateStb: 50,
      rateVehicle: 50,
      qosMix: parseQosMix('1:1'),
      seed: 9,
      messages: 500,
      drainTimeoutMs: 20_000,
    });
    expect(summary.drained).toBe(true);
    expect(summary.acked).toBe(500);
    expect(summary.retried).toBeGreaterThan(0);
    const report = audit(b.stored, { acked });
    expect(report.verdict).toBe('pass');
    expect(report.duplicates.expected).toBeGreaterThan(0);
    expect(report.duplicates.unexpected).toBe(0);
    expect(report.reordered).toBe(0);
    // and without the simulator's record, the same duplicates are unexplained
    expect(audit(b.stored).duplicates.unexpected).toBe(report.duplicates.expected);
  });

  it('counts refused logins and acknowledges nothing when the password is wrong', async () => {
    const b = await recordingBroker({ password: 'right' });
    const refusals: string[] = [];
    const { summary } = await runFleet({
      host: '127.0.0.1',
      port: b.port,
      stb: 2,
      vehicles: 0,
      rateStb: 10,
      rateVehicle: 0,
      qosMix: parseQosMix('1:1'),
      seed: 1,
      durationMs: 600,
      password: 'wrong',
      drainTimeoutMs: 200,
      onRefused: (id) => refusals.push(id),
    });
    expect(summary.acked).toBe(0);
    expect(summary.refusals).toBeGreaterThan(0);
    expect(refusals[0]).toMatch(/^stb-000[12]$/);
    expect(b.stored).toHaveLength(0);
  });

  it('parses a QoS mix and refuses a malformed one', () => {
    expect(parseQosMix('0:0.1,1:0.8,2:0.1')).toEqual([
      { qos: 0, weight: 0.1 },
      { qos: 1, weight: 0.8 },
      { qos: 2, weight: 0.1 },
    ]);
    expect(() => parseQosMix('3:1')).toThrow(/bad QoS mix/);
  });

  it('spreads the MQTT 5 share evenly over the fleet', () => {
    const pick = (n: number, share: number) => Array.from({ length: n }, (_, i) => speaksMqtt5(i, share));
    expect(pick(4, 0.5)).toEqual([false, true, false, true]);
    expect(pick(3, 0).some(Boolean)).toBe(false);
    expect(pick(3, 1).every(Boolean)).toBe(true);
    expect(pick(10, 0.3).filter(Boolean)).toHaveLength(3);
  });
});
