import { describe, expect, it } from 'vitest';
import {
  createGenerator,
  fleetIds,
  stbPayloadSchema,
  TOPIC_PATTERNS,
  vehiclePayloadSchema,
} from '../../src/sim/payloads/index.ts';

const T0 = Date.UTC(2026, 0, 1);

function run(kind: 'stb' | 'vehicle', id: string, seed: number, n: number) {
  const gen = createGenerator(kind, id, { seed, run: 'r1' });
  return Array.from({ length: n }, (_, i) => gen.next(T0 + i * 1000));
}

describe('sim payloads', () => {
  it('set-top box messages follow their zod schema and topic layout', () => {
    const types = new Set<string>();
    for (const id of fleetIds('stb', 5)) {
      let expectedSeq = 1;
      for (const m of run('stb', id, 7, 400)) {
        const p = stbPayloadSchema.parse(m.payload);
        types.add(p.type);
        expect(p.deviceId).toBe(id);
        expect(p.seq).toBe(expectedSeq++);
        const pattern = p.type === 'heartbeat' ? TOPIC_PATTERNS.stbHeartbeat : TOPIC_PATTERNS.stbEvent;
        const match = pattern.exec(m.topic);
        expect(match?.[1]).toBe(id);
        if (p.type !== 'heartbeat') expect(match?.[2]).toBe(p.type);
      }
    }
    expect([...types].sort()).toEqual(['app', 'channel', 'heartbeat', 'playback-error', 'power']);
  });

  it('vehicle messages follow their zod schema, topic layout and move plausibly', () => {
    const types = new Set<string>();
    for (const id of fleetIds('vehicle', 5)) {
      let last: { lat: number; lon: number; tripId: number } | null = null;
      let expectedSeq = 1;
      for (const m of run('vehicle', id, 11, 2000)) {
        const p = vehiclePayloadSchema.parse(m.payload);
        types.add(p.type);
        expect(p.seq).toBe(expectedSeq++);
        const pattern = p.type === 'dtc' ? TOPIC_PATTERNS.vehicleDtc : TOPIC_PATTERNS.vehicleTelemetry;
        const match = pattern.exec(m.topic);
        expect(match?.[1]).toBe(id);
        if (p.type !== 'dtc') expect(match?.[2]).toBe(p.type);
        if (p.type === 'gps') {
          if (last !== null && last.tripId === p.tripId) {
            // two fixes of one trip, at most a few steps apart: well under 1 km at ≤ 200 km/h
            const dLat = (p.lat - last.lat) * 111_320;
            const dLon = (p.lon - last.lon) * 111_320 * Math.cos((p.lat * Math.PI) / 180);
            expect(Math.hypot(dLat, dLon)).toBeLessThan(2_000);
          }
          last = { lat: p.lat, lon: p.lon, tripId: p.tripId };
        }
      }
    }
    expect([...types].sort()).toEqual(['dtc', 'energy', 'engine', 'gps', 'ignition']);
  });

  it('seeded runs are reproducible: same seed gives the same topics and payloads', () => {
    for (const kind of ['stb', 'vehicle'] as const) {
      const a = run(kind, 'dev-a', 42, 300);
      const b = run(kind, 'dev-a', 42, 300);
      expect(JSON.stringify(b)).toBe(JSON.stringify(a));
      const c = run(kind, 'dev-a', 43, 300);
      expect(JSON.stringify(c)).not.toBe(JSON.stringify(a));
      const d = run(kind, 'dev-b', 42, 300);
      expect(JSON.stringify(d.map((m) => m.payload.type))).not.toBe(
        JSON.stringify(a.map((m) => m.payload.type)),
      );
    }
  });

  it('clock skew shifts the device timestamp and nothing else', () => {
    const plain = createGenerator('stb', 'x', { seed: 1, run: 'r' }).next(T0);
    const skewed = createGenerator('stb', 'x', { seed: 1, run: 'r', clockSkewMs: -1500 }).next(T0);
    expect(skewed.payload.ts).toBe(T0 - 1500);
    expect({ ...skewed.payload, ts: 0 }).toEqual({ ...plain.payload, ts: 0 });
  });

  it('fleet ids are unique and zero-padded', () => {
    const ids = fleetIds('stb', 12000, 'lab-');
    expect(new Set(ids).size).toBe(12000);
    expect(ids[0]).toBe('lab-stb-00001');
  });
});
