/**
 * The mirror thread's metrics on the service's registry. The thread keeps its own prom-client
 * Registry (mirrorMetrics, as in-process); here every one of those metrics is registered again on
 * the main registry, same name, type, help and labels, with a collect() that fills it from the
 * thread's getMetricsAsJSON() at scrape time. The definitions come from mirrorMetrics itself (on a
 * scratch registry), so the two sides cannot drift. One request serves a whole scrape; it is
 * bounded (the caller's `fetch` times out), so a stuck thread cannot hang /metrics.
 *
 * A restarted thread counts from 0 again: its counters reset, as after a process restart, and
 * Prometheus' rate() treats that as a counter reset.
 */

import { Counter, Gauge, type LabelValues, Registry } from 'prom-client';
import { OutpostError } from '../../errors.ts';
import { mirrorMetrics } from '../metrics.ts';
import type { MetricsJson } from './protocol.ts';

/** prom-client's metric objects carry their label names; its typings leave them out. */
type Described = { name: string; help: string; type: unknown; labelNames?: readonly string[] };

export const THREAD_RESTARTS = 'outpost_mirror_thread_restarts_total';

export function bridgeMirrorMetrics(registry: Registry, fetch: () => Promise<MetricsJson>): void {
  const scratch = new Registry();
  mirrorMetrics(scratch, () => []);
  let inflight: Promise<Map<string, MetricsJson[number]>> | undefined;
  // Every collect() of one scrape starts in the same turn: they share one request.
  const current = () => {
    inflight ??= fetch()
      .then((list) => new Map(list.map((m) => [m.name, m])))
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };
  for (const m of scratch.getMetricsAsArray() as unknown as Described[]) {
    const base = { name: m.name, help: m.help, labelNames: [...(m.labelNames ?? [])], registers: [registry] };
    const values = async () => (await current()).get(m.name)?.values ?? [];
    if (m.type === 'counter') {
      new Counter({
        ...base,
        async collect() {
          const vs = await values();
          this.reset();
          for (const v of vs) this.inc(v.labels as LabelValues<string>, v.value);
        },
      });
    } else if (m.type === 'gauge') {
      new Gauge({
        ...base,
        async collect() {
          const vs = await values();
          this.reset();
          for (const v of vs) this.set(v.labels as LabelValues<string>, v.value);
        },
      });
    } else {
      const text = `mirror metric ${m.name}: type ${String(m.type)} is not bridged from the thread`;
      throw new OutpostError('MIRROR_METRIC_UNBRIDGED', text);
    }
  }
}

/** `outpost_mirror_thread_restarts_total`, on the main registry. */
export function threadRestartsCounter(registry: Registry): Counter {
  return new Counter({
    name: THREAD_RESTARTS,
    help: 'Times the mirror thread (mirror.thread) died, from an uncaught error or an exit, and was started again with backoff; each is logged at error level with its error.',
    registers: [registry],
  });
}
