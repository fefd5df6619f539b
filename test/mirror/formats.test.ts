import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/mirror/formats/checkpoint.ts';
import { decodeHeartbeat, encodeHeartbeat } from '../../src/mirror/formats/heartbeat.ts';
import { decodeOffsetSync, encodeOffsetSync } from '../../src/mirror/formats/offset-sync.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('mirror formats', () => {
  it('encodes an OffsetSync to the fixed bytes of the design doc', () => {
    const { key, value } = encodeOffsetSync({
      topic: 'orders',
      partition: 3,
      upstreamOffset: 1000,
      downstreamOffset: 995,
    });
    expect(key).toEqual(hex('00 06 6f 72 64 65 72 73 00 00 00 03'));
    expect(value).toEqual(hex('00 00 00 00 00 00 03 e8 00 00 00 00 00 00 03 e3'));
  });

  it('decodes the fixed OffsetSync bytes and round-trips arbitrary values', () => {
    expect(
      decodeOffsetSync(
        hex('00 06 6f 72 64 65 72 73 00 00 00 03'),
        hex('00 00 00 00 00 00 03 e8 00 00 00 00 00 00 03 e3'),
      ),
    ).toEqual({
      topic: 'orders',
      partition: 3,
      upstreamOffset: 1000,
      downstreamOffset: 995,
    });
    const s = { topic: 'gw-1.tële', partition: 1023, upstreamOffset: 2 ** 40 + 7, downstreamOffset: 0 };
    const e = encodeOffsetSync(s);
    expect(decodeOffsetSync(e.key, e.value)).toEqual(s);
  });

  it('encodes a Checkpoint to the fixed bytes of the design doc', () => {
    const { key, value } = encodeCheckpoint({
      group: 'g1',
      topic: 'edge.orders',
      partition: 3,
      upstreamOffset: 1000,
      downstreamOffset: 996,
      metadata: '',
    });
    expect(key).toEqual(hex('00 02 67 31 00 0b 65 64 67 65 2e 6f 72 64 65 72 73 00 00 00 03'));
    expect(value).toEqual(hex('00 00 00 00 00 00 00 00 03 e8 00 00 00 00 00 00 03 e4 00 00'));
  });

  it('round-trips a Checkpoint and rejects versions other than 0', () => {
    const c = {
      group: 'billing',
      topic: 'gw.t',
      partition: 0,
      upstreamOffset: 5,
      downstreamOffset: 9,
      metadata: 'm',
    };
    const e = encodeCheckpoint(c);
    expect(decodeCheckpoint(e.key, e.value)).toEqual(c);
    const v1 = Buffer.from(e.value);
    v1.writeInt16BE(1, 0);
    expect(() => decodeCheckpoint(e.key, v1)).toThrow(/unsupported version 1/);
  });

  it('encodes a Heartbeat to the fixed bytes of the design doc and round-trips it', () => {
    const { key, value } = encodeHeartbeat({
      sourceClusterAlias: 'edge',
      targetClusterAlias: 'dc1',
      timestamp: 1700000000000,
    });
    expect(key).toEqual(hex('00 04 65 64 67 65 00 03 64 63 31'));
    expect(value).toEqual(hex('00 00 00 00 01 8b cf e5 68 00'));
    expect(decodeHeartbeat(key, value)).toEqual({
      sourceClusterAlias: 'edge',
      targetClusterAlias: 'dc1',
      timestamp: 1700000000000,
    });
  });

  it('refuses truncated and oversized structs', () => {
    expect(() => decodeHeartbeat(hex('00 04 65 64'), hex('00 00'))).toThrow(/truncated/);
    expect(() => decodeOffsetSync(hex('00 01 61 00 00 00 01 ff'), hex('00'.repeat(16)))).toThrow(/trailing/);
    expect(() =>
      encodeHeartbeat({ sourceClusterAlias: 'x'.repeat(40000), targetClusterAlias: 'y', timestamp: 0 }),
    ).toThrow(/32767/);
  });
});
