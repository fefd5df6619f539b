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
