import { describe, expect, test } from 'vitest';
import { decodeBytes, encodeBytes, recordToJson } from '../../src/cli/record-json.ts';

describe('cli › record rendering', () => {
  test.each([
    ['ASCII', Buffer.from('hello'), 'utf8'],
    ['multi-byte UTF-8', Buffer.from('Grüße ✓ 🚗'), 'utf8'],
    ['empty', Buffer.alloc(0), 'utf8'],
    ['NUL and control bytes (valid UTF-8)', Buffer.from([0x00, 0x01, 0x1b]), 'utf8'],
    ['a lone continuation byte', Buffer.from([0x80]), 'base64'],
    ['a truncated sequence', Buffer.from([0xe2, 0x82]), 'base64'],
    ['an overlong encoding of "/"', Buffer.from([0xc0, 0xaf]), 'base64'],
    ['an encoded UTF-16 surrogate', Buffer.from([0xed, 0xa0, 0x80]), 'base64'],
    ['0xff', Buffer.from([0xff]), 'base64'],
  ] as const)('cli › %s is rendered as %s… and decodes back to the same bytes', (_, bytes, encoding) => {
    const e = encodeBytes(bytes);
    expect(e.encoding).toBe(encoding);
    expect(decodeBytes(e.text, e.encoding)).toEqual(bytes);
  });

  test('cli › a record without a key renders key and keyEncoding as null', () => {
    const j = recordToJson({
      topic: 't',
      partition: 2,
      offset: 7,
      timestamp: 5,
      key: null,
      headers: {},
      value: Buffer.from('v'),
    });
    expect(j).toEqual({
      topic: 't',
      partition: 2,
      offset: 7,
      timestamp: 5,
      key: null,
      keyEncoding: null,
      headers: {},
      headerEncodings: {},
      value: 'v',
      valueEncoding: 'utf8',
    });
  });
});
