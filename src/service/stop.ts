/**
 * The service's stop, as named steps, each owning what it started and each awaited with a deadline:
 *
 *   stopIngest (60% of the budget: stop accepting, PUBACK in-flight appends)
 *   → stopMirror (links, sessions, checkpoint rounds: until the budget minus TAIL_RESERVE)
 *   → closeAdmin → stopRetention → closeDevices → closeLog (each at least TAIL_FLOOR_MS)
 *
 * A step that misses its deadline is logged with what it still holds (its own report, else the
 * process's active handles) and the stop is incomplete: the service exits non-zero (systemd records
 * it). A step that fails is logged and the next ones still run: the log always closes.
 */
import { fstatSync } from 'node:fs';
import type { Logger } from 'pino';
import { isOutpostError } from '../errors.ts';

export interface StopStep {
  name: string;
  /** Share of the remaining budget this step may use (default: all of it). */
  share?: number;
  /** Leaves this much of the whole budget for the steps after it. */
  reserveMs?: number;
  run(budgetMs: number): Promise<void> | void;
  /** What the step's owner still holds, for the missed-deadline line. */
  holds?(): string[];
}

export interface StopReport {
  /** Steps that missed their deadline, with what they held. */
  late: Array<{ step: string; holds: string[] }>;
  failed: string[];
  /** How long each step took (ms). */
  tookMs: Record<string, number>;
}

/** The closing steps always get this long, even when an earlier step used the whole budget. */
export const TAIL_FLOOR_MS = 1_000;

/** stdin/stdout/stderr that are pipes or sockets (journald): Node lists them as PipeWrap, harmless. */
function stdioPipes(): number {
  let n = 0;
  for (const fd of [0, 1, 2]) {
    try {
      const st = fstatSync(fd);
      if (st.isFIFO() || st.isSocket()) n++;
    } catch {
      // closed fd
    }
  }
  return n;
}

/**
 * Handles keeping the event loop alive, by kind (Node's process.getActiveResourcesInfo()), without
 * the stdio pipes: after a clean stop this is empty.
 */
export function activeResources(): Record<string, number> {
  const out: Record<string, number> = {};
  let pipes = stdioPipes();
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind === 'PipeWrap' && pipes > 0) {
      pipes--;
      continue;
    }
    out[kind] = (out[kind] ?? 0) + 1;
  }
  return out;
}

/** Runs the steps in order by `deadline` (epoch ms); never throws. */
export async function stopInOrder(steps: StopStep[], deadline: number, logger: Logger): Promise<StopReport> {
  const report: StopReport = { late: [], failed: [], tookMs: {} };
  for (const step of steps) {
    const left = deadline - Date.now() - (step.reserveMs ?? 0);
    const budget = Math.max(TAIL_FLOOR_MS, Math.floor(left * (step.share ?? 1)));
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), budget);
    });
    try {
      const outcome = await Promise.race([
        Promise.resolve(step.run(budget)).then(() => 'done' as const),
        late,
      ]);
      if (outcome === 'late') {
        const holds = step.holds?.() ?? [];
        report.late.push({ step: step.name, holds });
        logger.error(
          { step: step.name, budgetMs: budget, holds, activeResources: activeResources() },
          `stop step ${step.name} missed its deadline; still open: ${holds.join('; ') || 'see activeResources'}`,
        );
      }
    } catch (err) {
      if (isOutpostError(err, 'SHUTDOWN_INCOMPLETE')) {
        const holds = step.holds?.() ?? [err.fields.reason ?? ''];
        report.late.push({ step: step.name, holds });
        logger.error(
          { step: step.name, budgetMs: budget, holds, activeResources: activeResources(), err: err.message },
          `stop step ${step.name} missed its deadline; still open: ${holds.join('; ')}`,
        );
      } else {
        report.failed.push(step.name);
        logger.error({ step: step.name, err: String(err) }, `stop step ${step.name} failed`);
      }
    } finally {
      clearTimeout(timer);
      report.tookMs[step.name] = Date.now() - started;
    }
  }
  return report;
}
