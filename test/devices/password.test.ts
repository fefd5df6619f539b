import { describe, expect, test } from 'vitest';
import {
  dummyCredential,
  hashPassword,
  SCRYPT_DEFAULTS,
  verifyPassword,
} from '../../src/devices/password.ts';

describe('devices › scrypt credentials', () => {
  test('verifies the RFC 7914 test vector (N=16384, r=8, p=1) and rejects a one-bit change', async () => {
    const hash = Buffer.from(
      '7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2' +
        'd5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887',
      'hex',
    );
    const cred = {
      alg: 'scrypt' as const,
      N: 16384,
      r: 8,
      p: 1,
      len: 64,
      salt: Buffer.from('SodiumChloride'),
      hash,
    };
    expect(await verifyPassword(Buffer.from('pleaseletmein'), cred)).toBe(true);
    expect(await verifyPassword(Buffer.from('pleaseletmeim'), cred)).toBe(false);
    const flipped = Buffer.from(hash);
    flipped[63] = (flipped[63] ?? 0) ^ 1;
    expect(await verifyPassword(Buffer.from('pleaseletmein'), { ...cred, hash: flipped })).toBe(false);
  });

  test('hashes with the default cost, a random 16-byte salt, and verifies only the same password', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    expect({ N: a.N, r: a.r, p: a.p, len: a.len }).toEqual(SCRYPT_DEFAULTS);
    expect(a.salt.length).toBe(16);
    expect(a.salt.equals(b.salt)).toBe(false);
    expect(a.hash.equals(b.hash)).toBe(false);
    expect(await verifyPassword(Buffer.from('correct horse'), a)).toBe(true);
    expect(await verifyPassword(Buffer.from('correct horse'), b)).toBe(true);
    expect(await verifyPassword(Buffer.from('correct horsE'), a)).toBe(false);
    expect(await verifyPassword(Buffer.alloc(0), a)).toBe(false);
  });

  test('verifies a hash made with other stored cost parameters', async () => {
    const cred = await hashPassword('pw', { N: 1024, r: 4, p: 2, len: 48 });
    expect(cred.hash.length).toBe(48);
    expect(await verifyPassword(Buffer.from('pw'), cred)).toBe(true);
    expect(await verifyPassword(Buffer.from('pw'), { ...cred, N: 2048 })).toBe(false);
  });

  test('the dummy credential matches no password, not even an empty one', async () => {
    const dummy = dummyCredential();
    expect(await verifyPassword(Buffer.alloc(0), dummy)).toBe(false);
    expect(await verifyPassword(Buffer.from('x'), dummy)).toBe(false);
  });
});
