import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect, onTestFinished, test } from 'vitest';
import { openLog } from '../../src/log/index.ts';
import { codeOf, openTestLog, options, tempDir, value } from './helpers.ts';

const here = dirname(fileURLToPath(import.meta.url));

test('log › a reader process tails a partition while the owner appends', async () => {
  const dir = tempDir();
  const log = await openTestLog(options(dir));
  await log.append([{ topic: 't', partition: 0, value: value(0), key: Buffer.from('k0') }]);
  const total = 500;
  const child = spawn(
    process.execPath,
    [join(here, 'fixtures', 'reader-child.ts'), dir, 't', '0', String(total)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const lines: Array<Record<string, unknown>> = [];
  const rl = createInterface({ input: child.stdout });
  let ready: () => void = () => {};
  const isReady = new Promise<void>((r) => {
    ready = r;
  });
  rl.on('line', (l) => {
    const msg = JSON.parse(l) as Record<string, unknown>;
    if (msg['ready'] === true) ready();
    else lines.push(msg);
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await isReady;
  for (let i = 1; i < total; i += 7) {
    const n = Math.min(7, total - i);
    await log.append(
      Array.from({ length: n }, (_, j) => ({
        topic: 't',
        partition: 0,
        value: value(i + j),
        key: Buffer.from(`k${i + j}`),
      })),
    );
  }
  expect(await exited).toBe(0);
  const records = lines.filter((l) => l['done'] === undefined);
  expect(records.map((r) => r['offset'])).toEqual(Array.from({ length: total }, (_, i) => i));
  records.forEach((r, i) => {
    expect(r['value']).toBe(value(i).toString('hex'));
    expect(r['key']).toBe(`k${i}`);
  });
  expect(lines.at(-1)).toEqual({ done: true, offsets: { startOffset: 0, endOffset: total }, records: total });
});

test('log › a reader refuses writes with LOG_READ_ONLY but may use its own stores', async () => {
  const dir = tempDir();
  const owner = await openTestLog(options(dir));
  await owner.append([{ topic: 't', partition: 3, value: value(9) }]);
  const reader = await openLog({ ...options(dir), role: 'reader' });
  onTestFinished(() => reader.close());
  expect(await codeOf(reader.append([{ topic: 't', value: value(1) }]))).toBe('LOG_READ_ONLY');
  expect(await codeOf(reader.setCursor('c', 't', 0, 1))).toBe('LOG_READ_ONLY');
  expect(await codeOf(reader.runRetention())).toBe('LOG_READ_ONLY');
  expect(reader.offsets('t', 3)).toEqual({ startOffset: 0, endOffset: 1 });
  expect(reader.read('t', 3, 0)[0]?.value.equals(value(9))).toBe(true);
  const store = reader.openStore<string, string>('cli-notes');
  await store.put('a', 'b');
  expect(owner.openStore<string, string>('cli-notes').get('a')).toBe('b');
});
