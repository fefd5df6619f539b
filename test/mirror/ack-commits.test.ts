import { describe, expect, it } from 'vitest';
import { AckCommits } from '../../src/mirror/session/ack-commits.ts';

/** A write that records the turn it was issued in and resolves when released. */
function gate() {
  let release!: () => void;
  let fail!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    release = res;
    fail = rej;
  });
  return { done, release, fail };
}

describe('mirror › ack commits (logic)', () => {
  it('with an interval, every queued write is issued in one turn, in ack order, and settles after it', async () => {
    const c = new AckCommits(() => 20);
    const issued: number[] = [];
    const g = gate();
    const acks = [1, 2, 3].map((n) =>
      c.add(() => {
        issued.push(n);
        return g.done;
      }),
    );
    expect(issued).toEqual([]);
    await new Promise((r) => setTimeout(r, 40));
    expect(issued).toEqual([1, 2, 3]);
    let settled = 0;
    for (const a of acks) void a.then(() => settled++);
    await Promise.resolve();
    expect(settled).toBe(0);
    g.release();
    await Promise.all(acks);
    expect(settled).toBe(3);
  });

  it('with 0, the first write goes at once and what queues while it commits goes together next', async () => {
    const c = new AckCommits(() => 0);
    const issued: string[] = [];
    const first = gate();
    const a = c.add(() => {
      issued.push('a');
      return first.done;
    });
    expect(issued).toEqual(['a']);
    const rest = ['b', 'c'].map((n) =>
      c.add(() => {
        issued.push(n);
        return Promise.resolve();
      }),
    );
    await Promise.resolve();
    expect(issued).toEqual(['a']);
    first.release();
    await a;
    await Promise.all(rest);
    expect(issued).toEqual(['a', 'b', 'c']);
  });

  it('a failed write rejects its ack and every later one without issuing them', async () => {
    const c = new AckCommits(() => 0);
    const boom = new Error('MDB_MAP_FULL');
    const g = gate();
    const a = c.add(() => g.done);
    let laterIssued = false;
    const b = c.add(() => {
      laterIssued = true;
      return Promise.resolve();
    });
    g.fail(boom);
    await expect(a).rejects.toBe(boom);
    await expect(b).rejects.toBe(boom);
    await expect(c.add(() => Promise.resolve())).rejects.toBe(boom);
    expect(laterIssued).toBe(false);
  });

  it('flush issues at once what waits for the timer', async () => {
    const c = new AckCommits(() => 60_000);
    let issued = false;
    const a = c.add(() => {
      issued = true;
      return Promise.resolve();
    });
    expect(issued).toBe(false);
    await c.flush();
    expect(issued).toBe(true);
    await a;
  });
});
