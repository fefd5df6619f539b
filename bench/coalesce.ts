/**
 * npm run bench:coalesce — the mirror's raw produce path on the CPU: stored record-v2 batches of one
 * partition merged into one produce batch (src/mirror/wire/batch-rewrite.ts), beside
 * @platformatic/kafka's own encoder (createRecordsBatch, what its Producer runs per send) on the same
 * records, measured in the same run. Records per second of one core, higher is better.
 *
 *   coalesce none        uncompressed stored batches → one batch: deltas rewritten, bytes copied
 *   coalesce zstd        zstd stored batches → decompressed each, deltas rewritten, compressed once
 *   forProducer          stamp producer fields + CRC on the merged batch (the copy every send makes)
 *   raw                  coalesce + forProducer: the CPU of one send on the raw path; and, for
 *                        zstd, forProducer on each stored batch as it is (one request per stored
 *                        batch: Produce v3+ takes one batch per partition per request)
 *   peer encode none/zstd  createRecordsBatch from ready message objects (generous to the peer: the
 *                        objects exist already and its writer is not flattened into one buffer)
 *   today                what the mirror runs today: decodeBatch of the stored batches, then
 *                        createRecordsBatch (its header Maps built as toOutBatches does); its
 *                        producer has no codec, so stored zstd goes out uncompressed
 *
 *   BENCH_STORED   stored batches per produce batch (default 50)
 *   BENCH_PER      records per stored batch, one group commit's share of a partition (default 20)
 *   BENCH_MS       time per case and round (default 150 ms)
 *   BENCH_ROUNDS   rounds over all cases, best of each reported (default 3; about 8 s in all)
 *
 * Records are the simulator's vehicle telemetry (src/sim, fixed seed) with the headers the ingest
 * adds and the mirror's provenance headers (outpost.edge.id, outpost.edge.offset), keyed by device.
 */
import { type CompressionAlgorithmValue, createRecordsBatch, type MessageRecord } from '@platformatic/kafka';
import { type Compression, decodeBatch, encodeBatch } from '../src/log/index.ts';
import { coalesce, forProducer } from '../src/mirror/wire/batch-rewrite.ts';
import { createGenerator, fleetIds } from '../src/sim/index.ts';

const STORED = Number(process.env['BENCH_STORED'] ?? 50);
const PER = Number(process.env['BENCH_PER'] ?? 20);
const MS = Number(process.env['BENCH_MS'] ?? 150);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const N = STORED * PER;

type Rec = Parameters<typeof encodeBatch>[1][number];

function records(): Rec[] {
  const gens = fleetIds('vehicle', 40).map((id) =>
    createGenerator('vehicle', id, { seed: 42, run: 'coalesce' }),
  );
  const out: Rec[] = [];
  let now = 1_760_000_000_000;
  for (let i = 0; out.length < N; i++) {
    const g = gens[i % gens.length] as (typeof gens)[number];
    now += 13;
    const msg = g.next(now);
    const id = Buffer.from(g.deviceId);
    out.push({
      timestamp: now,
      key: id,
      value: Buffer.from(JSON.stringify(msg.payload)),
      headers: {
        'mqtt.topic': Buffer.from(msg.topic),
        'mqtt.qos': Buffer.from('1'),
        'mqtt.retain': Buffer.from('0'),
        'client.id': id,
        'device.id': id,
        'outpost.edge.id': Buffer.from('edge-bench-01'),
        'outpost.edge.offset': Buffer.from(String(10_000 + out.length)),
      },
    });
  }
  return out;
}

function storedBatches(all: Rec[], codec: Compression): Buffer[] {
  return Array.from({ length: STORED }, (_, b) =>
    encodeBatch(10_000 + b * PER, all.slice(b * PER, (b + 1) * PER), codec),
  );
}

