import type { CommandReceipt, CommandsRecord, ProducedCommand } from './commands.ts';

/** The gateway's word on one command, from its outcome record (commands.outcomesTopic). */
export type CommandOutcome = 'delivered' | 'queued' | 'expired' | 'rejected';

export interface DownlinkReport {
  verdict: 'pass' | 'fail';
  reasons: string[];
  devices: number;
  produced: number;
  /** Produced commands that reached their device (first receipt). */
  delivered: number;
  /**
   * A second receipt of a command: `redelivered` when it came with DUP set at QoS 1 (the gateway
   * re-sent a PUBLISH whose PUBACK it had not seen, after a drop: what QoS 1 allows); any other is
   * `unexpected` (failure).
   */
  duplicates: { redelivered: number; unexpected: number };
  /** Produced, not received, and not reported expired: failure. */
  missing: number;
  /** A command received for the first time after a later one of the same device: failure. */
  outOfOrder: number;
  /** Not received, with an `expired` outcome record. */
  expired: number;
  /**
   * Not received, outcome `queued`, and its TTL has ended: the gateway drops a queued copy whose
   * TTL ends before its session takes it (outpost_mqtt_session_dropped_total{reason="expired"}).
   * Not a failure, but the audit cannot tell it from a loss: audit TTL-less commands for that.
   */
  expiredQueued: number;
  /** Produced stale (timestamp older than the TTL) and yet received: failure. */
  deliveredStale: number;
  /** Not received, with a `rejected` outcome record: failure (the fleet's devices are all valid). */
  rejected: number;
  /** Received, never produced in this run: failure. */
  unknown: number;
  /** Outcome records read, or null when no outcomes topic was read. */
  outcomes: number | null;
  examples: {
    missing: Array<{ deviceId: string; ids: string[] }>;
    outOfOrder: Array<{ deviceId: string; seq: number; afterSeq: number }>;
    unexpectedDuplicates: Array<{ deviceId: string; id: string }>;
  };
}

interface Tally {
  r: DownlinkReport;
  max: number;
}

/** One device's receipts in arrival order: first receipts, duplicates, order, unknown ids. */
function checkReceipts(
  t: Tally,
  deviceId: string,
  produced: readonly ProducedCommand[],
  receipts: readonly CommandReceipt[],
): Set<string> {
  const byId = new Map(produced.map((c) => [c.id, c]));
  const seen = new Set<string>();
  let maxSeq = 0;
  for (const rec of receipts) {
    const c = byId.get(rec.id);
    if (c === undefined) {
      t.r.unknown++;
      continue;
    }
    if (seen.has(rec.id)) {
      if (rec.dup && rec.qos === 1) t.r.duplicates.redelivered++;
      else {
        t.r.duplicates.unexpected++;
        if (t.r.examples.unexpectedDuplicates.length < t.max)
          t.r.examples.unexpectedDuplicates.push({ deviceId, id: rec.id });
      }
      continue;
    }
    seen.add(rec.id);
    t.r.delivered++;
    if (c.mustExpire) t.r.deliveredStale++;
    if (c.seq < maxSeq) {
      t.r.outOfOrder++;
      if (t.r.examples.outOfOrder.length < t.max)
        t.r.examples.outOfOrder.push({ deviceId, seq: c.seq, afterSeq: maxSeq });
    } else maxSeq = c.seq;
  }
  return seen;
}

/**
 * The downlink audit: every command produced centrally reached its device once and in order (per
 * device, by the producer's seq), or the gateway reported it expired. `outcomes` maps command id →
 * outcome, as read from the outcomes topic (null: none read; then nothing can count as expired).
 */
export function auditDownlink(
  rec: CommandsRecord,
  outcomes: ReadonlyMap<string, CommandOutcome> | null,
  maxExamples = 5,
  now = Date.now(),
): DownlinkReport {
  const r: DownlinkReport = {
    verdict: 'pass',
    reasons: [],
    devices: rec.produced.size,
    produced: 0,
    delivered: 0,
    duplicates: { redelivered: 0, unexpected: 0 },
    missing: 0,
    outOfOrder: 0,
    expired: 0,
    expiredQueued: 0,
    deliveredStale: 0,
    rejected: 0,
    unknown: 0,
    outcomes: outcomes === null ? null : outcomes.size,
    examples: { missing: [], outOfOrder: [], unexpectedDuplicates: [] },
  };
  const t: Tally = { r, max: maxExamples };
  const ids = new Set([...rec.produced.keys(), ...rec.received.keys()]);
  for (const deviceId of [...ids].sort()) {
    const produced = rec.produced.get(deviceId) ?? [];
    r.produced += produced.length;
    const seen = checkReceipts(t, deviceId, produced, rec.received.get(deviceId) ?? []);
    const missing: string[] = [];
    for (const c of produced) {
      if (seen.has(c.id)) continue;
      const o = outcomes?.get(c.id);
      if (o === 'expired') r.expired++;
      else if (o === 'queued' && c.ttlMs !== null && c.at + c.ttlMs <= now) r.expiredQueued++;
      else if (o === 'rejected') r.rejected++;
      else missing.push(c.id);
    }
    r.missing += missing.length;
    if (missing.length > 0 && r.examples.missing.length < maxExamples)
      r.examples.missing.push({ deviceId, ids: missing.slice(0, 10) });
  }
  const fail = (n: number, what: string) => n > 0 && r.reasons.push(`${n} ${what}`);
  fail(r.missing, 'command(s) missing');
  fail(r.outOfOrder, 'out of order');
  fail(r.duplicates.unexpected, 'unexpected duplicate(s)');
  fail(r.deliveredStale, 'stale command(s) delivered');
  fail(r.rejected, 'rejected');
  fail(r.unknown, 'unknown command(s) received');
  if (r.reasons.length > 0) r.verdict = 'fail';
  return r;
}

export function formatDownlinkReport(r: DownlinkReport, source: string): string {
  const lines = [
    `audit of the downlink (${source}): ${r.verdict === 'pass' ? 'PASS' : `FAIL (${r.reasons.join(', ')})`}`,
    `  produced ${r.produced} to ${r.devices} device(s); delivered ${r.delivered}, expired ${r.expired}` +
      ` + ${r.expiredQueued} queued past their TTL (outcome records ${r.outcomes ?? 'not read'})`,
    `  missing ${r.missing}, out of order ${r.outOfOrder}, duplicates ${r.duplicates.unexpected} unexpected + ` +
      `${r.duplicates.redelivered} QoS 1 redeliveries (DUP, after a drop); rejected ${r.rejected}, ` +
      `stale delivered ${r.deliveredStale}, unknown ${r.unknown}`,
  ];
  for (const m of r.examples.missing) lines.push(`  MISSING   ${m.deviceId} ${m.ids.join(', ')}`);
  for (const o of r.examples.outOfOrder)
    lines.push(`  ORDER     ${o.deviceId} seq ${o.seq} after seq ${o.afterSeq}`);
  for (const d of r.examples.unexpectedDuplicates) lines.push(`  DUPLICATE ${d.deviceId} ${d.id}`);
  return lines.join('\n');
}
