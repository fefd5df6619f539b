/** The log's own option rules (the service maps the config to LogOptions: service/log-options.ts). */
import { OutpostError } from '../errors.ts';
import type { CommitPolicy } from './append.ts';

const DEFAULT_COMMIT_MAX_BYTES = 1024 ** 2;

/** The Sealer's policy from LogOptions (or setCommitPolicy); CONFIG_INVALID for values it cannot use. */
export function commitPolicy(o: { commitWindowMs?: number; commitMaxBytes?: number }): CommitPolicy {
  const policy = { windowMs: o.commitWindowMs ?? 0, maxBytes: o.commitMaxBytes ?? DEFAULT_COMMIT_MAX_BYTES };
  const ok = (n: number, min: number) => Number.isSafeInteger(n) && n >= min;
  if (!ok(policy.windowMs, 0) || !ok(policy.maxBytes, 1)) {
    throw new OutpostError(
      'CONFIG_INVALID',
      `commit policy needs an integer window ≥ 0 ms and maxBytes ≥ 1, not ${policy.windowMs} ms / ${policy.maxBytes} bytes`,
      { reason: 'commit policy' },
    );
  }
  return policy;
}
