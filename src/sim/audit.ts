import type { AckedRecord, DeviceAcks } from './acked-file.ts';
import { countRanges, formatRanges, RangeSet } from './ranges.ts';

/** One delivered message as the audit sees it: where it sits, and which device/seq it carries. */
export interface AuditRecord {
  deviceId: string;
  seq: number;
  run: string;
  topic: string;
  partition: number;
  offset: number;
}

export interface AuditOptions {
  /** The simulator's acked file: every acked seq must be present; retried seqs may appear twice. */
  acked?: AckedRecord;
  /** Only audit this run id (default: the acked file's run, or every run). */
  run?: string;
  /** How many offending devices/offsets to keep per kind (default 5). */
  maxExamples?: number;
  /**
   * Whether a device's seq belongs to what is being read (e.g. its message was routed to one of
   * the audited log topics). Seqs outside are not expected: never lost, never a gap. Default: all.
   */
  inScope?: (deviceId: string, seq: number) => boolean;
}

export interface Location {
  topic: string;
  partition: number;
  offset: number;
}

export interface AuditReport {
  verdict: 'pass' | 'fail';
  /** Why the verdict is fail, one short phrase per kind of problem. */
  reasons: string[];
  records: number;
  devices: number;
  /** Records from another run (skipped) and records that are not simulator payloads (skipped). */
  skipped: { otherRun: number; foreign: number };
  runs: string[];
  /** Acked seqs missing from what was read (only with an acked file). */
  lost: number;
  /** Missing seqs no acked file explains (fail without an acked file). */
  gaps: number;
  /** A new seq that arrived after a higher one of the same device on the same topic-partition. */
  reordered: number;
  duplicates: { expected: number; unexpected: number };
  /** Missing seqs that were never acknowledged: QoS 0, or in flight when the run ended. Not a failure. */
  tolerated: { qos0Missing: number; unackedMissing: number };
  /** Acknowledged seqs routed to topics this audit does not read (not checked). */
  outOfScope: number;
  /** Number of acked seqs checked against what was read, or null without an acked file. */
  ackedChecked: number | null;
  examples: {
    lost: Array<{ deviceId: string; seqs: string }>;
    gaps: Array<{ deviceId: string; seqs: string }>;
    reordered: Array<{ deviceId: string; seq: number; afterSeq: number } & Location>;
    unexpectedDuplicates: Array<{ deviceId: string; seq: number } & Location>;
  };
}

interface DeviceState {
  seen: RangeSet;
  /** Highest seq per "topic/partition" stream of this device (order is only defined within one). */
  maxByStream: Map<string, number>;
}

/**
 * Streaming delivery audit over (deviceId, seq, offset) records, in log order per partition.
 * Pipeline per record: filterRun → duplicateCheck → orderCheck → markSeen; then at `finish()`:
 * presenceCheck (acked ⊆ seen) → gapClassification → verdict.
 */
export class Auditor {
  readonly #opts: AuditOptions;
  readonly #run: string | undefined;
  readonly #max: number;
  readonly #devices = new Map<string, DeviceState>();
  readonly #runs = new Set<string>();
  #records = 0;
  #otherRun = 0;
  #foreign = 0;
  #reordered = 0;
  #dupExpected = 0;
  #dupUnexpected = 0;
  readonly #exReordered: AuditReport['examples']['reordered'] = [];
  readonly #exDup: AuditReport['examples']['unexpectedDuplicates'] = [];

  constructor(opts: AuditOptions = {}) {
    this.#opts = opts;
    this.#run = opts.run ?? opts.acked?.run;
    this.#max = opts.maxExamples ?? 5;
  }

  /** A record that is not a simulator payload (not JSON, no deviceId/seq). Counted, not judged. */
  foreign(): void {
    this.#foreign++;
  }

