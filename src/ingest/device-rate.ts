/**
 * Per-device publish rate: a token bucket, one per device (or anonymous client id). Over the rate the
 * pipeline waits (backpressure), or for MQTT 5 with publishRate.overLimitMqtt5 "refuse" answers 0x97.
 */
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

/** The buckets by key ("dev:<deviceId>" or "anon:<clientId>"): a device's connections share one. */
export class DeviceRateBuckets {
  #buckets = new Map<string, DeviceRateBucket>();

  get(key: string, spec: RateSpec): DeviceRateBucket {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = new DeviceRateBucket(spec);
      this.#buckets.set(key, bucket);
    }
    return bucket;
  }

  /**
   * A connection that used `bucket` is gone. Anonymous buckets are per client id: forget it (a live
   * successor with the same id keeps its own reference).
   */
  release(key: string, bucket: DeviceRateBucket): void {
    if (key.startsWith('anon:') && this.#buckets.get(key) === bucket) this.#buckets.delete(key);
  }
}
