/**
 * One device's bad input never affects another device. For every hostile case in cases.ts, while
 * six well-behaved publishers keep a window of QoS 1 messages in flight (so their records share every
 * group commit with the bad client's), the bad client is refused and counted, and the good publishers
 * are never disconnected, lose no acknowledgement and find every acknowledged message in the log once.
 */
import { describe, expect, test } from 'vitest';
import { CASES } from './cases.ts';
import { assertGoodUnharmed, startRig } from './rig.ts';

describe('adversarial › one bad device never hurts another', () => {
  for (const c of CASES) {
    test(`adversarial › ${c.name}; the good publishers lose nothing`, async () => {
      const rig = await startRig(c.rig);
      const before = { ...rig.h.ingest.status().refusals };
      await c.run(rig);
      await assertGoodUnharmed(rig);
      const after = rig.h.ingest.status().refusals;
      const delta: Record<string, number> = {};
      for (const [reason, n] of Object.entries(after)) {
        const d = (n ?? 0) - (before[reason as keyof typeof before] ?? 0);
        if (d > 0) delta[reason] = d;
      }
      if (c.count === 'some') {
        expect(delta[c.reason] ?? 0).toBeGreaterThan(0);
        const allowed = new Set([c.reason, ...(c.also ?? [])]);
        expect(Object.keys(delta).filter((r) => !allowed.has(r as never))).toEqual([]);
      } else {
        // Counted once, under its own reason, and nothing else was refused.
        expect(delta).toEqual({ [c.reason]: c.count ?? 1 });
      }
    });
  }
});
