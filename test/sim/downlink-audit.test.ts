import { describe, expect, it } from 'vitest';
import { auditDownlink, type CommandsRecord, type ProducedCommand } from '../../src/sim/index.ts';

const produced = (n: number, stale: number[] = []): ProducedCommand[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `d1-${i + 1}`,
    seq: i + 1,
    ttlMs: stale.includes(i + 1) ? 1000 : null,
    at: 0,
    mustExpire: stale.includes(i + 1),
  }));
const got = (seq: number, dup = false, qos = 1) => ({ id: `d1-${seq}`, seq, at: 0, qos, dup });
const record = (p: ProducedCommand[], r: ReturnType<typeof got>[]): CommandsRecord => ({
  run: 'r',
  produced: new Map([['d1', p]]),
  received: new Map([['d1', r]]),
});

describe('downlink audit (logic)', () => {
  it('passes on every command once in order, with a QoS 1 redelivery (DUP) and an expired one', () => {
    const r = auditDownlink(
      record(produced(4, [3]), [got(1), got(2), got(2, true), got(4)]),
      new Map([['d1-3', 'expired']]),
    );
    expect(r).toMatchObject({
      verdict: 'pass',
      delivered: 3,
      expired: 1,
      missing: 0,
      duplicates: { redelivered: 1, unexpected: 0 },
    });
  });

  it('fails on a missing command without an expired outcome, a duplicate without DUP, and reordering', () => {
    const r = auditDownlink(record(produced(4), [got(1), got(3), got(2), got(1)]), null);
    expect(r.verdict).toBe('fail');
    expect(r).toMatchObject({ missing: 1, outOfOrder: 1, duplicates: { redelivered: 0, unexpected: 1 } });
    expect(r.examples.missing).toEqual([{ deviceId: 'd1', ids: ['d1-4'] }]);
    expect(r.reasons).toEqual(['1 command(s) missing', '1 out of order', '1 unexpected duplicate(s)']);
  });

  it('a queued command not received counts as expired in the queue only once its TTL has ended', () => {
    const p = produced(3).map((c) => (c.seq === 2 ? { ...c, ttlMs: 5_000, at: 1_000 } : c));
    const outcomes = new Map([['d1-2', 'queued' as const]]);
    const after = auditDownlink(record(p, [got(1), got(3)]), outcomes, 5, 6_000);
    expect(after).toMatchObject({ verdict: 'pass', expiredQueued: 1, missing: 0 });
    const before = auditDownlink(record(p, [got(1), got(3)]), outcomes, 5, 5_999);
    expect(before).toMatchObject({ verdict: 'fail', expiredQueued: 0, missing: 1 });
    const noTtl = auditDownlink(record(produced(3), [got(1), got(3)]), outcomes, 5, 1e15);
    expect(noTtl).toMatchObject({ verdict: 'fail', missing: 1 });
  });

  it('fails when a stale command was delivered, or one was rejected', () => {
    const stale = auditDownlink(record(produced(2, [2]), [got(1), got(2)]), new Map());
    expect(stale).toMatchObject({ verdict: 'fail', deliveredStale: 1 });
    const rejected = auditDownlink(record(produced(2), [got(1)]), new Map([['d1-2', 'rejected']]));
    expect(rejected).toMatchObject({ verdict: 'fail', rejected: 1, missing: 0 });
  });
});
