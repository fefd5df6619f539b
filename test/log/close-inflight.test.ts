/**
 * close() while a commit is in flight: records already have offsets (assigned), their batch is
 * still waiting in the commit window or being compressed on the thread pool, and the caller closes
 * the log. Every such append must either resolve with its records on disk or reject; an append
 * that resolved must never be missing after reopening.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { type AppendResult, openLog } from '../../src/log/index.ts';
import { codeOf, options, spec, tempDir } from './helpers.ts';

/** Half compressible text, half random bytes (zstd works on both; random is its slow case). */
function payload(i: number): Buffer {
  if (i % 2 === 1) return randomBytes(20_000 + (i % 7) * 5_000);
  return Buffer.from(`{"i":${i},"text":"${'telemetry '.repeat(2_000 + (i % 5) * 500)}"}`);
}

type Outcome = { ok: true; results: AppendResult[] } | { ok: false; code: string | undefined };

function settle(p: Promise<AppendResult[]>): Promise<Outcome> {
  return p.then(
    (results) => ({ ok: true as const, results }),
    (err: { code?: string }) => ({ ok: false as const, code: err.code }),
  );
}

/** Reopens the log and checks every resolved append's records are there, intact, at their offsets. */
async function checkResolved(dir: string, sent: Buffer[][], outcomes: Outcome[]): Promise<number> {
  const log = await openLog(options(dir, { topics: { t: spec(2, { compression: 'zstd' }) } }));
  try {
    let resolved = 0;
    const expected = new Map<string, Buffer>();
    outcomes.forEach((o, call) => {
      if (!o.ok) return;
      o.results.forEach((r, j) => {
        expected.set(`${r.partition}/${r.offset}`, sent[call]?.[j] as Buffer);
        resolved++;
      });
    });
    let stored = 0;
    for (let p = 0; p < 2; p++) {
      const { startOffset, endOffset } = log.offsets('t', p);
      expect(startOffset).toBe(0);
      for (let next = 0; next < endOffset; ) {
        const batch = log.read('t', p, next, { maxRecords: 10_000, maxBytes: 64 * 1024 ** 2 });
        for (const r of batch) {
          expect(r.offset, `t/${p} is dense`).toBe(next++);
          const want = expected.get(`${p}/${r.offset}`);
          if (want !== undefined) expect(r.value.equals(want), `t/${p}@${r.offset} intact`).toBe(true);
          stored++;
        }
      }
      // Every resolved offset is below the durable end: nothing acknowledged is missing.
      for (const key of expected.keys()) {
        const [kp, ko] = key.split('/').map(Number) as [number, number];
        if (kp === p) expect(ko, `resolved t/${p}@${ko} is stored`).toBeLessThan(endOffset);
      }
    }
    // Offsets the closing log handed out and then rejected were never stored (close commits or
    // refuses; it never leaves a half): here close committed everything, so stored equals resolved.
    expect(stored).toBe(resolved);
    // The reopened log takes new appends right after what is stored.
    const [next] = await log.append([{ topic: 't', partition: 0, value: Buffer.from('after') }]);
    expect(next?.offset).toBe(log.offsets('t', 0).endOffset - 1);
    expect(log.read('t', 0, next?.offset ?? 0)[0]?.value.toString()).toBe('after');
    return resolved;
  } finally {
    await log.close();
  }
}

function appendCalls(
  log: Awaited<ReturnType<typeof openLog>>,
  calls: number,
  perCall: number,
  sent: Buffer[][],
): Promise<Outcome>[] {
  const out: Promise<Outcome>[] = [];
  for (let c = 0; c < calls; c++) {
    const values = Array.from({ length: perCall }, (_, j) => payload(c * perCall + j));
    sent.push(values);
    out.push(settle(log.append(values.map((value, j) => ({ topic: 't', partition: (c + j) % 2, value })))));
  }
  return out;
}

describe('log › close while a commit is in flight', () => {
  test('close() during an open commit window seals and commits the waiting records before it resolves', async () => {
    const dir = tempDir();
    const log = await openLog(
      options(dir, { topics: { t: spec(2, { compression: 'zstd' }) }, commitWindowMs: 1000 }),
    );
    const sent: Buffer[][] = [];
    const pending = appendCalls(log, 20, 10, sent);
    // Offsets are handed out, nothing is committed: the window holds the batch for up to 1 s.
    expect(log.offsets('t', 0).endOffset).toBe(0);
    await log.close();
    const outcomes = await Promise.all(pending);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(await checkResolved(dir, sent, outcomes)).toBe(200);
  });

  test('close() while sealed batches compress on the thread pool waits for them to commit', async () => {
    const dir = tempDir();
    // commitMaxBytes small: each call seals at once, so several rounds compress (chained) when close runs.
    const log = await openLog(
      options(dir, {
        topics: { t: spec(2, { compression: 'zstd' }) },
        commitWindowMs: 1000,
        commitMaxBytes: 100_000,
      }),
    );
    const sent: Buffer[][] = [];
    const pending = appendCalls(log, 12, 8, sent);
    await Promise.resolve();
    const closing = log.close();
    // Appends after close started are refused before any offset is handed out.
    const late = log.append([{ topic: 't', partition: 0, value: Buffer.from('late') }]);
    expect(await codeOf(late)).toBe('LOG_CLOSED');
    await closing;
    const outcomes = await Promise.all(pending);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(await checkResolved(dir, sent, outcomes)).toBe(96);
  });

  test('a second close() while the first is still committing resolves only once the log is closed', async () => {
    const dir = tempDir();
    const log = await openLog(
      options(dir, { topics: { t: spec(2, { compression: 'zstd' }) }, commitWindowMs: 1000 }),
    );
    const sent: Buffer[][] = [];
    const pending = appendCalls(log, 10, 10, sent);
    const committed = Promise.all(pending).then(() => 'appends settled');
    const first = log.close();
    const second = log.close().then(() => 'second close resolved');
    // The second close must not resolve before the in-flight commits settled (the first waits for them).
    expect(await Promise.race([second, committed])).toBe('appends settled');
    await Promise.all([first, second]);
    const outcomes = await Promise.all(pending);
    expect(await checkResolved(dir, sent, outcomes)).toBe(100);
  });
});
