import { describe, expect, it } from 'vitest';
import {
  checkpointsTopic,
  isInternalTopic,
  offsetSyncsTopic,
  remoteHeartbeatsTopic,
  remoteTopic,
  topicSelected,
} from '../../src/mirror/naming.ts';

describe('mirror naming', () => {
  it('names remote and internal topics like DefaultReplicationPolicy', () => {
    expect(remoteTopic('gw-0042', 'vehicle-telemetry')).toBe('gw-0042.vehicle-telemetry');
    expect(remoteHeartbeatsTopic('gw-0042')).toBe('gw-0042.heartbeats');
    expect(checkpointsTopic('dc-east')).toBe('dc-east.checkpoints.internal');
    expect(offsetSyncsTopic('gw-0042')).toBe('mm2-offset-syncs.gw-0042.internal');
  });

  it('treats internal-looking names as never mirrored', () => {
    for (const t of ['x.internal', 'x-internal', '__consumer_offsets', '.hidden'])
      expect(isInternalTopic(t)).toBe(true);
    for (const t of ['telemetry', 'internal.x', 'a_b']) expect(isInternalTopic(t)).toBe(false);
    expect(topicSelected('x-internal', { include: ['*'], exclude: [] })).toBe(false);
  });

  it('selects topics by include and exclude globs', () => {
    const f = { include: ['vehicle-*', 'stb.?'], exclude: ['*-debug'] };
    expect(topicSelected('vehicle-telemetry', f)).toBe(true);
    expect(topicSelected('vehicle-debug', f)).toBe(false);
    expect(topicSelected('stb.a', f)).toBe(true);
    expect(topicSelected('stb.ab', f)).toBe(false);
    expect(topicSelected('stbxa', f)).toBe(false);
    expect(topicSelected('other', f)).toBe(false);
  });
});

describe('mirror produce batches', () => {
  it('adds provenance headers and splits under the encoded-size bound', async () => {
    const { toOutBatches } = await import('../../src/mirror/batches.ts');
    const recs = Array.from({ length: 100 }, (_, i) => ({
      topic: 't',
      partition: 0,
      offset: 10 + i,
      timestamp: 1,
      key: i % 2 ? Buffer.from('k') : null,
      headers: { a: Buffer.from('b') },
      value: Buffer.alloc(200),
    }));
    const out = toOutBatches(recs, 'gw', 5000);
    expect(out.length).toBeGreaterThan(4);
    expect(out.flatMap((b) => b.offsets)).toEqual(recs.map((r) => r.offset));
    for (const b of out) expect(b.encoded).toBeLessThanOrEqual(5000);
    const h = [...((out[0]?.records[0]?.headers as Map<Buffer, Buffer> | undefined) ?? new Map())].map(
      ([k, v]) => [k.toString(), v.toString()],
    );
    expect(h).toEqual([
      ['a', 'b'],
      ['outpost.edge.id', 'gw'],
      ['outpost.edge.offset', '10'],
    ]);
    // One record larger than the bound still goes alone (the broker decides).
    expect(
      toOutBatches([{ ...recs[0], value: Buffer.alloc(9000) } as (typeof recs)[number]], 'gw', 5000),
    ).toHaveLength(1);
  });
});
