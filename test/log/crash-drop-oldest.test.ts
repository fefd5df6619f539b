/**
 * kill -9 while onFull "drop-oldest" deletes records in the appending transactions: the floor, the
 * removes, the byte checkpoint and the dropped counter must land together. After each kill: the
 * stored range is dense, every acked offset at or above the start is present, and
 * stored + dropped = every offset ever assigned (nothing else deletes here).
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect, onTestFinished, test } from 'vitest';
import { openLog } from '../../src/log/index.ts';
import { storedBytes, tempDir } from './helpers.ts';

const here = dirname(fileURLToPath(import.meta.url));
const KILLS = 6;
const PARTITIONS = 3;
const MAX_BYTES = 1024 * 1024;

async function runAndKill(dir: string, acked: Map<number, number>): Promise<void> {
  const child = spawn(
    process.execPath,
    [join(here, 'fixtures', 'append-child.ts'), dir, '4', String(PARTITIONS), String(MAX_BYTES)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      // Uncompressed, so the child is well over its budget (and dropping) by the time it is killed.
      env: { ...process.env, COMPRESSION: 'none' },
    },
  );
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const closed = new Promise<NodeJS.Signals | null>((r) => child.on('close', (_c, signal) => r(signal)));
  let lines = 0;
  let enough: () => void = () => {};
  const gotEnough = new Promise<void>((r) => {
    enough = r;
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line === 'ready') return;
    for (const pair of line.split(',')) {
      const [p, o] = pair.split(':').map(Number) as [number, number];
      acked.set(p, Math.max(acked.get(p) ?? -1, o));
    }
    // Run long enough to be over budget and dropping, then kill at a random moment.
    if (++lines === 300) enough();
  });
  const early = await Promise.race([gotEnough.then(() => false), closed.then(() => true)]);
  expect(early, 'child exited early').toBe(false);
  await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 200)));
  child.kill('SIGKILL');
  expect(await closed).toBe('SIGKILL');
}

test('log › kill -9 during drop-oldest keeps offsets dense, acked records present and the dropped count exact', async () => {
  const dir = tempDir('outpost-crash-drop-');
  const acked = new Map<number, number>();
  for (let round = 0; round < KILLS; round++) {
    await runAndKill(dir, acked);
    const stored0 = await storedBytes(dir, 't', PARTITIONS);
    const log = await openLog({
      dataDir: dir,
      topics: { t: { partitions: PARTITIONS, retentionMs: 1e12, retentionBytes: 1e12 } },
      maxBytes: MAX_BYTES,
      onFull: 'drop-oldest',
      minFreeBytes: 0,
    });
    try {
      let stored = 0;
      let assigned = 0;
      for (let p = 0; p < PARTITIONS; p++) {
        const { startOffset, endOffset } = log.offsets('t', p);
        expect(endOffset).toBeGreaterThan(acked.get(p) ?? -1);
        let next = startOffset;
        while (next < endOffset) {
          const batch = log.read('t', p, next, { maxRecords: 5000, maxBytes: 8 * 1024 ** 2 });
          expect(batch.length).toBeGreaterThan(0);
          for (const r of batch) {
            expect(r.offset, `gap in t/${p}`).toBe(next);
            next += 1;
          }
        }
        expect(log.partitions().find((i) => i.partition === p)?.bytes).toBe(stored0[p]);
        stored += endOffset - startOffset;
        assigned += endOffset;
      }
      const { droppedRecords } = log.stats();
      if (round === KILLS - 1) expect(droppedRecords).toBeGreaterThan(0);
      expect(stored + droppedRecords).toBe(assigned);
    } finally {
      await log.close();
    }
  }
}, 120_000);