  add(rec: AuditRecord): void {
    this.#runs.add(rec.run);
    if (this.#run !== undefined && rec.run !== this.#run) {
      this.#otherRun++;
      return;
    }
    this.#records++;
    let dev = this.#devices.get(rec.deviceId);
    if (dev === undefined) {
      dev = { seen: new RangeSet(), maxByStream: new Map() };
      this.#devices.set(rec.deviceId, dev);
    }
    // duplicateCheck: a seq seen before. Expected only if the simulator re-sent it after a drop.
    if (dev.seen.has(rec.seq)) {
      if (this.#opts.acked?.devices.get(rec.deviceId)?.retried.has(rec.seq)) {
        this.#dupExpected++;
      } else {
        this.#dupUnexpected++;
        if (this.#exDup.length < this.#max) this.#exDup.push(pick(rec));
      }
      return;
    }
    // orderCheck: a new seq below the highest one already delivered on the same stream.
    const stream = `${rec.topic}/${rec.partition}`;
    const maxSeq = dev.maxByStream.get(stream) ?? 0;
    if (rec.seq < maxSeq) {
      this.#reordered++;
      if (this.#exReordered.length < this.#max) this.#exReordered.push({ ...pick(rec), afterSeq: maxSeq });
    } else {
      dev.maxByStream.set(stream, rec.seq);
    }
    dev.seen.add(rec.seq);
  }

  finish(): AuditReport {
    const acked = this.#opts.acked;
    const exLost: AuditReport['examples']['lost'] = [];
    const exGaps: AuditReport['examples']['gaps'] = [];
    let lost = 0;
    let gaps = 0;
    let qos0Missing = 0;
    let unackedMissing = 0;
    let outOfScope = 0;
    let ackedChecked: number | null = acked ? 0 : null;
    const ids = new Set([...this.#devices.keys(), ...(acked ? acked.devices.keys() : [])]);
    for (const id of [...ids].sort()) {
      const seen = this.#devices.get(id)?.seen ?? new RangeSet();
      const acks: DeviceAcks | undefined = acked?.devices.get(id);
      // presenceCheck: every acknowledged seq must have been read.
      const inScope = this.#opts.inScope;
      if (acks) {
        let missing = acks.acked.missingFrom(seen);
        let checked = acks.acked.size;
        if (inScope) {
          const kept: Array<[number, number]> = [];
          for (const [lo, hi] of missing) {
            for (let s = lo; s <= hi; s++) {
              if (!inScope(id, s)) continue;
              const last = kept.at(-1);
              if (last && last[1] === s - 1) last[1] = s;
              else kept.push([s, s]);
            }
          }
          missing = kept;
          for (const [lo, hi] of acks.acked.ranges()) {
            for (let s = lo; s <= hi; s++) if (!inScope(id, s)) checked--;
          }
          outOfScope += acks.acked.size - checked;
        }
        ackedChecked = (ackedChecked ?? 0) + checked;
        const n = countRanges(missing);
        if (n > 0) {
          lost += n;
          if (exLost.length < this.#max)
            exLost.push({ deviceId: id, seqs: formatRanges(missing.slice(0, 10)) });
        }
      }
      // gapClassification: holes in 1..max(seen) that acknowledgements do not cover.
      const top = Math.max(seen.max, acks ? Math.max(acks.acked.max, acks.qos0.max, acks.unacked.max) : 0);
      if (top === 0) continue;
      const all = new RangeSet();
      all.addRange(1, top);
      const holes: Array<[number, number]> = [];
      for (const [lo, hi] of all.missingFrom(seen)) {
        for (let s = lo; s <= hi; s++) {
          if (acks?.acked.has(s)) continue; // already counted as lost
          if (inScope && !inScope(id, s)) continue;
          if (acks?.qos0.has(s)) qos0Missing++;
          else if (acks && (acks.unacked.has(s) || acks.retried.has(s))) unackedMissing++;
          else {
            gaps++;
            const last = holes.at(-1);
            if (last && last[1] === s - 1) last[1] = s;
            else holes.push([s, s]);
          }
        }
      }
      if (holes.length > 0 && exGaps.length < this.#max) {
        exGaps.push({ deviceId: id, seqs: formatRanges(holes.slice(0, 10)) });
      }
    }
    const reasons: string[] = [];
    if (lost > 0) reasons.push(`${lost} acknowledged message(s) missing`);
    if (gaps > 0) reasons.push(`${gaps} sequence gap(s) no acknowledgement record explains`);
    if (this.#reordered > 0) reasons.push(`${this.#reordered} message(s) out of order`);
    if (this.#dupUnexpected > 0) reasons.push(`${this.#dupUnexpected} unexpected duplicate(s)`);
    if (acked && this.#records === 0 && (ackedChecked ?? 0) === 0) reasons.push('nothing to audit');
    return {
      verdict: reasons.length === 0 ? 'pass' : 'fail',
      reasons,
      records: this.#records,
      devices: ids.size,
      skipped: { otherRun: this.#otherRun, foreign: this.#foreign },
      runs: [...this.#runs].sort(),
      lost,
      gaps,
      reordered: this.#reordered,
      duplicates: { expected: this.#dupExpected, unexpected: this.#dupUnexpected },
      tolerated: { qos0Missing, unackedMissing },
      outOfScope,
      ackedChecked,
      examples: {
        lost: exLost,
        gaps: exGaps,
        reordered: this.#exReordered,
        unexpectedDuplicates: this.#exDup,
      },
    };
  }
}

/** Audits a whole stream at once (tests, small logs). */
export function audit(records: Iterable<AuditRecord>, opts: AuditOptions = {}): AuditReport {
  const a = new Auditor(opts);
  for (const r of records) a.add(r);
  return a.finish();
}

function pick(r: AuditRecord): { deviceId: string; seq: number } & Location {
  return { deviceId: r.deviceId, seq: r.seq, topic: r.topic, partition: r.partition, offset: r.offset };
}

/** A human-readable verdict: one headline, the counts, and the first few offenders. */
export function formatReport(r: AuditReport, source: string): string {
  const lines: string[] = [];
  lines.push(
    `audit of ${source}: ${r.verdict === 'pass' ? 'PASS' : 'FAIL'}${r.reasons.length ? ` (${r.reasons.join('; ')})` : ''}`,
  );
  lines.push(
    `  records ${r.records} from ${r.devices} device(s); acked checked ${r.ackedChecked ?? 'n/a (no --acked file)'}`,
  );
  lines.push(
    `  lost ${r.lost}, gaps ${r.gaps}, out of order ${r.reordered}, duplicates ${r.duplicates.unexpected} unexpected + ${r.duplicates.expected} expected (retries after a drop)`,
  );
  lines.push(
    `  tolerated missing: ${r.tolerated.qos0Missing} QoS 0, ${r.tolerated.unackedMissing} never acknowledged; skipped ${r.skipped.otherRun} from other runs, ${r.skipped.foreign} non-simulator records`,
  );
  if (r.outOfScope > 0)
    lines.push(`  ${r.outOfScope} acknowledged message(s) were routed to topics not audited here`);
  if (r.runs.length > 1) lines.push(`  runs seen: ${r.runs.join(', ')}`);
  for (const e of r.examples.lost) lines.push(`  LOST      ${e.deviceId} seq ${e.seqs}`);
  for (const e of r.examples.gaps) lines.push(`  GAP       ${e.deviceId} seq ${e.seqs}`);
  for (const e of r.examples.reordered) {
    lines.push(
      `  REORDER   ${e.deviceId} seq ${e.seq} after ${e.afterSeq} at ${e.topic}/${e.partition}@${e.offset}`,
    );
  }
  for (const e of r.examples.unexpectedDuplicates) {
    lines.push(`  DUPLICATE ${e.deviceId} seq ${e.seq} at ${e.topic}/${e.partition}@${e.offset}`);
  }
  return lines.join('\n');
}
