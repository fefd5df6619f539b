import { isUtf8 } from 'node:buffer';
import type { LogRecord } from '../log/index.ts';

/** How `outpost log read` renders bytes: UTF-8 text when the bytes are valid UTF-8, else base64. */
export type Encoding = 'utf8' | 'base64';

export interface RecordJson {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  keyEncoding: Encoding | null;
  headers: Record<string, string>;
  headerEncodings: Record<string, Encoding>;
  value: string;
  valueEncoding: Encoding;
}

export function encodeBytes(b: Buffer): { text: string; encoding: Encoding } {
  return isUtf8(b)
    ? { text: b.toString('utf8'), encoding: 'utf8' }
    : { text: b.toString('base64'), encoding: 'base64' };
}

/** Inverse of encodeBytes. */
export function decodeBytes(text: string, encoding: Encoding): Buffer {
  return Buffer.from(text, encoding);
}

export function recordToJson(r: LogRecord): RecordJson {
  const key = r.key === null ? null : encodeBytes(r.key);
  const value = encodeBytes(r.value);
  const headers: Record<string, string> = {};
  const headerEncodings: Record<string, Encoding> = {};
  for (const [name, v] of Object.entries(r.headers)) {
    const e = encodeBytes(v);
    headers[name] = e.text;
    headerEncodings[name] = e.encoding;
  }
  return {
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    timestamp: r.timestamp,
    key: key?.text ?? null,
    keyEncoding: key?.encoding ?? null,
    headers,
    headerEncodings,
    value: value.text,
    valueEncoding: value.encoding,
  };
}
