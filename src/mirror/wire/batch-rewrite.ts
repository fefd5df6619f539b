/**
 * Rewrites of stored record-v2 batches for the mirror's raw produce path, on bytes: no record is
 * decoded into an object. The byte layout is the one in src/log/codec/record-v2.ts (Kafka's
 * DefaultRecordBatch.java / DefaultRecord.java); the fields touched here, by byte offset:
 *
 *   0  baseOffset  8 batchLength  12 partitionLeaderEpoch  17 crc  21 attributes  23 lastOffsetDelta
 *   27 baseTimestamp  35 maxTimestamp  43 producerId  51 producerEpoch  53 baseSequence  57 recordsCount
 *
 * and, inside a record, only its leading varints (length, timestampDelta, offsetDelta); the record's
 * attributes byte, key, value and headers are copied as they are.
 *
 *   forProducer  a copy for one idempotent producer (KIP-98): baseOffset 0 and partitionLeaderEpoch
 *                -1 (the broker assigns both), producerId / producerEpoch / baseSequence set, CRC-32C
 *                of bytes [21, end) recomputed
 *   coalesce     consecutive batches of one partition (dense: each baseOffset is the previous one's
 *                baseOffset + lastOffsetDelta + 1) as ONE batch with the first one's baseOffset:
 *                each record's offsetDelta and timestampDelta rewritten against the new base, the
 *                records section decompressed per input and compressed once
 *   recompress   one batch in another codec (decompress once, compress once)
 *
 * Every input is checked before it is rewritten (size, batchLength, magic, CRC-32C, attributes,
 * recordsCount = lastOffsetDelta + 1, each record's offsetDelta = its index): a rewrite computes a
 * fresh CRC, so it must never give a damaged batch a valid one that a broker would then store.
 * Damage is RECORD_CORRUPT, another magic, codec or attribute bit (transactional, control,
 * LogAppendTime) FORMAT_UNSUPPORTED, offsets that are not dense or a mix of codecs with no target
 * codec RECORD_INVALID. Inputs are never written to (they may be buffers LMDB hands out).
 *
 * Outputs carry producerId -1, producerEpoch -1, baseSequence -1 and partitionLeaderEpoch -1, as the
 * log stores them; forProducer sets the producer's fields just before a send.
 */
import { crc32c } from '@node-rs/crc32';
import { OutpostError } from '../../errors.ts';
import {
  BATCH_OVERHEAD_V2,
  COMPRESSIONS,
  type Compression,
  compress,
  decompress,
  RECORD_V2_MAGIC,
} from '../../log/index.ts';
import {
  ATTRIBUTES_AT,
  BASE_SEQUENCE_AT,
  BASE_TS_AT,
  CODEC_MASK,
  COUNT_AT,
  CRC_AT,
  checkFrame,
  int64,
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
  VarintReader,
  varintSize,
} from '../../log/internal.ts';

const INT32_MAX = 0x7fffffff;

export interface ProducerFields {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
}

/** What a checked batch's header says. */
export interface CheckedBatch {
  baseOffset: bigint;
  /** Records in the batch (= lastOffsetDelta + 1: offsets are dense). */
  count: number;
  baseTimestamp: number;
  maxTimestamp: number;
  compression: Compression;
}

function corrupt(reason: string): OutpostError {
  return new OutpostError('RECORD_CORRUPT', `record-v2 batch corrupt: ${reason}`, { reason });
}

function invalid(reason: string): OutpostError {
  return new OutpostError('RECORD_INVALID', `record-v2 batches cannot be rewritten: ${reason}`, { reason });
}

/** Checks a batch's frame (not its records) and reads its header. */
export function checkBatch(buf: Buffer): CheckedBatch {
  checkFrame(buf, corrupt);
  const attributes = buf.readInt16BE(ATTRIBUTES_AT);
  const compression = COMPRESSIONS[attributes & CODEC_MASK];
  if ((attributes & ~CODEC_MASK) !== 0 || compression === undefined) {
    throw new OutpostError(
      'FORMAT_UNSUPPORTED',
      `record-v2 attributes 0x${attributes.toString(16)} are not a plain batch (codec bits only)`,
      { reason: `attributes 0x${attributes.toString(16)}` },
    );
  }
  const count = buf.readInt32BE(LAST_DELTA_AT) + 1;
  if (count < 1 || buf.readInt32BE(COUNT_AT) !== count) {
    throw invalid(`recordsCount ${buf.readInt32BE(COUNT_AT)} is not lastOffsetDelta + 1 (${count})`);
  }
  return {
    baseOffset: buf.readBigInt64BE(0),
    count,
    baseTimestamp: int64(buf, BASE_TS_AT, corrupt),
    maxTimestamp: int64(buf, MAX_TS_AT, corrupt),
    compression,
  };
}

/** A copy of `batch` for one idempotent producer's send (see the file header); the input is untouched. */
export function forProducer(batch: Buffer, p: ProducerFields): Buffer {
  checkBatch(batch);
  if (p.baseSequence < 0 || p.baseSequence > INT32_MAX) throw invalid(`baseSequence ${p.baseSequence}`);
  const out = Buffer.allocUnsafe(batch.length);
  batch.copy(out);
  out.writeBigInt64BE(0n, 0);
  out.writeInt32BE(-1, LEADER_EPOCH_AT);
  out.writeBigInt64BE(p.producerId, PRODUCER_ID_AT);
  out.writeInt16BE(p.producerEpoch, PRODUCER_EPOCH_AT);
  out.writeInt32BE(p.baseSequence, BASE_SEQUENCE_AT);
  out.writeUInt32BE(crc32c(out.subarray(ATTRIBUTES_AT)), CRC_AT);
  return out;
}

