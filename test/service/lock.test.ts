import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, onTestFinished, test } from 'vitest';
import { tryFlock } from '../../src/service/flock.ts';
import { acquireDataDirLock, FLOCK_FILE, LOCK_FILE } from '../../src/service/lock.ts';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-lock-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Another process (util-linux flock(1)) holding the kernel lock until killed. */
async function holdKernelLock(dir: string): Promise<() => void> {
  // Its own process group: the `sleep` it runs inherits the locked descriptor and must die too.
  const child = spawn('flock', ['-n', join(dir, FLOCK_FILE), '-c', 'sleep 60'], {
    stdio: 'ignore',
    detached: true,
  });
  const stop = (): void => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
  };
  onTestFinished(stop);
  for (let i = 0; i < 200; i++) {
    const probe = tryFlock(join(dir, FLOCK_FILE));
    if (probe === 'busy') return stop;
    if (probe !== 'unsupported') probe.release();
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('flock(1) never took the lock');
}

test('service lock › a live holder of the kernel lock refuses a second starter even when the pid file looks stale', async () => {
  const dir = tempDir();
  // A pid file naming a process that has exited: on its own it would be taken over.
  const gone = spawnSync('true').pid;
  writeFileSync(join(dir, LOCK_FILE), `pid=${gone} start=1 host=${hostname()}\n`);
  const stop = await holdKernelLock(dir);

  expect(() => acquireDataDirLock(dir)).toThrow(/in use by another Outpost/);

  stop();
  await new Promise((r) => setTimeout(r, 200));
  const lock = acquireDataDirLock(dir);
  lock.release();
});

test('service lock › the kernel lock is held until release, then free again', () => {
  const dir = tempDir();
  const lock = acquireDataDirLock(dir);
  expect(tryFlock(join(dir, FLOCK_FILE))).toBe('busy');
  lock.release();
  const again = tryFlock(join(dir, FLOCK_FILE));
  expect(again).not.toBe('busy');
  if (typeof again === 'object') again.release();
});

/** /proc/<pid>/stat field 3: the process state ("Z" for a zombie), or '' when gone. */
function procState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '';
  } catch {
    return '';
  }
}

test('service lock › a holder killed with -9 but not yet reaped (a zombie) does not keep a restart out', async () => {
  const dir = tempDir();
  const lockTs = join(import.meta.dirname, '../../src/service/lock.ts');
  const holderJs = `import { acquireDataDirLock } from ${JSON.stringify(lockTs)};
acquireDataDirLock(${JSON.stringify(dir)}); console.log('locked'); setInterval(() => {}, 1000);`;
  // A parent that never reaps its child, as a late-reaping container init or supervisor does.
  const parent = spawn(
    'python3',
    [
      '-c',
      'import subprocess, sys, time\np = subprocess.Popen(sys.argv[1:])\nprint("child", p.pid, flush=True)\ntime.sleep(120)',
      process.execPath,
      '--input-type=module',
      '-e',
      holderJs,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  onTestFinished(() => {
    parent.kill('SIGKILL');
  });
  let out = '';
  parent.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  for (let i = 0; i < 400 && !(out.includes('locked') && /child \d+/.test(out)); i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  const pid = Number(/child (\d+)/.exec(out)?.[1]);
  expect(out).toContain('locked');
  expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toContain(`pid=${pid} `);
  expect(() => acquireDataDirLock(dir)).toThrow(/in use by another Outpost/); // alive: refused

  process.kill(pid, 'SIGKILL');
  // The kernel drops the flock once the last thread of the holder has exited; the thread group
  // leader can show "Z" a moment before that.
  const flockFree = (): boolean => {
    const probe = tryFlock(join(dir, FLOCK_FILE));
    if (probe === 'busy') return false;
    if (probe !== 'unsupported') probe.release();
    return true;
  };
  for (let i = 0; i < 400 && !(procState(pid) === 'Z' && flockFree()); i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  expect(procState(pid)).toBe('Z');
  expect(() => process.kill(pid, 0)).not.toThrow(); // the pid still "exists": the old rule said alive

  const lock = acquireDataDirLock(dir);
  expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toContain(`pid=${process.pid} `);
  lock.release();
});
