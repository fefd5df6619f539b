import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { openLog, type PartitionedLog } from '../../src/log/index.ts';
import { logOptionsFromConfig } from '../../src/service/index.ts';
import { MAIN, NODE, outpost, STACK_FRAME, smallConfig, tempDir, writeConfig } from './helpers.ts';

interface Line {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  keyEncoding: 'utf8' | 'base64' | null;
  headers: Record<string, string>;
  headerEncodings: Record<string, 'utf8' | 'base64'>;
  value: string;
  valueEncoding: 'utf8' | 'base64';
}

const suffix = () => randomBytes(3).toString('hex');

/** A config file in a temp dir and the log opened as owner on it (closed after the test). */
async function ownerLog(
  topics: Record<string, { partitions: number }>,
): Promise<{ file: string; log: PartitionedLog }> {
  const dir = await tempDir();
  const file = await writeConfig(dir, smallConfig(dir, topics));
  const log = await openLog(logOptionsFromConfig(await loadConfig(file), 'owner'));
  onTestFinished(() => log.close());
  return { file, log };
}

function lines(stdout: string): Line[] {
  return stdout
    .trimEnd()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

describe('cli › log topics and log read', () => {
  test('cli › log topics --json reports the offsets, counts and bytes of the appended data', async () => {
    const a = `telemetry-${suffix()}`;
    const b = `events-${suffix()}`;
    const { file, log } = await ownerLog({ [a]: { partitions: 3 }, [b]: { partitions: 1 } });
    const records = [];
    for (let i = 0; i < 40; i++) {
      records.push({ topic: a, key: Buffer.from(`dev-${i % 7}`), value: randomBytes(10 + i) });
    }
    for (let i = 0; i < 5; i++) records.push({ topic: b, value: Buffer.from(`event ${i}`) });
    await log.append(records);

    const r = await outpost(['log', 'topics', '--config', file, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const reported = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    const expected = log
      .partitions()
      .sort((x, y) => x.topic.localeCompare(y.topic) || x.partition - y.partition);
    expect(reported).toEqual(expected);
    const total = (t: string) =>
      reported.filter((p) => p['topic'] === t).reduce((n, p) => n + (p['records'] as number), 0);
    expect(total(a)).toBe(40);
    expect(total(b)).toBe(5);
  });

  test('cli › log topics prints a table row per partition with start, end, records and bytes', async () => {
    const t = `tbl-${suffix()}`;
    const { file, log } = await ownerLog({ [t]: { partitions: 2 } });
    await log.append([
      { topic: t, partition: 1, value: Buffer.from('one') },
      { topic: t, partition: 1, value: Buffer.from('two') },
    ]);
    const r = await outpost(['log', 'topics', '-c', file]);
    expect(r.code).toBe(0);
    const rows = r.stdout.trimEnd().split('\n');
    expect(rows[0]?.split(/\s+/)).toEqual([
      'TOPIC',
      'PARTITION',
      'START',
      'END',
      'RECORDS',
      'BYTES',
      'RAW',
      'OLDEST',
    ]);
    const p1 = rows.find((row) => row.startsWith(t) && row.split(/\s+/)[1] === '1')?.split(/\s+/);
    const info = log.partitions().find((p) => p.topic === t && p.partition === 1)!;
    expect(p1?.slice(0, 7)).toEqual([t, '1', '0', '2', '2', String(info.bytes), String(info.rawBytes)]);
    const p0 = rows.find((row) => row.startsWith(t) && row.split(/\s+/)[1] === '0')?.split(/\s+/);
    expect(p0?.slice(2, 5)).toEqual(['0', '0', '0']);
    expect(p0?.[7]).toBe('-');
  });

  test('cli › log read prints valid UTF-8 as text and anything else as base64, saying which', async () => {
    const t = `mixed-${suffix()}`;
    const { file, log } = await ownerLog({ [t]: { partitions: 1 } });
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3]);
    const written = [
      {
        topic: t,
        key: Buffer.from('vehicle-17'),
        value: Buffer.from('{"speed":42,"note":"déjà vu ✓"}'),
        headers: { 'device.id': Buffer.from('vehicle-17'), raw: binary },
        timestamp: 1_700_000_000_123,
      },
      { topic: t, key: binary, value: binary, timestamp: 1_700_000_000_456 },
      { topic: t, key: null, value: Buffer.alloc(0), timestamp: 1_700_000_000_789 },
    ];
    await log.append(written);
    const r = await outpost(['log', 'read', '--config', file, '--topic', t, '--partition', '0']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const got = lines(r.stdout);
    expect(got).toHaveLength(3);
    expect(got[0]).toEqual({
      topic: t,
      partition: 0,
      offset: 0,
      timestamp: 1_700_000_000_123,
      key: 'vehicle-17',
      keyEncoding: 'utf8',
      headers: { 'device.id': 'vehicle-17', raw: binary.toString('base64') },
      headerEncodings: { 'device.id': 'utf8', raw: 'base64' },
      value: '{"speed":42,"note":"déjà vu ✓"}',
      valueEncoding: 'utf8',
    });
    expect(got[1]).toMatchObject({ offset: 1, keyEncoding: 'base64', valueEncoding: 'base64' });
    expect(Buffer.from(got[1]!.value, 'base64')).toEqual(binary);
    expect(Buffer.from(got[1]!.key!, 'base64')).toEqual(binary);
    expect(got[2]).toMatchObject({
      offset: 2,
      key: null,
      keyEncoding: null,
      value: '',
      valueEncoding: 'utf8',
    });
  });

  test('cli › log read honours --from and --limit across read batches', async () => {
    const t = `range-${suffix()}`;
    const { file, log } = await ownerLog({ [t]: { partitions: 1 } });
    const n = 1_234;
    await log.append(Array.from({ length: n }, (_, i) => ({ topic: t, value: Buffer.from(`r${i}`) })));
    const r = await outpost([
      'log',
      'read',
      '-c',
      file,
      '-t',
      t,
      '-p',
      '0',
      '--from',
      '100',
      '--limit',
      '700',
    ]);
    expect(r.code).toBe(0);
    const got = lines(r.stdout);
    expect(got.map((l) => l.offset)).toEqual(Array.from({ length: 700 }, (_, i) => 100 + i));
    expect(got.map((l) => l.value)).toEqual(Array.from({ length: 700 }, (_, i) => `r${100 + i}`));
    const all = await outpost(['log', 'read', '-c', file, '-t', t, '-p', '0']);
    expect(lines(all.stdout)).toHaveLength(n);
    const past = await outpost(['log', 'read', '-c', file, '-t', t, '-p', '0', '--from', String(n)]);
    expect(past.code).toBe(0);
    expect(past.stdout).toBe('');
  });

  test('cli › log read --follow prints records appended by the owner process after it started', async () => {
    const t = `follow-${suffix()}`;
    const { file, log } = await ownerLog({ [t]: { partitions: 1 } });
    await log.append([{ topic: t, value: Buffer.from('before') }]);
    const child = spawn(
      NODE,
      [MAIN, 'log', 'read', '-c', file, '-t', t, '-p', '0', '--follow', '--limit', '3'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    const firstLine = new Promise<void>((resolve) => {
      child.stdout.on('data', (d: string) => {
        out += d;
        if (out.includes('\n')) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await firstLine;
    await log.append([{ topic: t, value: Buffer.from('after-1') }]);
    await log.append([
      { topic: t, value: Buffer.from('after-2') },
      { topic: t, value: Buffer.from('after-3') },
    ]);
    expect(await exited).toBe(0);
    expect(lines(out).map((l) => l.value)).toEqual(['before', 'after-1', 'after-2']);
  });

  test('cli › log read stops quietly with exit 0 when its reader closes the pipe early (| head)', async () => {
    const t = `pipe-${suffix()}`;
    const { file, log } = await ownerLog({ [t]: { partitions: 1 } });
    const value = Buffer.alloc(2000, 'x');
    for (let b = 0; b < 5; b++) {
      await log.append(Array.from({ length: 1000 }, () => ({ topic: t, value })));
    }
    const child = spawn(NODE, [MAIN, 'log', 'read', '-c', file, '-t', t, '-p', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    child.stdout.once('data', () => child.stdout.destroy());
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
  });

  test('cli › log read of an unknown topic or partition fails with one line, exit 1', async () => {
    const t = `known-${suffix()}`;
    const { file } = await ownerLog({ [t]: { partitions: 2 } });
    const r = await outpost(['log', 'read', '-c', file, '-t', 'nope', '-p', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('outpost: no topic "nope" in the log (see "outpost log topics")\n');
    const p = await outpost(['log', 'read', '-c', file, '-t', t, '-p', '2']);
    expect(p.code).toBe(1);
    expect(p.stderr).toBe(`outpost: topic "${t}" has partitions 0..1, not 2\n`);
    expect(p.stderr).not.toMatch(STACK_FRAME);
  });

  test('cli › a relative dataDir resolves against the working directory; a missing one is a clear error', async () => {
    const dir = await tempDir();
    const cfg = smallConfig(dir, { t: { partitions: 1 } });
    cfg.dataDir = './nowhere';
    const file = await writeConfig(dir, cfg);
    const r = await outpost(['log', 'topics', '-c', file], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `outpost: no log in ${join(dir, 'nowhere')} (dataDir of ${file}; a relative dataDir is resolved against the current directory)\n`,
    );
  });

  test('cli › an existing data dir that holds no log is reported, not listed as empty', async () => {
    const dir = await tempDir();
    const cfg = smallConfig(dir, { t: { partitions: 1 } });
    await mkdir(cfg.dataDir);
    const file = await writeConfig(dir, cfg);
    const r = await outpost(['log', 'topics', '-c', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `outpost: no log in ${cfg.dataDir} (the directory holds no topics: has "outpost run" been started with this dataDir?)\n`,
    );
  });
});
