/**
 * Batch compression for record-v2, the codecs of Kafka's RecordBatch attributes bits 0-2
 * (KIP-98 / DefaultRecordBatch: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
 *
 *   gzip   Node's zlib (RFC 1952 stream), what Kafka's GZIPInputStream reads
 *   zstd   Node 24's zlib zstd (one standard zstd frame), what zstd-jni reads
 *   lz4    LZ4 frame format (magic 04 22 4D 18, independent 64 KiB blocks), as Kafka's
 *          Lz4BlockOutputStream writes for magic 2 (correct header checksum, KAFKA-3160)
 *   snappy xerial framing, as snappy-java's SnappyOutputStream (Kafka's producer) writes:
 *          magic 82 'SNAPPY' 00, i32 version 1, i32 compatible 1, then chunks of
 *          i32 length + raw snappy block, each block compressing at most 32 KiB
 *
 * lz4 and snappy come from @platformatic/wasm-utils (WebAssembly, no native build at install;
 * the same code @platformatic/kafka uses), gzip and zstd from node:zlib.
 */
import { constants, gunzipSync, gzip, gzipSync, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { lz4Compress, lz4Decompress, snappyCompress, snappyDecompress } from '@platformatic/wasm-utils';
import { OutpostError } from '../../errors.ts';

export const COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** Attributes bits 0-2 value of each codec. */
export const COMPRESSION_BITS: Record<Compression, number> = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 };

/** zstd level 3 is zstd's (and Kafka's) default: most of the ratio at a fraction of higher levels' CPU. */
const ZSTD_LEVEL = 3;
const SNAPPY_BLOCK = 32 * 1024;
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;

export function compressionOf(bits: number): Compression | undefined {
  return COMPRESSIONS[bits];
}

export function compress(codec: Compression, raw: Buffer): Buffer {
  switch (codec) {
    case 'none':
      return raw;
    case 'gzip':
      return gzipSync(raw);
    case 'zstd':
      // pledgedSrcSize: the frame header then records the content size (batchRawBytes reads it).
      return zstdCompressSync(raw, {
        pledgedSrcSize: raw.length,
        params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL },
      });
    case 'lz4':
      return lz4Compress(raw);
    case 'snappy':
      return snappyXerial(raw);
  }
}

/** Below this many bytes gzip compresses on the event loop: the thread pool's round trip costs more. */
const GZIP_OFF_LOOP_BYTES = 12 * 1024;

/**
 * Whether compressAsync takes `raw` of this codec off the event loop. It does so only where that
 * costs the loop less than compressing in place. Measured on Node 24 (npm run bench:compress), in
 * event-loop µs per batch of simulator payloads:
 *   - zstd's async API cost the loop 56-71 µs at 8 KiB (a busy gateway's batch) against 27-40 in
 *     place, about as much from 16 to 128 KiB, and 3× as much at 512 KiB: zstd compresses in place.
 *   - gzip's async API cost the loop 62-90 µs up to 8 KiB, then grows slowly (46-193 µs from 16 to
 *     64 KiB), while gzipSync took 18-46 µs up to 8 KiB and 139-567 from 16 to 64 KiB. So gzip goes
 *     to the pool from 12 KiB on.
 *   - lz4 and snappy (WebAssembly) have no async API and are fast.
 */
export function compressesOffLoop(codec: Compression, rawBytes: number): boolean {
  return codec === 'gzip' && rawBytes >= GZIP_OFF_LOOP_BYTES;
}

/** compress(), on libuv's thread pool where compressesOffLoop says so, else in place. */
export function compressAsync(codec: Compression, raw: Buffer): Promise<Buffer> {
  if (!compressesOffLoop(codec, raw.length)) return Promise.resolve(compress(codec, raw));
  const { promise, resolve, reject } = Promise.withResolvers<Buffer>();
  gzip(raw, (err, out) => (err === null ? resolve(out) : reject(err)));
  return promise;
}

/** Throws RECORD_CORRUPT when the bytes do not decompress (the caller adds where). */
export function decompress(codec: Compression, data: Buffer, maxBytes: number): Buffer {
  try {
    switch (codec) {
      case 'none':
        return data;
      case 'gzip':
        return gunzipSync(data, { maxOutputLength: maxBytes });
      case 'zstd':
        return zstdDecompressSync(data, { maxOutputLength: maxBytes });
      case 'lz4':
        return lz4Decompress(data);
      case 'snappy':
        return unsnappy(data);
    }
  } catch (cause) {
    throw new OutpostError('RECORD_CORRUPT', `record-v2 corrupt: ${codec} data does not decompress`, {
      reason: `${codec}: ${String(cause)}`,
      cause,
    });
  }
}

function snappyXerial(raw: Buffer): Buffer {
  const parts: Buffer[] = [XERIAL_MAGIC, Buffer.from([0, 0, 0, 1, 0, 0, 0, 1])];
  for (let at = 0; at < raw.length; at += SNAPPY_BLOCK) {
    const block = snappyCompress(raw.subarray(at, Math.min(raw.length, at + SNAPPY_BLOCK)));
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(block.length, 0);
    parts.push(len, block);
  }
  return Buffer.concat(parts);
}

/** xerial-framed (what we and Kafka's Java producer write) or one raw snappy block (librdkafka, kafkajs). */
function unsnappy(data: Buffer): Buffer {
  if (data.length < XERIAL_HEADER_BYTES || !data.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC)) {
    return snappyDecompress(data);
  }
  const out: Buffer[] = [];
  let at = XERIAL_HEADER_BYTES;
  while (at < data.length) {
    if (at + 4 > data.length) throw new OutpostError('RECORD_CORRUPT', 'truncated xerial chunk length');
    const n = data.readUInt32BE(at);
    at += 4;
    if (at + n > data.length) throw new OutpostError('RECORD_CORRUPT', 'truncated xerial chunk');
    out.push(snappyDecompress(data.subarray(at, at + n)));
    at += n;
  }
  return Buffer.concat(out);
}
