/**
 * An advisory kernel lock (flock(2), LOCK_EX | LOCK_NB) on `<dataDir>/outpost.flock`, held for the
 * life of the process. The kernel drops it when the process exits in any way (kill -9 included),
 * so two services can never both pass it, however they race. The file is never deleted (deleting
 * a flocked file would let a second process lock a new inode at the same path). Node has no flock;
 * libc's is called through koffi, already used for sd_notify. Where libc cannot be loaded
 * (non-glibc), `tryFlock` returns 'unsupported' and the caller relies on the pid file alone.
 */
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { OutpostError } from '../errors.ts';

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

type FlockFn = (fd: number, op: number) => number;
let flockFn: { call: FlockFn; errno: () => number } | null | undefined;

function loadFlock(): { call: FlockFn; errno: () => number } | null {
  if (flockFn !== undefined) return flockFn;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const call = koffi.load('libc.so.6').func('int flock(int fd, int operation)') as FlockFn;
    flockFn = { call, errno: () => koffi.errno() };
  } catch {
    flockFn = null;
  }
  return flockFn;
}

export interface HeldFlock {
  release(): void;
}

/** Takes the lock without waiting: the held lock, 'busy' when another process holds it, or 'unsupported'. */
export function tryFlock(path: string): HeldFlock | 'busy' | 'unsupported' {
  const lib = loadFlock();
  if (lib === null) return 'unsupported';
  const fd = openSync(path, 'a', 0o644);
  if (lib.call(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = lib.errno();
    closeSync(fd);
    if (errno === EWOULDBLOCK) return 'busy';
    throw new OutpostError('SYSCALL_FAILED', `flock(${path}) failed, errno ${errno}`, { path });
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      closeSync(fd); // closing the only descriptor drops the lock
    },
  };
}
