/**
 * Kafka-compatible partitioning: a keyed record goes to `toPositive(murmur2(key)) % partitions`,
 * exactly like the Java client's BuiltInPartitioner.partitionForKey (Utils.murmur2 / Utils.toPositive),
 * so a device's records land on the same partition number at the edge and in every central cluster.
 */

const SEED = 0x9747b28c | 0;
const M = 0x5bd1e995;

/** Port of org.apache.kafka.common.utils.Utils.murmur2 (32-bit MurmurHash2, Kafka's seed). Signed int32. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k =
      (data[i4] as number) |
      ((data[i4 + 1] as number) << 8) |
      ((data[i4 + 2] as number) << 16) |
      ((data[i4 + 3] as number) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const tail = length & ~3;
  // Java's `switch (length % 4)` falls through 3 → 2 → 1.
  const rest = length % 4;
  if (rest >= 3) h ^= (data[tail + 2] as number) << 16;
  if (rest >= 2) h ^= (data[tail + 1] as number) << 8;
  if (rest >= 1) {
    h ^= data[tail] as number;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Utils.toPositive: clears the sign bit (not Math.abs: abs(MIN_VALUE) would stay negative). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/**
 * Partition for a key, like Kafka. A null key has no partition of its own: this returns -1 and the
 * log spreads such records round-robin per topic.
 */
export function partitionFor(key: Buffer | null, partitions: number): number {
  if (key === null) return -1;
  return toPositive(murmur2(key)) % partitions;
}
