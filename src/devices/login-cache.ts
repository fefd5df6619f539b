/**
 * Recently verified password logins, in memory only, so a device reconnecting (network blip,
 * keepalive timeout) costs an HMAC instead of a ~35 ms scrypt. An entry is
 * HMAC-SHA256(random per-process key, deviceId NUL password) and is valid only while the device's
 * stored scrypt hash is unchanged (a re-added device gets a new salt) and for `ttlMs`.
 * Enabled/disabled state is never cached: it is read from LMDB on every login.
 * Only successes are cached, so unknown devices and wrong passwords always pay for scrypt.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ScryptCredential } from './format/device-record-v1.ts';

export const LOGIN_CACHE_TTL_MS = 15 * 60_000;
export const LOGIN_CACHE_MAX = 50_000;

interface Entry {
  mac: Buffer;
  /** The stored scrypt hash this login was verified against. */
  hash: Buffer;
  expires: number;
}

export class VerifiedLoginCache {
  readonly #key = randomBytes(32);
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #max: number;

  constructor(now: () => number = Date.now, ttlMs = LOGIN_CACHE_TTL_MS, max = LOGIN_CACHE_MAX) {
    this.#now = now;
    this.#ttlMs = ttlMs;
    this.#max = max;
  }

  #mac(deviceId: string, password: Buffer): Buffer {
    return createHmac('sha256', this.#key).update(deviceId).update('\u0000').update(password).digest();
  }

  has(deviceId: string, password: Buffer, cred: ScryptCredential): boolean {
    const e = this.#entries.get(deviceId);
    if (e === undefined) return false;
    if (e.expires <= this.#now() || !e.hash.equals(cred.hash)) {
      this.#entries.delete(deviceId);
      return false;
    }
    return timingSafeEqual(e.mac, this.#mac(deviceId, password));
  }

  remember(deviceId: string, password: Buffer, cred: ScryptCredential): void {
    this.#entries.delete(deviceId);
    this.#entries.set(deviceId, {
      mac: this.#mac(deviceId, password),
      hash: Buffer.from(cred.hash),
      expires: this.#now() + this.#ttlMs,
    });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  forget(deviceId: string): void {
    this.#entries.delete(deviceId);
  }

  get size(): number {
    return this.#entries.size;
  }
}
