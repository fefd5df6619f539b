// Public face of the partitioned log (see types.ts for the contract).
export { COMPRESSIONS, type Compression } from './codec/compression.ts';
export { decodeRecord, encodeRecord, RECORD_V1 } from './codec/record-v1.ts';
export {
  BATCH_OVERHEAD_V2,
  decodeBatch,
  encodeBatch,
  RECORD_V2_MAGIC,
  recordSizeV2,
} from './codec/record-v2.ts';
export { openFollower } from './follower.ts';
export { openLog } from './log.ts';
export { logOptionsFromConfig, logTopicSpecs } from './options.ts';
export { murmur2, partitionFor, toPositive } from './partitioner.ts';
export type * from './types.ts';
