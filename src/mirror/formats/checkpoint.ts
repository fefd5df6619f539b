/**
 * MM2 Checkpoint (org.apache.kafka.connect.mirror.Checkpoint), topic
 * `<sourceAlias>.checkpoints.internal` on the target cluster, partition 0.
 *
 *   key   = group STRING | topic STRING (downstream name) | partition INT32
 *   value = version INT16 (= 0) | upstreamOffset INT64 | offset INT64 (downstream) | metadata STRING
 *
 * Offsets are "next offset to read" positions, like committed consumer offsets. metadata is "" (never
 * null). Example ("g1", "edge.orders", 3, 1000 -> 996, ""):
 *   key   00 02 67 31 00 0b 65 64 67 65 2e 6f 72 64 65 72 73 00 00 00 03
 *   value 00 00 00 00 00 00 00 00 03 e8 00 00 00 00 00 00 03 e4 00 00
 */
import { expectVersion0, StructReader, StructWriter } from './struct.ts';

export const CHECKPOINT_VERSION = 0;

export interface Checkpoint {
  group: string;
  /** Downstream (remote) topic name. */
  topic: string;
  partition: number;
  upstreamOffset: number;
  downstreamOffset: number;
  metadata: string;
}

export function encodeCheckpoint(c: Checkpoint): { key: Buffer; value: Buffer } {
  return {
    key: new StructWriter().string(c.group).string(c.topic).int32(c.partition).toBuffer(),
    value: new StructWriter()
      .int16(CHECKPOINT_VERSION)
      .int64(c.upstreamOffset)
      .int64(c.downstreamOffset)
      .string(c.metadata)
      .toBuffer(),
  };
}

export function decodeCheckpoint(key: Buffer, value: Buffer): Checkpoint {
  const k = new StructReader(key, 'Checkpoint key');
  const group = k.string();
  const topic = k.string();
  const partition = k.int32();
  k.end();
  const v = new StructReader(value, 'Checkpoint value');
  expectVersion0(v.int16(), 'Checkpoint');
  const upstreamOffset = v.int64();
  const downstreamOffset = v.int64();
  const metadata = v.string();
  v.end();
  return { group, topic, partition, upstreamOffset, downstreamOffset, metadata };
}
