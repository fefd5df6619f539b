/**
 * Data-dir lock: one running service per data dir.
 *
 * File `<dataDir>/outpost.lock`, created with O_CREAT|O_EXCL, text (one line, LF-terminated):
 *
 *   pid=<decimal pid> start=<process start time in clock ticks since boot, /proc/<pid>/stat field 22> host=<hostname>\n
 *
 * Exclusivity comes first from a kernel flock on `<dataDir>/outpost.flock` (flock.ts): only its holder
 * goes on to the pid file, so two starters racing over a stale pid file cannot both win. The pid
 * file names the holder in the refusal and covers systems where flock is unavailable.
 *
 * The kernel lock is authoritative: the kernel drops a flock when its holder dies, so once we hold it,
 * a pid file left by a process on this host is stale whatever kill(pid, 0) says. A process killed
 * with -9 stays a zombie until its parent reaps it (late-reaping container inits, supervisors that
 * restart before they reap), and kill(pid, 0) succeeds on a zombie: without this rule a restart
 * would be refused with DATA_DIR_LOCKED until the reaping. A pid file naming another host (shared
 * storage, where flock may not reach across machines) is still honoured.
 *
 * Only where flock is unavailable does the pid file decide alone: a lock whose pid is gone
 * (kill(pid, 0) → ESRCH), or whose pid was reused by a different process (start time differs), is
 * stale and is taken over. The reader role (CLI) never takes this lock; LMDB itself makes concurrent
 * readers safe.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { OutpostError } from '../errors.ts';
import { tryFlock } from './flock.ts';

export const LOCK_FILE = 'outpost.lock';
export const FLOCK_FILE = 'outpost.flock';

export interface DataDirLock {
  readonly path: string;
  release(): void;
}

interface Holder {
  pid: number;
  start: string;
  host: string;
}

/** /proc/<pid>/stat field 22 (starttime), or '' when unavailable (non-Linux, gone). */
export function processStartTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? '';
  } catch {
    return '';
  }
}

function parseHolder(text: string): Holder | null {
  const m = /pid=(\d+) start=(\S*) host=(\S*)/.exec(text);
  if (!m) return null;
  return { pid: Number(m[1]), start: m[2] ?? '', host: m[3] ?? '' };
}

function isAlive(holder: Holder, flockHeld: boolean): boolean {
  if (holder.host !== hostname()) return true; // shared storage from another machine: never steal
  if (flockHeld) return false; // the kernel released the holder's flock: it is gone (or a zombie)
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    // EPERM: exists, owned by another user.
  }
  const start = processStartTime(holder.pid);
  return start === '' || holder.start === '' || start === holder.start;
}

/** Takes the lock or throws DATA_DIR_LOCKED naming the holder's pid. */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  const line = `pid=${process.pid} start=${processStartTime(process.pid)} host=${hostname()}\n`;
  let kernel: ReturnType<typeof tryFlock>;
  try {
    kernel = tryFlock(join(dataDir, FLOCK_FILE));
  } catch (err) {
    throw new OutpostError('DATA_DIR_NOT_WRITABLE', `cannot lock ${dataDir}: ${(err as Error).message}`, {
      path,
      cause: err,
    });
  }
  if (kernel === 'busy') {
    let holder: Holder | null = null;
    try {
      holder = parseHolder(readFileSync(path, 'utf8'));
    } catch {
      // pid file not written yet by the holder
    }
    const who = holder ? `pid ${holder.pid} on ${holder.host}` : 'another process';
    throw new OutpostError(
      'DATA_DIR_LOCKED',
      `data dir ${dataDir} is in use by another Outpost (${who}); stop it first`,
      {
        path,
        reason: `held by ${who}`,
      },
    );
  }
  const flockHeld = kernel === 'unsupported' ? null : kernel;
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        flockHeld?.release();
        throw new OutpostError('DATA_DIR_NOT_WRITABLE', `cannot create ${path}: ${(err as Error).message}`, {
          path,
          cause: err,
        });
      }
      let text = '';
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        continue; // removed meanwhile: retry
      }
      const holder = parseHolder(text);
      if (holder && isAlive(holder, flockHeld !== null)) {
        flockHeld?.release();
        throw new OutpostError(
          'DATA_DIR_LOCKED',
          `data dir ${dataDir} is in use by another Outpost (pid ${holder.pid} on ${holder.host}); stop it first`,
          { path, reason: `held by pid ${holder.pid}` },
        );
      }
      // Stale (holder gone, or an empty file left by a crash between create and write): move it
      // aside atomically, then retry the exclusive create. Two racing starters: only one create wins.
      try {
        const aside = `${path}.stale-${process.pid}`;
        renameSync(path, aside);
        unlinkSync(aside);
      } catch {
        // someone else moved it: retry
      }
      continue;
    }
    try {
      writeSync(fd, line);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    let released = false;
    return {
      path,
      release() {
        if (released) return;
        released = true;
        try {
          const holder = parseHolder(readFileSync(path, 'utf8'));
          if (holder?.pid === process.pid) unlinkSync(path);
        } catch {
          // already gone
        }
        flockHeld?.release();
      },
    };
  }
  flockHeld?.release();
  throw new OutpostError('DATA_DIR_LOCKED', `could not take the lock ${path} (contended)`, { path });
}
