/**
 * `npm run bench:compress`: what compressing one record-v2 batch costs the event loop, in place
 * (the log's `compress`, zlib's sync API) against Node's async zlib API (the work on libuv's thread
 * pool, the stream machinery on the loop), for gzip and zstd at level 3, by batch size. The batches
 * are records sections of the simulator's vehicle messages with the ingest's headers, encoded as the
 * log stores them (`encodeBatch`, no compression).
 *
 * The async API's loop cost is the event-loop utilization (performance.eventLoopUtilization) over
 * BENCH_ROUNDS batches, 8 in flight; the in-place cost is the wall time of the sync calls. The log
 * compresses in place wherever that costs the loop less (src/log/codec/compression.ts).
 *
 *   BENCH_ROUNDS (400): batches per codec, size and API
 */
import { performance } from 'node:perf_hooks';
import { constants, gzip, zstdCompress } from 'node:zlib';
import { BATCH_OVERHEAD_V2, type Compression, compress, encodeBatch } from '../src/log/index.ts';
import { createGenerator, fleetIds } from '../src/sim/index.ts';
import { envInt } from './lib/proc.ts';

const ROUNDS = envInt('BENCH_ROUNDS', 400);
const SIZES_KIB = [1, 4, 8, 16, 32, 64, 128, 512];

/** The records section of one batch of vehicle messages, about `bytes` long. */
function recordsSection(bytes: number): Buffer {
  const gens = fleetIds('vehicle', 50).map((id) =>
    createGenerator('vehicle', id, { seed: 7, run: 'compress' }),
  );
  const records = [];
  let size = 0;
  let now = 1_760_000_000_000;
  for (let i = 0; size < bytes; i++) {
    const g = gens[i % gens.length] as (typeof gens)[number];
    now += 20;
    const msg = g.next(now);
    const id = Buffer.from(g.deviceId);
    const value = Buffer.from(JSON.stringify(msg.payload));
    size += value.length + 120;
    records.push({
      key: id,
      value,
      timestamp: now,
      headers: {
        'mqtt.topic': Buffer.from(msg.topic),
        'mqtt.qos': Buffer.from('1'),
        'client.id': id,
        'device.id': id,
      },
    });
  }
  return encodeBatch(0, records, 'none').subarray(BATCH_OVERHEAD_V2);
}

function asyncApi(codec: 'gzip' | 'zstd', raw: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, out: Buffer) => (err ? reject(err) : resolve(out));
    if (codec === 'gzip') gzip(raw, done);
    else
      zstdCompress(
        raw,
        { pledgedSrcSize: raw.length, params: { [constants.ZSTD_c_compressionLevel]: 3 } },
        done,
      );
  });
}

async function loopCostAsync(codec: 'gzip' | 'zstd', raw: Buffer): Promise<number> {
  const start = performance.eventLoopUtilization();
  for (let i = 0; i < ROUNDS; i += 8)
    await Promise.all(Array.from({ length: 8 }, () => asyncApi(codec, raw)));
  return (performance.eventLoopUtilization(start).active * 1000) / ROUNDS;
}

function loopCostInPlace(codec: Compression, raw: Buffer): number {
  const t0 = performance.now();
  for (let i = 0; i < ROUNDS; i++) compress(codec, raw);
  return ((performance.now() - t0) * 1000) / ROUNDS;
}

console.log(`event-loop µs per batch (vehicle messages, level 3; ${ROUNDS} batches each)`);
console.log('codec  batch     in place   Node async API   in place / async');
for (const codec of ['zstd', 'gzip'] as const) {
  for (const kib of SIZES_KIB) {
    const raw = recordsSection(kib * 1024);
    await loopCostAsync(codec, raw); // warm-up
    const inPlace = loopCostInPlace(codec, raw);
    const viaPool = await loopCostAsync(codec, raw);
    console.log(
      `${codec.padEnd(6)} ${`${kib} KiB`.padStart(7)} ${inPlace.toFixed(1).padStart(10)} ${viaPool.toFixed(1).padStart(16)} ${(inPlace / viaPool).toFixed(2).padStart(17)}x`,
    );
  }
}
