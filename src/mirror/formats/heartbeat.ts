/**
 * MM2 Heartbeat (org.apache.kafka.connect.mirror.Heartbeat), topic `heartbeats`, partition 0.
 *
 *   key   = sourceClusterAlias STRING | targetClusterAlias STRING
 *   value = version INT16 (= 0) | timestamp INT64 (epoch ms)
 *
 * Example ("edge", "dc1", 1700000000000):
 *   key   00 04 65 64 67 65 00 03 64 63 31
 *   value 00 00 00 00 01 8b cf e5 68 00
 */
import { expectVersion0, StructReader, StructWriter } from './struct.ts';

export const HEARTBEAT_VERSION = 0;

export interface Heartbeat {
  sourceClusterAlias: string;
  targetClusterAlias: string;
  timestamp: number;
}

export function encodeHeartbeat(h: Heartbeat): { key: Buffer; value: Buffer } {
  return {
    key: new StructWriter().string(h.sourceClusterAlias).string(h.targetClusterAlias).toBuffer(),
    value: new StructWriter().int16(HEARTBEAT_VERSION).int64(h.timestamp).toBuffer(),
  };
}

export function decodeHeartbeat(key: Buffer, value: Buffer): Heartbeat {
  const k = new StructReader(key, 'Heartbeat key');
  const sourceClusterAlias = k.string();
  const targetClusterAlias = k.string();
  k.end();
  const v = new StructReader(value, 'Heartbeat value');
  expectVersion0(v.int16(), 'Heartbeat');
  const timestamp = v.int64();
  v.end();
  return { sourceClusterAlias, targetClusterAlias, timestamp };
}
