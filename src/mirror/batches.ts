/**
 * Turns log records into produce batches: adds the provenance headers and splits so that each
 * batch's estimated encoded size stays under `maxBytes` (which must not exceed the broker's
 * message.max.bytes, 1 MiB + 12 by default). The estimate is an upper bound of the Kafka
 * RecordBatch v2 encoding (KIP-98): a 61-byte batch header, and per record its varint length
 * (≤ 5), attributes (1), timestampDelta (≤ 10), offsetDelta (≤ 5), key and value with varint
 * lengths (≤ 5 each), header count (≤ 5) and each header key/value with varint lengths.
 */
import type { LogRecord } from '../log/index.ts';
import { HEADER_EDGE_ID, HEADER_EDGE_OFFSET } from './naming.ts';
import type { OutRecord } from './remote.ts';

export interface OutBatch {
  records: OutRecord[];
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

export function toOutBatches(batch: readonly LogRecord[], edgeId: string, maxBytes: number): OutBatch[] {
  const idKey = Buffer.from(HEADER_EDGE_ID);
  const offKey = Buffer.from(HEADER_EDGE_OFFSET);
  const idValue = Buffer.from(edgeId);
  const out: OutBatch[] = [];
  let cur: OutBatch = { records: [], offsets: [], bytes: 0, encoded: BATCH_OVERHEAD };
  for (const r of batch) {
    const headers = new Map<Buffer, Buffer>();
    let hbytes = 0;
    let hcount = 0;
    for (const [k, v] of Object.entries(r.headers)) {
      headers.set(Buffer.from(k), v);
      hbytes += Buffer.byteLength(k) + v.length;
      hcount++;
    }
    const off = Buffer.from(String(r.offset));
    headers.set(idKey, idValue);
    headers.set(offKey, off);
    hbytes += idKey.length + idValue.length + offKey.length + off.length;
    hcount += 2;
    const bytes = r.value.length + (r.key?.length ?? 0) + hbytes;
    const encoded = RECORD_OVERHEAD + bytes + hcount * HEADER_OVERHEAD;
    if (cur.records.length > 0 && cur.encoded + encoded > maxBytes) {
      out.push(cur);
      cur = { records: [], offsets: [], bytes: 0, encoded: BATCH_OVERHEAD };
    }
    cur.records.push({ key: r.key, value: r.value, timestamp: r.timestamp, headers });
    cur.offsets.push(r.offset);
    cur.bytes += bytes;
    cur.encoded += encoded;
  }
  if (cur.records.length > 0) out.push(cur);
  return out;
}

/** Key + value + header bytes of one out record (what pacing and metrics count). */
function recordBytes(r: OutRecord): number {
  let n = r.value.length + (r.key?.length ?? 0);
  for (const [k, v] of r.headers) n += k.length + v.length;
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