function messages(
  recs: ReadonlyArray<{
    key: Buffer | null;
    value: Buffer;
    timestamp: number;
    headers: Record<string, Buffer>;
  }>,
): MessageRecord[] {
  return recs.map((r) => ({
    topic: 't',
    partition: 0,
    ...(r.key ? { key: r.key } : {}),
    value: r.value,
    timestamp: BigInt(r.timestamp),
    headers: new Map(Object.entries(r.headers).map(([k, v]) => [Buffer.from(k), v])),
  }));
}

/** Runs `fn` (one produce batch of N records) for MS ms after a short warm-up; records/s. */
function rate(fn: () => unknown): number {
  const warm = performance.now() + Math.min(100, MS / 5);
  while (performance.now() < warm) fn();
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < MS) {
    fn();
    n++;
    t = performance.now();
  }
  return (n * N) / ((t - t0) / 1000);
}

const peerOpts = (compression: CompressionAlgorithmValue) => ({
  compression,
  producerId: 1n,
  producerEpoch: 0,
  partitionLeaderEpoch: -1,
});

const all = records();
const none = storedBatches(all, 'none');
const zstd = storedBatches(all, 'zstd');
const msgs = messages(all);
const merged = coalesce(none);
const fmt = (v: number) => Math.round(v).toLocaleString('en-US').padStart(12);
const bytes = (bs: Buffer[]) => bs.reduce((n, b) => n + b.length, 0);

console.log(
  `${STORED} stored batches x ${PER} records = ${N} records per produce batch; stored ${bytes(none)} B none, ${bytes(zstd)} B zstd; node ${process.version}`,
);
const stamp = (b: Buffer) => forProducer(b, { producerId: 1n, producerEpoch: 0, baseSequence: 0 });
const today = (stored: Buffer[], codec: CompressionAlgorithmValue) => () =>
  createRecordsBatch(messages(stored.flatMap((b) => decodeBatch(b))), peerOpts(codec)).dynamicBuffer;
/** name, what it runs, and the cases it is compared with. */
const cases: Array<[string, () => unknown, string[]?]> = [
  ['peer encode none (createRecordsBatch)', () => createRecordsBatch(msgs, peerOpts('none')).dynamicBuffer],
  ['peer encode zstd (createRecordsBatch)', () => createRecordsBatch(msgs, peerOpts('zstd')).dynamicBuffer],
  ['today none: decode none + encode none', today(none, 'none')],
  ['today zstd: decode zstd + encode none', today(zstd, 'none')],
  ['today zstd: decode zstd + encode zstd', today(zstd, 'zstd')],
  ['coalesce none', () => coalesce(none), ['peer encode none (createRecordsBatch)']],
  [
    'coalesce zstd (decompress each, compress once)',
    () => coalesce(zstd),
    ['peer encode zstd (createRecordsBatch)'],
  ],
  ['forProducer (stamp + CRC, merged none batch)', () => stamp(merged)],
  [
    'raw none: coalesce + forProducer',
    () => stamp(coalesce(none)),
    ['today none: decode none + encode none'],
  ],
  [
    'raw zstd: coalesce + forProducer',
    () => stamp(coalesce(zstd)),
    ['today zstd: decode zstd + encode none', 'today zstd: decode zstd + encode zstd'],
  ],
  [
    `raw zstd, not coalesced: ${STORED} x forProducer`,
    () => zstd.map(stamp),
    ['today zstd: decode zstd + encode none', 'today zstd: decode zstd + encode zstd'],
  ],
];
// Rounds alternate the cases (the machine may be shared); the best round of each is reported.
const best = new Map<string, number>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of cases) best.set(name, Math.max(best.get(name) ?? 0, rate(fn)));
}
console.log(`${'case'.padEnd(48)} ${'records/s'.padStart(12)}   ratio (best of ${ROUNDS} rounds)`);
for (const [name, , peers] of cases) {
  const v = best.get(name) ?? 0;
  const ratios = (peers ?? []).map((p) => `${(v / (best.get(p) ?? Number.NaN)).toFixed(1)}x ${p}`);
  console.log(`${name.padEnd(48)} ${fmt(v)}   ${ratios.join('; ')}`);
}
