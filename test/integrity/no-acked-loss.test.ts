/**
 * Invariant: after kill -9 at any moment, every append that resolved is present, offsets have no
 * gaps and every record decodes intact (record-v2 CRC-32C). A child process appends continuously from
 * several concurrent callers across several partitions and reports each resolved offset; the test
 * SIGKILLs it at random moments, reopens the log and checks everything reported so far.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect, onTestFinished, test } from 'vitest';
import { openLog } from '../../src/log/index.ts';
import { storedBytes, tempDir } from '../log/helpers.ts';

const here = dirname(fileURLToPath(import.meta.url));
const CHILD = join(here, '..', 'log', 'fixtures', 'append-child.ts');
const KILLS = 21;
const PARTITIONS = 4;
const CALLERS = 6;

interface Round {
  reported: number;
}

/** Runs the child until it reported a few appends, waits a random moment, SIGKILLs it. */
async function appendAndKill(dir: string, acked: Map<number, number>, windowMs = 0): Promise<Round> {
  const child = spawn(process.execPath, [CHILD, dir, String(CALLERS), String(PARTITIONS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, COMMIT_WINDOW_MS: String(windowMs) },
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  // 'close' fires after the exit and after stdout ended, so every line the child wrote was read.
  const exited = new Promise<NodeJS.Signals | null>((r) => child.on('close', (_code, signal) => r(signal)));
  let reported = 0;
  let firstAck: () => void = () => {};
  const gotAck = new Promise<void>((r) => {
    firstAck = r;
  });
  const rl = createInterface({ input: child.stdout });
  rl.on('line', (line) => {
    if (line === 'ready') return;
    for (const pair of line.split(',')) {
      const [p, o] = pair.split(':').map(Number) as [number, number];
      acked.set(p, Math.max(acked.get(p) ?? -1, o));
      reported += 1;
    }
    firstAck();
  });
  const early = await Promise.race([gotAck.then(() => false), exited.then(() => true)]);
  expect(early, 'child exited before appending').toBe(false);
  // With a window, wait up to two windows so the kill lands inside an open one as often as not.
  await new Promise((r) =>
    setTimeout(r, 20 + Math.floor(Math.random() * (windowMs > 0 ? 2 * windowMs : 300))),
  );
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  return { reported };
}

function checkValue(buf: Buffer): void {
  const bar = buf.indexOf(0x7c);
  const m = /^c(\d+)-s(\d+)-i(\d+)$/.exec(buf.toString('latin1', 0, bar));
  expect(m, 'value header').not.toBeNull();
  const seq = Number(m?.[2]);
  const index = Number(m?.[3]);
  const pad = buf.subarray(bar + 1);
  expect(pad.length).toBe(40 + ((seq * 7 + index) % 200));
  expect(pad.every((b) => b === (seq + index) % 251)).toBe(true);
}

async function killRounds(kills: number, windowMs: number): Promise<void> {
  const dir = tempDir('outpost-crash-');
  const acked = new Map<number, number>();
  let totalReported = 0;
  for (let round = 0; round < kills; round++) {
    totalReported += (await appendAndKill(dir, acked, windowMs)).reported;
    const stored0 = await storedBytes(dir, 't', PARTITIONS);
    const log = await openLog({
      dataDir: dir,
      topics: { t: { partitions: PARTITIONS, retentionMs: 1e12, retentionBytes: 1e12 } },
      maxBytes: 1e12,
      onFull: 'reject',
      minFreeBytes: 0,
    });
    try {
      for (let p = 0; p < PARTITIONS; p++) {
        const { startOffset, endOffset } = log.offsets('t', p);
        expect(startOffset).toBe(0);
        expect(endOffset, `t/${p} after kill ${round}`).toBeGreaterThan(acked.get(p) ?? -1);
        let next = 0;
        while (next < endOffset) {
          const batch = log.read('t', p, next, { maxRecords: 5000, maxBytes: 8 * 1024 ** 2 });
          expect(batch.length).toBeGreaterThan(0);
          for (const r of batch) {
            expect(r.offset, `gap in t/${p}`).toBe(next);
            checkValue(r.value);
            next += 1;
          }
        }
        // Byte accounting recovered from the last checkpoint plus the batches after it.
        expect(log.partitions().find((i) => i.partition === p)?.bytes).toBe(stored0[p]);
      }
    } finally {
      await log.close();
    }
  }
  expect(totalReported).toBeGreaterThan(kills);
  expect(acked.size).toBe(PARTITIONS);
}

test('integrity › every resolved append survives kill -9 gap-free and intact', async () => {
  await killRounds(KILLS, 0);
}, 120_000);

test('integrity › with the commit window at its largest (1000 ms), kill -9 loses nothing that resolved', async () => {
  await killRounds(5, 1000);
}, 120_000);
