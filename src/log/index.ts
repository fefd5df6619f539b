// Public face of the partitioned log (see types.ts for the contract).
export { COMPRESSIONS, type Compression, compress, decompress } from './codec/compression.ts';
export { decodeRecord, encodeRecord, RECORD_V1 } from './codec/record-v1.ts';
export {
  BATCH_OVERHEAD_V2,
  encodeBatch,
  RECORD_V2_MAGIC,
  recordSizeV2,
  STAMP_ID_HEADER,
  STAMP_OFFSET_HEADER,
  type Stamp,
  stampBytes,
} from './codec/record-v2.ts';
export { decodeBatch, isBatchV2, peekBatch } from './codec/record-v2-read.ts';
export { openFollower } from './follower.ts';
export { openLog } from './open.ts';
export { murmur2, partitionFor, toPositive } from './partitioner.ts';
export type * from './types.ts';
