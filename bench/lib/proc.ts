/**
 * What the benchmarks read about a broker process from Linux's /proc, plus the small process and
 * port helpers they share. Every figure is of the broker process alone (not its children).
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A positive integer from the environment, or `def`. */
export const envInt = (name: string, def: number): number => {
  const v = process.env[name];
  const n = v === undefined || v === '' ? def : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
  return Math.floor(n);
};

/** VmRSS, or RssAnon (process-private memory, excluding file pages such as LMDB's mapped data file). */
export function rssBytes(pid: number, field: 'VmRSS' | 'RssAnon' = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** USER_HZ: 100 on every Linux architecture Node supports. */
const CLOCK_TICKS = 100;

/** CPU time (user + system) a process has used so far, ms (/proc/<pid>/stat fields 14 and 15). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/**
 * Bytes the process has caused to be sent to the storage layer so far: `write_bytes` of
 * /proc/<pid>/io, summed over all its threads (the JVM's journal thread included). It is counted
 * when a page of the page cache is dirtied, so a page rewritten before writeback counts each time,
 * and it does not count what the filesystem adds (ext4's journal). Null when /proc/<pid>/io is
 * unreadable (not Linux, or no permission).
 */
export function writeBytes(pid: number): number | null {
  try {
    const m = /^write_bytes:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export function killAndWait(child: ChildProcess, signal: NodeJS.Signals, graceMs = 30_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    // A broker that ignores the signal is killed after the grace period, so a bench never hangs.
    const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(signal);
  });
}

export function waitForMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: { type: string } & Record<string, unknown>): void => {
      if (m.type === type) {
        child.off('message', onMsg);
        child.off('exit', onExit);
        resolve(m as T);
      }
    };
    const onExit = (code: number | null): void => {
      child.off('message', onMsg);
      reject(new Error(`process exited (${code}) before "${type}"`));
    };
    child.on('message', onMsg);
    child.once('exit', onExit);
  });
}

/** Latency quantile from a sorted array of µs samples, in ms. */
export function quantileMs(sortedUs: number[], p: number): number {
  return (sortedUs[Math.min(sortedUs.length - 1, Math.floor(p * sortedUs.length))] ?? 0) / 1000;
}
