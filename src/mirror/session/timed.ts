/** Bounds a remote call: "connected but no answer" is an outage (MIRROR_NO_PROGRESS), not a wait. */
import { OutpostError } from '../../errors.ts';

export async function timed<T>(p: Promise<T>, ms: number, what: string, cluster: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new OutpostError('MIRROR_NO_PROGRESS', `${what}: no answer from ${cluster} within ${ms} ms`, {
            cluster,
            retriable: true,
          }),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
