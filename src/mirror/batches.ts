/**
 * Turns log records into produce batches: adds the provenance headers and splits so that each
 * batch's estimated encoded size stays under `maxBytes` (which must not exceed the broker's
 * message.max.bytes, 1 MiB + 12 by default). The estimate is an upper bound of the Kafka
 * RecordBatch v2 encoding (KIP-98): a 61-byte batch header, and per record its varint length
 * (≤ 5), attributes (1), timestampDelta (≤ 10), offsetDelta (≤ 5), key and value with varint
 * lengths (≤ 5 each), header count (≤ 5) and each header key/value with varint lengths.
 */
import type { MessageToProduce } from '@platformatic/kafka';
import type { LogRecord } from '../log/index.ts';
import { HEADER_EDGE_ID, HEADER_EDGE_OFFSET } from './naming.ts';

/** A record ready for the producer (@platformatic/kafka's own message shape: no copy on send). */
export type OutMessage = MessageToProduce<Buffer, Buffer, Buffer, Buffer>;

export interface OutBatch {
  records: OutMessage[];
  /** Edge offsets, in order (contiguous unless retention punched a hole). */
  offsets: number[];
  /** Key + value + header bytes: what pacing and metrics count. */
  bytes: number;
  /** Upper bound of the encoded RecordBatch size. */
  encoded: number;
}

const BATCH_OVERHEAD = 61;
const RECORD_OVERHEAD = 5 + 1 + 10 + 5 + 5 + 5 + 5;
const HEADER_OVERHEAD = 10;
const ID_KEY = Buffer.from(HEADER_EDGE_ID);
const OFFSET_KEY = Buffer.from(HEADER_EDGE_OFFSET);

/**
 * Header key buffers by name: edge header names repeat (device.id, mqtt, …), so each is encoded once
 * instead of once per record. Bounded: past HEADER_KEYS_MAX names it stops caching.
 */
const headerKeys = new Map<string, Buffer>();
const HEADER_KEYS_MAX = 1024;
function headerKey(name: string): Buffer {
  let b = headerKeys.get(name);
  if (b === undefined) {
    b = Buffer.from(name);
    if (headerKeys.size < HEADER_KEYS_MAX) headerKeys.set(name, b);
  }
  return b;
}

/**
 * Builds the produce batches of one log read for remote `topic`/`partition`. Hot path (every
 * mirrored record): one message object and one header Map per record, handed to the producer as is.
 */
export function toOutBatches(
  batch: readonly LogRecord[],
  edgeId: string,
  maxBytes: number,
  topic = '',
  partition = 0,
): OutBatch[] {
  const idValue = Buffer.from(edgeId);
  const fixedHeaderBytes = ID_KEY.length + idValue.length + OFFSET_KEY.length;
  const out: OutBatch[] = [];
  let cur: OutBatch = { records: [], offsets: [], bytes: 0, encoded: BATCH_OVERHEAD };
  for (const r of batch) {
    const headers = new Map<Buffer, Buffer>();
    let hbytes = fixedHeaderBytes;
    let hcount = 2;
    for (const k in r.headers) {
      const v = r.headers[k] as Buffer;
      const kb = headerKey(k);
      headers.set(kb, v);
      hbytes += kb.length + v.length;
      hcount++;
    }
    const off = Buffer.from(String(r.offset), 'latin1');
    headers.set(ID_KEY, idValue);
    headers.set(OFFSET_KEY, off);
    hbytes += off.length;
    const bytes = r.value.length + (r.key?.length ?? 0) + hbytes;
    const encoded = RECORD_OVERHEAD + bytes + hcount * HEADER_OVERHEAD;
    if (cur.records.length > 0 && cur.encoded + encoded > maxBytes) {
      out.push(cur);
      cur = { records: [], offsets: [], bytes: 0, encoded: BATCH_OVERHEAD };
    }
    const m: OutMessage = { topic, partition, value: r.value, timestamp: BigInt(r.timestamp), headers };
    if (r.key) m.key = r.key;
    cur.records.push(m);
    cur.offsets.push(r.offset);
    cur.bytes += bytes;
    cur.encoded += encoded;
  }
  if (cur.records.length > 0) out.push(cur);
  return out;
}

/** Key + value + header bytes of one out record (what pacing and metrics count). */
function recordBytes(r: OutMessage): number {
  let n = (r.value?.length ?? 0) + (r.key?.length ?? 0);
  for (const [k, v] of r.headers as Map<Buffer, Buffer>) n += k.length + v.length;
  return n;
}

/**
 * Drops the records whose edge offsets already landed on the remote (<= maxEdge: found by an ack's
 * rescan, see ack-accounting.ts), so they are not sent again. Undefined when nothing is left.
 */
export function trimLanded(out: OutBatch, maxEdge: number): OutBatch | undefined {
  if ((out.offsets[0] as number) > maxEdge) return out;
  const keep = out.offsets.findIndex((o) => o > maxEdge);
  if (keep < 0) return undefined;
  const records = out.records.slice(keep);
  const bytes = records.reduce((n, r) => n + recordBytes(r), 0);
  const dropped = out.records.slice(0, keep).reduce((n, r) => n + recordBytes(r), 0);
  return {
    records,
    offsets: out.offsets.slice(keep),
    bytes,
    encoded: out.encoded - dropped - keep * (RECORD_OVERHEAD + 2 * HEADER_OVERHEAD),
  };
}