/** One input's records section (decompressed) and where its offsets and timestamps start. */
interface Section {
  data: Buffer;
  count: number;
  baseTimestamp: number;
  /** Offset of its first record minus the output's baseOffset. */
  offsetShift: number;
}

/** Timestamp of a section's first record. */
function firstTimestamp(s: Section): number {
  const r = new VarintReader(s.data, corrupt);
  r.next(); // length
  r.at++; // attributes
  return s.baseTimestamp + r.next();
}

/**
 * Walks a section's records, each rewritten against the output's base offset and `baseTs`. With
 * `out` it writes them from `at`, without it only measures; returns the position after the last one.
 * Raises `stats.maxTimestamp` to the section's greatest record timestamp.
 */
function walk(s: Section, baseTs: number, out: Buffer | null, at: number, stats: { maxTimestamp: number }) {
  const r = new VarintReader(s.data, corrupt);
  const d = s.data;
  const tsShift = s.baseTimestamp - baseTs;
  for (let i = 0; i < s.count; i++) {
    const length = r.next();
    const end = r.at + length;
    if (length < 1 || end > d.length) throw corrupt('record length points past the end');
    const attributes = d[r.at++] as number;
    const tsDelta = r.next();
    const offsetDelta = r.next();
    if (offsetDelta !== i) throw invalid(`record ${i} of a batch has offsetDelta ${offsetDelta}: not dense`);
    if (r.at > end) throw corrupt('record length does not cover its fields');
    const ts = s.baseTimestamp + tsDelta;
    if (ts > stats.maxTimestamp) stats.maxTimestamp = ts;
    const newTs = tsDelta + tsShift;
    const newOffset = i + s.offsetShift;
    const rest = end - r.at;
    const body = 1 + varintSize(newTs) + varintSize(newOffset) + rest;
    if (out === null) at += varintSize(body) + body;
    else {
      at = putVarint(out, body, at);
      out[at++] = attributes;
      at = putVarint(out, newTs, at);
      at = putVarint(out, newOffset, at);
      d.copy(out, at, r.at, end);
      at += rest;
    }
    r.at = end;
  }
  if (r.at !== d.length) throw corrupt('trailing bytes after the last record');
  return at;
}

/**
 * Merges consecutive batches of one partition into one (see the file header). The output's codec is
 * `opts.compression`, else the inputs' (which must then all have the same one).
 */
export function coalesce(batches: readonly Buffer[], opts: { compression?: Compression } = {}): Buffer {
  if (batches.length === 0) throw invalid('no batch to coalesce');
  const heads = batches.map(checkBatch);
  const first = heads[0] as CheckedBatch;
  const codec = opts.compression ?? first.compression;
  let total = 0;
  const sections: Section[] = heads.map((h, i) => {
    if (BigInt(total) !== h.baseOffset - first.baseOffset) {
      throw invalid(`batch ${i} starts at offset ${h.baseOffset}, not ${first.baseOffset + BigInt(total)}`);
    }
    if (opts.compression === undefined && h.compression !== first.compression) {
      throw invalid(`batch ${i} is ${h.compression}, batch 0 ${first.compression}: name the output codec`);
    }
    const packed = (batches[i] as Buffer).subarray(BATCH_OVERHEAD_V2);
    const data = h.compression === 'none' ? packed : decompress(h.compression, packed, MAX_DECOMPRESSED);
    const s = { data, count: h.count, baseTimestamp: h.baseTimestamp, offsetShift: total };
    total += h.count;
    return s;
  });
  if (total > INT32_MAX) throw invalid(`${total} records do not fit one batch`);
  const baseTs = firstTimestamp(sections[0] as Section);
  const stats = { maxTimestamp: baseTs };
  let size = 0;
  for (const s of sections) size = walk(s, baseTs, null, size, stats);
  const frame = codec === 'none' ? Buffer.allocUnsafe(BATCH_OVERHEAD_V2 + size) : null;
  const raw = frame === null ? Buffer.allocUnsafe(size) : frame.subarray(BATCH_OVERHEAD_V2);
  let at = 0;
  for (const s of sections) at = walk(s, baseTs, raw, at, stats);
  let batch = frame;
  if (batch === null) {
    const packed = compress(codec, raw);
    batch = Buffer.allocUnsafe(BATCH_OVERHEAD_V2 + packed.length);
    packed.copy(batch, BATCH_OVERHEAD_V2);
  }
  batch.writeBigInt64BE(first.baseOffset, 0);
  batch.writeInt32BE(batch.length - LOG_OVERHEAD, LENGTH_AT);
  batch.writeInt32BE(-1, LEADER_EPOCH_AT);
  batch[MAGIC_AT] = RECORD_V2_MAGIC;
  batch.writeInt16BE(COMPRESSIONS.indexOf(codec), ATTRIBUTES_AT);
  batch.writeInt32BE(total - 1, LAST_DELTA_AT);
  batch.writeBigInt64BE(BigInt(baseTs), BASE_TS_AT);
  batch.writeBigInt64BE(BigInt(stats.maxTimestamp), MAX_TS_AT);
  batch.writeBigInt64BE(-1n, PRODUCER_ID_AT);
  batch.writeInt16BE(-1, PRODUCER_EPOCH_AT);
  batch.writeInt32BE(-1, BASE_SEQUENCE_AT);
  batch.writeInt32BE(total, COUNT_AT);
  batch.writeUInt32BE(crc32c(batch.subarray(ATTRIBUTES_AT)), CRC_AT);
  return batch;
}

/** The batch in another codec, for a link whose codec differs from the stored one. */
export function recompress(batch: Buffer, compression: Compression): Buffer {
  return coalesce([batch], { compression });
}
