/**
 * Stopping what the mirror owns (links, checkpoint rounds): a bounded wait, and the error a missed
 * deadline raises. SHUTDOWN_INCOMPLETE names what is still open so the service can log it and exit
 * non-zero instead of reporting a clean stop while a socket keeps the process alive.
 */
import { OutpostError } from '../../errors.ts';

/** True when `p` settles (either way) within `ms`; the timer never outlives the wait. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The error of an owner that did not close everything by its deadline. */
export function stopIncomplete(owner: string, holds: readonly string[], ms: number, cluster?: string) {
  return new OutpostError(
    'SHUTDOWN_INCOMPLETE',
    `${owner} did not stop within ${Math.round(ms)} ms; still open: ${holds.join('; ') || 'unknown'}`,
    { ...(cluster ? { cluster } : {}), reason: holds.join('; ') },
  );
}
