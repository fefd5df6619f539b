import { describe, expect, it } from 'vitest';
import { type AckedRecord, decodeAcked, encodeAcked } from '../../src/sim/acked-file.ts';
import { type AuditRecord, audit, formatReport } from '../../src/sim/audit.ts';
import { RangeSet } from '../../src/sim/ranges.ts';

/** A clean interleaved stream: `devices` devices, seq 1..n each, one partition per device. */
function cleanStream(devices: number, n: number): AuditRecord[] {
  const out: AuditRecord[] = [];
  const offsets = new Map<number, number>();
  for (let seq = 1; seq <= n; seq++) {
    for (let d = 0; d < devices; d++) {
      const partition = d % 3;
      const offset = offsets.get(partition) ?? 0;
      offsets.set(partition, offset + 1);
      out.push({ deviceId: `dev-${d}`, seq, run: 'r1', topic: 't', partition, offset });
    }
  }
  return out;
}

function acked(
  devices: Record<string, Partial<Record<'acked' | 'qos0' | 'retried' | 'unacked', string>>>,
): AckedRecord {
  const map = new Map(
    Object.entries(devices).map(([id, d]) => [
      id,
      {
        sent: 0,
        acked: RangeSet.parse(d.acked ?? ''),
        qos0: RangeSet.parse(d.qos0 ?? ''),
        retried: RangeSet.parse(d.retried ?? ''),
        unacked: RangeSet.parse(d.unacked ?? ''),
      },
    ]),
  );
  return { run: 'r1', seed: 1, startedAt: 'a', finishedAt: 'b', devices: map };
}

describe('audit', () => {
  it('passes a clean run and counts every record', () => {
    const r = audit(cleanStream(4, 50));
    expect(r.verdict).toBe('pass');
    expect(r.records).toBe(200);
    expect(r.devices).toBe(4);
    expect(r).toMatchObject({ lost: 0, gaps: 0, reordered: 0, duplicates: { expected: 0, unexpected: 0 } });
  });

  it('catches a planted gap and names the device and missing seqs', () => {
    const stream = cleanStream(3, 20).filter(
      (x) => !(x.deviceId === 'dev-1' && (x.seq === 7 || x.seq === 8)),
    );
    const r = audit(stream);
    expect(r.verdict).toBe('fail');
    expect(r.gaps).toBe(2);
    expect(r.examples.gaps).toEqual([{ deviceId: 'dev-1', seqs: '7-8' }]);
  });

  it('catches a planted duplicate with its offset', () => {
    const stream = cleanStream(2, 10);
    const dup = { ...stream.find((x) => x.deviceId === 'dev-0' && x.seq === 4)!, offset: 999 };
    stream.push(dup);
    const r = audit(stream);
    expect(r.verdict).toBe('fail');
    expect(r.duplicates).toEqual({ expected: 0, unexpected: 1 });
    expect(r.examples.unexpectedDuplicates[0]).toMatchObject({ deviceId: 'dev-0', seq: 4, offset: 999 });
  });

  it('catches a planted reorder on one partition', () => {
    const stream = cleanStream(2, 10);
    const i = stream.findIndex((x) => x.deviceId === 'dev-1' && x.seq === 5);
    const j = stream.findIndex((x) => x.deviceId === 'dev-1' && x.seq === 6);
    const a = stream[i]!;
    const b = stream[j]!;
    stream[i] = { ...b, offset: a.offset };
    stream[j] = { ...a, offset: b.offset };
    const r = audit(stream);
    expect(r.verdict).toBe('fail');
    expect(r.reordered).toBe(1);
    expect(r.examples.reordered[0]).toMatchObject({ deviceId: 'dev-1', seq: 5, afterSeq: 6 });
    expect(r.gaps).toBe(0);
  });

  it('does not call interleaving across two topics a reorder', () => {
    const stream: AuditRecord[] = [
      { deviceId: 'd', seq: 2, run: 'r1', topic: 'b', partition: 0, offset: 0 },
      { deviceId: 'd', seq: 1, run: 'r1', topic: 'a', partition: 0, offset: 0 },
      { deviceId: 'd', seq: 3, run: 'r1', topic: 'a', partition: 0, offset: 1 },
    ];
    expect(audit(stream).verdict).toBe('pass');
  });

  it('fails when an acknowledged message is missing, and tolerates missing QoS 0 and unacked ones', () => {
    const stream = cleanStream(1, 10).filter((x) => ![3, 6, 9, 10].includes(x.seq));
    const r = audit(stream, { acked: acked({ 'dev-0': { acked: '1-5,7-8', qos0: '6', unacked: '9-10' } }) });
    expect(r.verdict).toBe('fail');
    expect(r.lost).toBe(1);
    expect(r.examples.lost).toEqual([{ deviceId: 'dev-0', seqs: '3' }]);
    expect(r.tolerated).toEqual({ qos0Missing: 1, unackedMissing: 2 });
    expect(r.gaps).toBe(0);
    expect(r.ackedChecked).toBe(7);
  });

  it('reports a device that acked messages but delivered nothing as loss', () => {
    const r = audit(cleanStream(1, 3), {
      acked: acked({ 'dev-0': { acked: '1-3' }, 'dev-9': { acked: '1-2' } }),
    });
    expect(r.verdict).toBe('fail');
    expect(r.examples.lost).toEqual([{ deviceId: 'dev-9', seqs: '1-2' }]);
  });

  it('separates expected duplicates (re-sent after a drop) from unexpected ones', () => {
    const stream = cleanStream(1, 10);
    // seqs 6-8 were in flight at a drop and re-sent; the gateway had already stored them
    for (const seq of [6, 7, 8])
      stream.push({ deviceId: 'dev-0', seq, run: 'r1', topic: 't', partition: 0, offset: 10 + seq });
    const ok = audit(stream, { acked: acked({ 'dev-0': { acked: '1-10', retried: '6-8' } }) });
    expect(ok.verdict).toBe('pass');
    expect(ok.duplicates).toEqual({ expected: 3, unexpected: 0 });
    const bad = audit(stream, { acked: acked({ 'dev-0': { acked: '1-10', retried: '6-7' } }) });
    expect(bad.verdict).toBe('fail');
    expect(bad.duplicates).toEqual({ expected: 2, unexpected: 1 });
  });

  it('skips records of other runs when auditing against an acked file', () => {
    const stream = [...cleanStream(1, 5), ...cleanStream(1, 5).map((x) => ({ ...x, run: 'old' }))];
    const r = audit(stream, { acked: acked({ 'dev-0': { acked: '1-5' } }) });
    expect(r.verdict).toBe('pass');
    expect(r.skipped.otherRun).toBe(5);
    expect(r.runs).toEqual(['old', 'r1']);
  });

  it('expects only the seqs in scope (routed to the audited topics): others are neither lost nor gaps', () => {
    const stream = cleanStream(1, 10).filter((x) => x.seq % 2 === 1);
    const acks = acked({ 'dev-0': { acked: '1-10' } });
    const scoped = audit(stream, { acked: acks, inScope: (_id, seq) => seq % 2 === 1 });
    expect(scoped).toMatchObject({ verdict: 'pass', lost: 0, gaps: 0, outOfScope: 5, ackedChecked: 5 });
    const unscoped = audit(stream, { acked: acks });
    expect(unscoped).toMatchObject({ verdict: 'fail', lost: 5 });
  });

  it('prints a verdict line with the first offenders', () => {
    const stream = cleanStream(2, 5).filter((x) => !(x.deviceId === 'dev-0' && x.seq === 2));
    const text = formatReport(audit(stream), 'edge log');
    expect(text).toMatch(/^audit of edge log: FAIL/);
    expect(text).toContain('GAP       dev-0 seq 2');
  });
});

