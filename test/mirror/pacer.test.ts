import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Pacer } from '../../src/mirror/session/pacer.ts';

describe('mirror pacer', () => {
  it('grants at once without a cap', async () => {
    const p = new Pacer(undefined);
    await p.acquire({ bytes: 10_000_000, live: false, priority: 0, signal: new AbortController().signal });
    expect(p.granted).toBe(10_000_000);
    expect(p.wouldWait(1)).toBe(false);
  });

  it('drains backlog by priority, alternates live and backlog, and keeps arrival order among equals', async () => {
    const p = new Pacer(2000);
    const signal = new AbortController().signal;
    await p.acquire({ bytes: 2000, live: false, priority: 0, signal }); // empties the bucket
    const order: string[] = [];
    const ask = (name: string, live: boolean, priority: number) =>
      p.acquire({ bytes: 100, live, priority, signal }).then(() => order.push(name));
    await Promise.all([
      ask('low-1', false, 1),
      ask('high-1', false, 5),
      ask('live-1', true, 0),
      ask('low-2', false, 1),
      ask('live-2', true, 0),
      ask('high-2', false, 5),
    ]);
    expect(order).toEqual(['live-1', 'high-1', 'live-2', 'high-2', 'low-1', 'low-2']);
    p.close();
  });

  it('rejects a waiting batch when its signal aborts', async () => {
    const p = new Pacer(100);
    const ac = new AbortController();
    await p.acquire({ bytes: 100, live: false, priority: 0, signal: ac.signal });
    const waiting = p.acquire({ bytes: 100, live: false, priority: 0, signal: ac.signal });
    ac.abort(new Error('session over'));
    await expect(waiting).rejects.toThrow('session over');
    expect(p.waiting).toBe(0);
    p.close();
  });

  it('leaves no abort listener on the session signal for batches it granted', async () => {
    const p = new Pacer(1_000_000);
    const signal = new AbortController().signal;
    for (let i = 0; i < 20; i++) await p.acquire({ bytes: 100, live: true, priority: 0, signal });
    expect(p.granted).toBe(2000);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    p.close();
  });

  it('times a waiting batch again when the rate changes: a raised cap grants it at once', async () => {
    const p = new Pacer(1);
    const signal = new AbortController().signal;
    await p.acquire({ bytes: 100, live: false, priority: 0, signal }); // ~100 s of debt at 1 B/s
    const waiting = p.acquire({ bytes: 100, live: false, priority: 0, signal });
    expect(p.waiting).toBe(1);
    p.setRate(10_000_000);
    await waiting;
    expect(p.granted).toBe(200);
    p.close();
  });
});
