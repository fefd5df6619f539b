/**
 * Internal face of the log, for Outpost's own folders and tests (not part of the public face,
 * index.ts): the record-v2 byte layout and the codec's helpers, so the mirror's byte-level batch
 * rewrites (src/mirror/wire/batch-rewrite.ts) use the log's definitions instead of copies.
 */
export {
  ATTRIBUTES_AT,
  BASE_SEQUENCE_AT,
  BASE_TS_AT,
  CODEC_MASK,
  COUNT_AT,
  CRC_AT,
  LAST_DELTA_AT,
  LEADER_EPOCH_AT,
  LENGTH_AT,
  LOG_OVERHEAD,
  MAGIC_AT,
  MAX_DECOMPRESSED,
  MAX_TS_AT,
  PRODUCER_EPOCH_AT,
  PRODUCER_ID_AT,
  putVarint,
  varintSize,
} from './codec/record-v2.ts';
export { checkFrame, int64, VarintReader } from './codec/record-v2-read.ts';
