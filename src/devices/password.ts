/**
 * Password credentials: scrypt (RFC 7914) from node:crypto with a random per-device salt; the cost
 * parameters are stored with each hash, and comparison is constant time (timingSafeEqual).
 */
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import type { ScryptCredential } from './format/device-record-v1.ts';

/** Cost for new hashes: N=2^14, r=8 (16 MiB, tens of ms per login). Raise here; old hashes keep theirs. */
export const SCRYPT_DEFAULTS = { N: 16_384, r: 8, p: 1, len: 32 } as const;
export const SALT_BYTES = 16;
/** Refuse absurd stored parameters instead of allocating gigabytes. */
const MAX_SCRYPT_MEM = 256 * 1024 ** 2;

/**
 * scrypt runs on libuv's thread pool (4 threads by default), which file I/O shares. At most this
 * many run at once; a login storm queues here instead of starving the pool.
 */
export const SCRYPT_CONCURRENCY = 2;
let running = 0;
const waiting: Array<() => void> = [];

async function scryptAsync(
  password: Buffer,
  salt: Buffer,
  len: number,
  opts: ScryptOptions,
): Promise<Buffer> {
  if (running >= SCRYPT_CONCURRENCY) await new Promise<void>((go) => waiting.push(go));
  running++;
  try {
    return await new Promise((resolve, reject) => {
      scrypt(password, salt, len, opts, (err, key) => (err ? reject(err) : resolve(key)));
    });
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function costOptions(c: { N: number; r: number; p: number }): ScryptOptions {
  // scrypt needs ~128*N*r bytes; leave headroom, capped.
  return { N: c.N, r: c.r, p: c.p, maxmem: Math.min(MAX_SCRYPT_MEM, 256 * c.N * c.r + 1024 ** 2) };
}

export async function hashPassword(
  password: string | Buffer,
  cost: { N: number; r: number; p: number; len: number } = SCRYPT_DEFAULTS,
): Promise<ScryptCredential> {
  const salt = randomBytes(SALT_BYTES);
  const pw = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  const hash = await scryptAsync(pw, salt, cost.len, costOptions(cost));
  return { alg: 'scrypt', N: cost.N, r: cost.r, p: cost.p, len: cost.len, salt, hash };
}

/** True when `password` hashes to `cred.hash`. Never throws for a wrong password. */
export async function verifyPassword(password: Buffer, cred: ScryptCredential): Promise<boolean> {
  const key = await scryptAsync(password, cred.salt, cred.len, costOptions(cred));
  return key.length === cred.hash.length && timingSafeEqual(key, cred.hash);
}

/**
 * A credential no password matches (random "hash"), with the default cost: unknown devices and
 * password-less devices are checked against it so refusals take as long as a real verification
 * and do not reveal whether the device exists.
 */
export function dummyCredential(): ScryptCredential {
  return {
    alg: 'scrypt',
    ...SCRYPT_DEFAULTS,
    salt: randomBytes(SALT_BYTES),
    hash: randomBytes(SCRYPT_DEFAULTS.len),
  };
}
