/**
 * Stored device record, format version 1 (value of the `devices` LMDB store, key = device id).
 *
 *   byte 0        format version, 0x01
 *   bytes 1..n    UTF-8 JSON object, keys always in this order:
 *     "id":        string                      device id
 *     "enabled":   boolean
 *     "cred":      null | {                    password credential (never the plaintext)
 *                    "alg": "scrypt",
 *                    "N": int, "r": int, "p": int,   scrypt cost parameters used for THIS hash
 *                    "len": int,                     derived key length (bytes)
 *                    "salt": base64,                 random per-device salt (16 bytes)
 *                    "hash": base64 }                scrypt(password, salt, len, {N, r, p})
 *     "certCn":    null | string               extra accepted TLS client cert CN/SAN
 *     "overrides": null | { "topics": null | string[],
 *                           "rate": null | { "perSecond": int, "burst": int } }
 *     "createdAt": int                         epoch ms
 *     "updatedAt": int                         epoch ms
 *
 * Parameters travel with each hash so the defaults can be raised later without invalidating
 * stored credentials. A reader meeting another version byte refuses with FORMAT_UNSUPPORTED.
 */
import { z } from 'zod';
import { OutpostError } from '../../errors.ts';

export const DEVICE_RECORD_VERSION = 1;

export interface ScryptCredential {
  alg: 'scrypt';
  N: number;
  r: number;
  p: number;
  len: number;
  salt: Buffer;
  hash: Buffer;
}

export interface DeviceRecord {
  id: string;
  enabled: boolean;
  cred: ScryptCredential | null;
  certCn: string | null;
  overrides: {
    topics: string[] | null;
    rate: { perSecond: number; burst: number } | null;
  } | null;
  createdAt: number;
  updatedAt: number;
}

const int = z.number().int().nonnegative();
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

const recordJson = z
  .object({
    id: z.string().min(1),
    enabled: z.boolean(),
    cred: z
      .object({
        alg: z.literal('scrypt'),
        N: int,
        r: int,
        p: int,
        len: int,
        salt: base64,
        hash: base64,
      })
      .strict()
      .nullable(),
    certCn: z.string().min(1).nullable(),
    overrides: z
      .object({
        topics: z.array(z.string().min(1)).nullable(),
        rate: z.object({ perSecond: int, burst: int }).strict().nullable(),
      })
      .strict()
      .nullable(),
    createdAt: int,
    updatedAt: int,
  })
  .strict();

export function encodeDeviceRecord(rec: DeviceRecord): Buffer {
  // Built field by field so the key order (and therefore the bytes) is fixed.
  const json = {
    id: rec.id,
    enabled: rec.enabled,
    cred:
      rec.cred === null
        ? null
        : {
            alg: rec.cred.alg,
            N: rec.cred.N,
            r: rec.cred.r,
            p: rec.cred.p,
            len: rec.cred.len,
            salt: rec.cred.salt.toString('base64'),
            hash: rec.cred.hash.toString('base64'),
          },
    certCn: rec.certCn,
    overrides:
      rec.overrides === null
        ? null
        : {
            topics: rec.overrides.topics === null ? null : [...rec.overrides.topics],
            rate:
              rec.overrides.rate === null
                ? null
                : { perSecond: rec.overrides.rate.perSecond, burst: rec.overrides.rate.burst },
          },
    createdAt: rec.createdAt,
    updatedAt: rec.updatedAt,
  };
  const body = Buffer.from(JSON.stringify(json), 'utf8');
  const out = Buffer.allocUnsafe(1 + body.length);
  out[0] = DEVICE_RECORD_VERSION;
  body.copy(out, 1);
  return out;
}

export function decodeDeviceRecord(bytes: Uint8Array, key?: string): DeviceRecord {
  const fields = key === undefined ? {} : { deviceId: key };
  if (bytes.length < 2) {
    throw new OutpostError('RECORD_CORRUPT', 'device record is truncated', fields);
  }
  if (bytes[0] !== DEVICE_RECORD_VERSION) {
    throw new OutpostError(
      'FORMAT_UNSUPPORTED',
      `device record format version ${bytes[0]} is not supported (this build reads ${DEVICE_RECORD_VERSION}); upgrade Outpost`,
      fields,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 1, bytes.length - 1).toString('utf8'));
  } catch (cause) {
    throw new OutpostError('RECORD_CORRUPT', 'device record is not valid JSON', { ...fields, cause });
  }
  const parsed = recordJson.safeParse(raw);
  if (!parsed.success) {
    throw new OutpostError('RECORD_CORRUPT', `device record is malformed: ${parsed.error.message}`, fields);
  }
  const j = parsed.data;
  return {
    id: j.id,
    enabled: j.enabled,
    cred:
      j.cred === null
        ? null
        : {
            alg: 'scrypt',
            N: j.cred.N,
            r: j.cred.r,
            p: j.cred.p,
            len: j.cred.len,
            salt: Buffer.from(j.cred.salt, 'base64'),
            hash: Buffer.from(j.cred.hash, 'base64'),
          },
    certCn: j.certCn,
    overrides: j.overrides,
    createdAt: j.createdAt,
    updatedAt: j.updatedAt,
  };
}
