import { describe, expect, it } from 'vitest';
import {
  backoffMs,
  LINK_STATES,
  LinkStateMachine,
  TRANSITIONS,
} from '../../src/mirror/session/link-state.ts';
import { TokenBucket } from '../../src/mirror/session/token-bucket.ts';

describe('mirror link state machine', () => {
  it('follows the transition table and refuses moves outside it', () => {
    const seen: string[] = [];
    const m = new LinkStateMachine('dc-east', (from, to) => seen.push(`${from}>${to}`));
    expect(m.state).toBe('connecting');
    m.to('streaming');
    m.to('throttled');
    m.to('backing-off');
    expect(() => m.to('streaming')).toThrow(/invalid transition backing-off -> streaming/);
    m.to('connecting');
    m.to('stopped');
    expect(() => m.to('connecting')).toThrow(/invalid transition/);
    expect(seen).toEqual([
      'connecting>streaming',
      'streaming>throttled',
      'throttled>backing-off',
      'backing-off>connecting',
      'connecting>stopped',
    ]);
  });

  it('lets every state reach stopped except stopped itself', () => {
    for (const s of LINK_STATES) expect(TRANSITIONS[s].includes('stopped')).toBe(s !== 'stopped');
  });

  it('backs off exponentially with jitter within bounds', () => {
    expect(backoffMs(0, 100, 10_000, () => 0.999)).toBe(99);
    expect(backoffMs(3, 100, 10_000, () => 0.999)).toBe(799);
    expect(backoffMs(30, 100, 10_000, () => 0.999)).toBe(9990);
    expect(backoffMs(5, 100, 10_000, () => 0)).toBe(50);
  });
});

describe('mirror token bucket', () => {
  it('allows the burst, then refills at the rate', () => {
    let t = 0;
    const b = new TokenBucket(1000, 500, () => t);
    expect(b.tryTake(400)).toBe(true);
    expect(b.tryTake(200)).toBe(false);
    expect(b.delayFor(200)).toBe(100);
    t = 100;
    expect(b.tryTake(200)).toBe(true);
    t = 10_000;
    expect(b.tokens).toBe(500);
  });

  it('lets a batch larger than the burst through once full, then charges the debt', () => {
    let t = 0;
    const b = new TokenBucket(100, 100, () => t);
    expect(b.tryTake(300)).toBe(true);
    expect(b.delayFor(1)).toBe(2010);
    t = 2020;
    expect(b.tryTake(1)).toBe(true);
  });
});
