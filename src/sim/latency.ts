/**
 * Latency samples with a bounded memory: keeps every sample up to `capacity`, then a uniform
 * reservoir (Vitter's algorithm R) so long runs still give fair percentiles.
 */
export class LatencySamples {
  readonly #buf: Float64Array;
  #count = 0;
  #max = 0;
  #seed = 0x9e3779b9;

  constructor(capacity = 200_000) {
    this.#buf = new Float64Array(capacity);
  }

  get count(): number {
    return this.#count;
  }

  add(ms: number): void {
    if (ms > this.#max) this.#max = ms;
    const cap = this.#buf.length;
    if (this.#count < cap) {
      this.#buf[this.#count++] = ms;
      return;
    }
    this.#count++;
    // xorshift32 for the reservoir slot: deterministic, no dependence on Math.random
    this.#seed ^= this.#seed << 13;
    this.#seed ^= this.#seed >>> 17;
    this.#seed ^= this.#seed << 5;
    const j = (this.#seed >>> 0) % this.#count;
    if (j < cap) this.#buf[j] = ms;
  }

  /** Percentiles (p in 0..100) over the kept samples; null when empty. */
  summary(): { p50: number; p99: number; max: number } | null {
    const n = Math.min(this.#count, this.#buf.length);
    if (n === 0) return null;
    const sorted = this.#buf.slice(0, n).sort();
    const at = (p: number) => sorted[Math.min(n - 1, Math.floor((p / 100) * n))] as number;
    return { p50: round1(at(50)), p99: round1(at(99)), max: round1(this.#max) };
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
