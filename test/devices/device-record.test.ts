import { describe, expect, test } from 'vitest';
import {
  type DeviceRecord,
  decodeDeviceRecord,
  encodeDeviceRecord,
} from '../../src/devices/format/device-record-v1.ts';
import { isOutpostError } from '../../src/errors.ts';

const full: DeviceRecord = {
  id: 'v1',
  enabled: true,
  cred: {
    alg: 'scrypt',
    N: 16384,
    r: 8,
    p: 1,
    len: 4,
    salt: Buffer.from([0, 1, 2, 3]),
    hash: Buffer.from([0xff, 0xfe, 0xfd, 0xfc]),
  },
  certCn: 'v1.fleet.example',
  overrides: { topics: ['extra/+/x'], rate: { perSecond: 10, burst: 20 } },
  createdAt: 1700000000000,
  updatedAt: 1700000000001,
};

const bare: DeviceRecord = {
  id: 'stb-9',
  enabled: false,
  cred: null,
  certCn: 'stb-9',
  overrides: null,
  createdAt: 5,
  updatedAt: 6,
};

describe('devices › record format v1', () => {
  test('round-trips a record with every field set', () => {
    expect(decodeDeviceRecord(encodeDeviceRecord(full))).toEqual(full);
  });

  test('round-trips a record with only a certificate CN', () => {
    expect(decodeDeviceRecord(encodeDeviceRecord(bare))).toEqual(bare);
  });

  test('encodes to the documented fixed bytes: version byte 0x01 then JSON in fixed key order', () => {
    const expected = Buffer.concat([
      Buffer.from([0x01]),
      Buffer.from(
        '{"id":"v1","enabled":true,"cred":{"alg":"scrypt","N":16384,"r":8,"p":1,"len":4,' +
          '"salt":"AAECAw==","hash":"//79/A=="},"certCn":"v1.fleet.example",' +
          '"overrides":{"topics":["extra/+/x"],"rate":{"perSecond":10,"burst":20}},' +
          '"createdAt":1700000000000,"updatedAt":1700000000001}',
        'utf8',
      ),
    ]);
    expect(encodeDeviceRecord(full).equals(expected)).toBe(true);
    expect(decodeDeviceRecord(expected)).toEqual(full);
  });

  test('refuses another format version with FORMAT_UNSUPPORTED', () => {
    const bytes = encodeDeviceRecord(bare);
    bytes[0] = 2;
    expect(() => decodeDeviceRecord(bytes, 'stb-9')).toThrow(
      expect.objectContaining({ code: 'FORMAT_UNSUPPORTED', fields: { deviceId: 'stb-9' } }),
    );
  });

  test('refuses truncated or malformed bytes with RECORD_CORRUPT', () => {
    const bytes = encodeDeviceRecord(full);
    for (const bad of [
      bytes.subarray(0, 1),
      bytes.subarray(0, bytes.length - 3),
      Buffer.concat([Buffer.from([1]), Buffer.from('{"id":"x","enabled":"yes"}')]),
    ]) {
      let caught: unknown;
      try {
        decodeDeviceRecord(bad);
      } catch (err) {
        caught = err;
      }
      expect(isOutpostError(caught, 'RECORD_CORRUPT')).toBe(true);
    }
  });
});
