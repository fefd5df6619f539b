/**
 * MM2 OffsetSync (org.apache.kafka.connect.mirror.OffsetSync), topic
 * `mm2-offset-syncs.<sourceAlias>.internal`, partition 0. No version field.
 *
 *   key   = topic STRING (upstream name) | partition INT32
 *   value = upstreamOffset INT64 | offset INT64 (downstream)
 *
 * Both offsets refer to the same record. Example ("orders", 3, 1000 -> 995):
 *   key   00 06 6f 72 64 65 72 73 00 00 00 03
 *   value 00 00 00 00 00 00 03 e8 00 00 00 00 00 00 03 e3
 */
import { StructReader, StructWriter } from './struct.ts';

export interface OffsetSync {
  topic: string;
  partition: number;
  upstreamOffset: number;
  downstreamOffset: number;
}

export function encodeOffsetSync(s: OffsetSync): { key: Buffer; value: Buffer } {
  return {
    key: new StructWriter().string(s.topic).int32(s.partition).toBuffer(),
    value: new StructWriter().int64(s.upstreamOffset).int64(s.downstreamOffset).toBuffer(),
  };
}

export function decodeOffsetSync(key: Buffer, value: Buffer): OffsetSync {
  const k = new StructReader(key, 'OffsetSync key');
  const topic = k.string();
  const partition = k.int32();
  k.end();
  const v = new StructReader(value, 'OffsetSync value');
  const upstreamOffset = v.int64();
  const downstreamOffset = v.int64();
  v.end();
  return { topic, partition, upstreamOffset, downstreamOffset };
}
