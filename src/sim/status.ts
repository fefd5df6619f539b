/**
 * Reading a running service's GET /v1/status (the admin HTTP API) for the demo, the benchmark and
 * the end-to-end tests. Only the fields used here are typed; the mirror part follows MirrorStatus
 * of src/mirror (clusters → partitions with lagRecords/lagSeconds/state).
 */
import { OutpostError } from '../errors.ts';
export interface StatusSnapshot {
  edgeId: string;
  ready: boolean;
  topics: Array<{
    topic: string;
    records: number;
    partitions: Array<{ partition: number; endOffset: number }>;
  }>;
  ingest: { connections?: number; connectedDevices?: number; msgsPerSecond?: number } | null;
  mirror: {
    clusters: Array<{
      cluster: string;
      state: string;
      partitions: Array<{
        topic: string;
        partition: number;
        state: string;
        lagRecords: number;
        lagSeconds: number;
      }>;
    }>;
  } | null;
}

export async function fetchStatus(httpBase: string, token?: string): Promise<StatusSnapshot> {
  const res = await fetch(new URL('/v1/status', httpBase), {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok)
    throw new OutpostError('SIM_SERVICE_FAILED', `GET /v1/status: HTTP ${res.status}`, { retriable: true });
  return (await res.json()) as StatusSnapshot;
}

/** Records not yet mirrored, per cluster alias (sum over partitions). */
export function mirrorLag(
  s: StatusSnapshot,
): Record<string, { records: number; seconds: number; state: string }> {
  const out: Record<string, { records: number; seconds: number; state: string }> = {};
  for (const c of s.mirror?.clusters ?? []) {
    out[c.cluster] = {
      records: c.partitions.reduce((n, p) => n + p.lagRecords, 0),
      seconds: c.partitions.reduce((m, p) => Math.max(m, p.lagSeconds), 0),
      state: c.state,
    };
  }
  return out;
}

/** Polls until every cluster's lag is 0 (or `timeoutMs` passes: then throws with the last lag seen). */
export async function waitForMirror(
  httpBase: string,
  opts: { timeoutMs?: number; token?: string } = {},
): Promise<void> {
  const until = Date.now() + (opts.timeoutMs ?? 120_000);
  let last: unknown = null;
  while (Date.now() < until) {
    try {
      const s = await fetchStatus(httpBase, opts.token);
      const lag = mirrorLag(s);
      last = lag;
      const clusters = Object.values(lag);
      if (s.mirror !== null && clusters.length > 0 && clusters.every((c) => c.records === 0)) return;
      if (s.mirror === null) last = 'no mirror in /v1/status';
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new OutpostError(
    'SIM_SERVICE_FAILED',
    `mirror still lagging after ${opts.timeoutMs ?? 120_000} ms: ${JSON.stringify(last)}`,
  );
}
