/**
 * From stored log entries to the record batches a link sends (one per produce request and
 * partition; Kafka takes exactly one batch per partition in a Produce request v3+):
 *
 *   forward  → a stored record-v2 batch stamped with our edge id (its records carry
 *              `outpost.edge.id` / `outpost.edge.offset` already), whole, in the link's codec and
 *              within batch.maxBytes, is sent as it is: the raw producer only rewrites baseOffset,
 *              the producer fields and the CRC (wire/batch-rewrite.ts forProducer)
 *   coalesce → consecutive small forwardable batches become one (rewritten deltas; recompressed
 *              once when compressed), up to batch.maxBytes stored bytes and batch.maxRecords
 *   recode   → anything else is decoded and sealed again with our stamp, split by the same limits:
 *              record-v1 entries (0.1.0 logs), batches written before stamps or under another
 *              edge id, a start inside a batch (a resume or a rescan that found part of it landed),
 *              a batch above batch.maxBytes, or a link whose codec differs (recompress once)
 *
 * Offsets inside an entry are dense and entries leave no gaps, so every outgoing batch covers one
 * dense run of edge offsets.
 */
import {
  type Compression,
  decodeBatch,
  decodeRecord,
  encodeBatch,
  peekBatch,
  recordSizeV2,
  type Stamp,
  type StoredEntry,
} from '../../log/index.ts';
import { coalesce, recompress } from '../wire/batch-rewrite.ts';

export type LinkCodec = Compression | 'stored';

/**
 * Bytes a record may grow by when it moves into a coalesced batch: its offsetDelta (up to 4 more
 * varint bytes for any int32), its timestampDelta (up to 5 more for
 * deltas of days) and its length varint (1 more). Coalescing stops where the stored bytes plus this
 * per record would pass batch.maxBytes, so the batch the broker gets stays within it.
 */
const COALESCE_GROWTH = 10;

export interface WireBatch {
  /** record-v2 bytes (any baseOffset and producer fields: the raw producer sets them). */
  batch: Buffer;
  /** Edge offsets, dense, in order. */
  offsets: number[];
  /** Bytes on the wire: what pacing and the bytes metric count. */
  bytes: number;
  /** = bytes: what a MESSAGE_TOO_LARGE report names. */
  encoded: number;
  how: 'forwarded' | 'coalesced' | 'recoded';
  /** The entries it came from (a trim re-plans from them). */
  entries: StoredEntry[];
}

export interface ForwardContext {
  edgeId: string;
  stamp: Stamp;
  maxBytes: number;
  maxRecords: number;
  codec: LinkCodec;
}

export function forwardContext(
  edgeId: string,
  batch: { maxBytes: number; maxRecords: number },
  codec: LinkCodec,
): ForwardContext {
  return { edgeId, stamp: { id: Buffer.from(edgeId) }, ...batch, codec };
}

function range(from: number, count: number): number[] {
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = from + i;
  return out;
}

function compressionOf(e: StoredEntry): Compression {
  return e.format === 2 ? peekBatch(e.value).compression : 'none';
}

function forwardable(e: StoredEntry, from: number, to: number, ctx: ForwardContext): boolean {
  if (e.format !== 2 || e.stampId !== ctx.edgeId || e.baseOffset < from) return false;
  if (e.baseOffset + e.count > to) return false;
  if (e.value.length > ctx.maxBytes || e.count > ctx.maxRecords) return false;
  return ctx.codec === 'stored' || compressionOf(e) === ctx.codec;
}

