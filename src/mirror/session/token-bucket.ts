/**
 * Token bucket for `maxBytesPerSecond`: refills continuously at `rate` bytes/s up to `burst` bytes.
 * A batch larger than the burst may still go once the bucket is full (it then runs into debt), so a
 * link can never deadlock on one big batch; the long-run rate still stays at `rate`.
 */
export class TokenBucket {
  #rate: number;
  #burst: number;
  #tokens: number;
  #last: number;
  readonly #now: () => number;

  constructor(rate: number, burst: number = rate, now: () => number = () => performance.now()) {
    this.#rate = rate;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#last = now();
  }

  #refill(): void {
    const t = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((t - this.#last) / 1000) * this.#rate);
    this.#last = t;
  }

  setRate(rate: number, burst: number = rate): void {
    this.#refill();
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = Math.min(this.#tokens, burst);
  }

  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Ms to wait before `bytes` may be taken (0 = now). */
  delayFor(bytes: number): number {
    this.#refill();
    const need = Math.min(bytes, this.#burst);
    if (this.#tokens >= need) return 0;
    return Math.ceil(((need - this.#tokens) / this.#rate) * 1000);
  }

  /** Takes `bytes` if allowed now (see delayFor); returns false otherwise. */
  tryTake(bytes: number): boolean {
    if (this.delayFor(bytes) > 0) return false;
    this.#tokens -= bytes;
    return true;
  }
}