describe('acked file', () => {
  const rec = acked({ 'b-dev': { acked: '1-5,7', qos0: '6', retried: '4-5', unacked: '8' }, 'a-dev': {} });
  const FIXED =
    '{"format":"outpost-sim-acked","version":1,"run":"r1","seed":1,"startedAt":"a","finishedAt":"b","devices":' +
    '{"a-dev":{"sent":0,"acked":"","qos0":"","retried":"","unacked":""},' +
    '"b-dev":{"sent":0,"acked":"1-5,7","qos0":"6","retried":"4-5","unacked":"8"}}}\n';

  it('encodes to fixed bytes (v1 layout, devices sorted)', () => {
    expect(encodeAcked(rec)).toBe(FIXED);
  });

  it('round-trips through decode', () => {
    const back = decodeAcked(encodeAcked(rec));
    expect(back.devices.get('b-dev')?.acked.toString()).toBe('1-5,7');
    expect(back.devices.get('b-dev')?.retried.has(5)).toBe(true);
    expect(encodeAcked(back)).toBe(FIXED);
  });

  it('round-trips the per-seq topic index when present', () => {
    const withTopics = acked({ d: { acked: '1-3' } });
    const d = withTopics.devices.get('d')!;
    d.topics = ['stb/d/heartbeat', 'stb/d/events/app'];
    d.topicOf = '010';
    const text = encodeAcked(withTopics);
    expect(text).toContain('"topics":["stb/d/heartbeat","stb/d/events/app"],"topicOf":"010"');
    const back = decodeAcked(text).devices.get('d');
    expect(back?.topics).toEqual(d.topics);
    expect(back?.topicOf).toBe('010');
  });

  it('refuses an unknown version and a malformed range', () => {
    expect(() => decodeAcked(FIXED.replace('"version":1', '"version":2'))).toThrow(
      /version 2 is not supported/,
    );
    expect(() => decodeAcked(FIXED.replace('"1-5,7"', '"1-5,,7"'))).toThrow(/expected ranges/);
  });
});

describe('range set', () => {
  it('merges out-of-order additions into ranges and refuses repeats', () => {
    const s = new RangeSet();
    for (const n of [1, 2, 3, 10, 5, 4, 9, 20]) expect(s.add(n)).toBe(true);
    expect(s.add(4)).toBe(false);
    expect(s.toString()).toBe('1-5,9-10,20');
    expect(s.size).toBe(8);
    expect(s.max).toBe(20);
    expect(RangeSet.parse('1-3,7').missingFrom(RangeSet.parse('2,7'))).toEqual([
      [1, 1],
      [3, 3],
    ]);
  });
});
