/**
 * Failed-login throttle. Keys are "addr:<ip>" and "dev:<id>"; each key may fail `maxFailures`
 * times within `windowMs`, then it is blocked for `blockMs`. Memory is bounded (least recently
 * touched keys are evicted first).
 */
import type { ThrottleConfig } from './types.ts';

export const MAX_THROTTLE_KEYS = 100_000;

interface Entry {
  failures: number[];
  blockedUntil: number;
}

export class FailureThrottle {
  #cfg: ThrottleConfig;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #maxKeys: number;

  constructor(cfg: ThrottleConfig, now: () => number = Date.now, maxKeys = MAX_THROTTLE_KEYS) {
    this.#cfg = { ...cfg };
    this.#now = now;
    this.#maxKeys = maxKeys;
  }

  setConfig(cfg: ThrottleConfig): void {
    this.#cfg = { ...cfg };
  }

  /** True while `key` is blocked. */
  isBlocked(key: string): boolean {
    const e = this.#entries.get(key);
    if (e === undefined) return false;
    if (e.blockedUntil > this.#now()) return true;
    if (e.blockedUntil !== 0) {
      e.blockedUntil = 0;
      if (e.failures.length === 0) this.#entries.delete(key);
    }
    return false;
  }

  /** Records one failure; returns true when this failure starts a block. */
  fail(key: string): boolean {
    const now = this.#now();
    const e = this.#entries.get(key) ?? { failures: [], blockedUntil: 0 };
    this.#entries.delete(key); // re-insert: Map order = recency
    const since = now - this.#cfg.windowMs;
    e.failures = e.failures.filter((t) => t > since);
    e.failures.push(now);
    let started = false;
    if (e.failures.length >= this.#cfg.maxFailures) {
      e.blockedUntil = now + this.#cfg.blockMs;
      e.failures = [];
      started = true;
    }
    this.#entries.set(key, e);
    while (this.#entries.size > this.#maxKeys) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    return started;
  }

  /** Forget failures of `key` (after a successful login of that device). */
  reset(key: string): void {
    const e = this.#entries.get(key);
    if (e !== undefined && e.blockedUntil <= this.#now()) this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
