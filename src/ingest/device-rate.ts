/** Per-device publish rate: a token bucket. Over the rate the caller waits (backpressure), never drops. */
export interface RateSpec {
  perSecond: number;
  burst: number;
}

export class DeviceRateBucket {
  #tokens: number;
  #last: number;
  #spec: RateSpec;

  constructor(spec: RateSpec, now = performance.now()) {
    this.#spec = spec;
    this.#tokens = spec.burst;
    this.#last = now;
  }

  setSpec(spec: RateSpec): void {
    this.#spec = spec;
    this.#tokens = Math.min(this.#tokens, spec.burst);
  }

  /** Takes one token if available. */
  tryTake(now = performance.now()): boolean {
    this.#refill(now);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    return false;
  }

  /** Milliseconds until one token is available (0 if now). */
  waitMs(now = performance.now()): number {
    this.#refill(now);
    if (this.#tokens >= 1) return 0;
    return Math.ceil(((1 - this.#tokens) * 1000) / this.#spec.perSecond);
  }

  #refill(now: number): void {
    const dt = now - this.#last;
    if (dt <= 0) return;
    this.#last = now;
    this.#tokens = Math.min(this.#spec.burst, this.#tokens + (dt * this.#spec.perSecond) / 1000);
  }
}