/** The wire batches of `entries` for edge offsets [from, to), in offset order. */
export function planBatches(
  entries: readonly StoredEntry[],
  from: number,
  ctx: ForwardContext,
  to = Number.POSITIVE_INFINITY,
): WireBatch[] {
  const out: WireBatch[] = [];
  let group: StoredEntry[] = [];
  let groupBytes = 0;
  let groupRecords = 0;
  const flush = () => {
    if (group.length === 0) return;
    out.push(...fromGroup(group, ctx));
    group = [];
    groupBytes = 0;
    groupRecords = 0;
  };
  for (const e of entries) {
    if (e.baseOffset + e.count <= from) continue;
    if (e.baseOffset >= to) break;
    if (!forwardable(e, from, to, ctx)) {
      flush();
      out.push(...recode(e, from, to, ctx));
      continue;
    }
    const codec = compressionOf(e);
    const mixed = group.length > 0 && compressionOf(group[0] as StoredEntry) !== codec;
    const records = groupRecords + e.count;
    const bound = groupBytes + e.value.length + records * COALESCE_GROWTH;
    if (mixed || bound > ctx.maxBytes || records > ctx.maxRecords) flush();
    group.push(e);
    groupBytes += e.value.length;
    groupRecords += e.count;
  }
  flush();
  return out;
}

function fromGroup(group: StoredEntry[], ctx: ForwardContext): WireBatch[] {
  const first = group[0] as StoredEntry;
  const count = group.reduce((n, e) => n + e.count, 0);
  const batch = group.length === 1 ? first.value : coalesce(group.map((e) => e.value));
  // Compression of the whole can come out larger than the bound foresaw: send them one by one.
  if (batch.length > ctx.maxBytes && group.length > 1) return group.flatMap((e) => fromGroup([e], ctx));
  return [
    {
      batch,
      offsets: range(first.baseOffset, count),
      bytes: batch.length,
      encoded: batch.length,
      how: group.length === 1 ? 'forwarded' : 'coalesced',
      entries: group,
    },
  ];
}

/** Decodes one entry (from `from` on) and seals its records again with our stamp, within the limits. */
function recode(e: StoredEntry, from: number, to: number, ctx: ForwardContext): WireBatch[] {
  const stored = compressionOf(e);
  const codec = ctx.codec === 'stored' ? stored : ctx.codec;
  const whole = e.baseOffset >= from && e.baseOffset + e.count <= to;
  if (
    e.format === 2 &&
    e.stampId === ctx.edgeId &&
    whole &&
    e.value.length <= ctx.maxBytes &&
    e.count <= ctx.maxRecords
  ) {
    // Whole, ours, within the limits: only the codec differs. Recompressed once.
    const batch = recompress(e.value, codec);
    return [
      {
        batch,
        offsets: range(e.baseOffset, e.count),
        bytes: batch.length,
        encoded: batch.length,
        how: 'recoded',
        entries: [e],
      },
    ];
  }
  const records =
    e.format === 2
      ? decodeBatch(e.value, { unstamped: true })
      : [{ offset: e.baseOffset, ...decodeRecord(e.value) }];
  const out: WireBatch[] = [];
  let run: typeof records = [];
  let size = 61;
  const seal = () => {
    if (run.length === 0) return;
    const base = (run[0] as { offset: number }).offset;
    const batch = encodeBatch(base, run, codec, ctx.stamp);
    out.push({
      batch,
      offsets: range(base, run.length),
      bytes: batch.length,
      encoded: batch.length,
      how: 'recoded',
      entries: [e],
    });
    run = [];
    size = 61;
  };
  for (const r of records) {
    if (r.offset < from) continue;
    if (r.offset >= to) break;
    // Upper bound of the record's size in a batch (deltas up to 10 + 5 varint bytes).
    const bytes = recordSizeV2(r, 0, 0, ctx.stamp) + 14;
    if (run.length > 0 && (size + bytes > ctx.maxBytes || run.length >= ctx.maxRecords)) seal();
    run.push(r);
    size += bytes;
  }
  seal();
  return out;
}

/**
 * Drops the edge offsets that already landed on the remote (≤ maxEdge: found by an ack's rescan),
 * so they are not sent again: the batch is planned again from the first new offset. Undefined when
 * nothing is left.
 */
export function trimLanded(out: WireBatch, maxEdge: number, ctx: ForwardContext): WireBatch[] | undefined {
  if ((out.offsets[0] as number) > maxEdge) return [out];
  const last = out.offsets[out.offsets.length - 1] as number;
  if (last <= maxEdge) return undefined;
  return planBatches(out.entries, maxEdge + 1, ctx, last + 1);
}
