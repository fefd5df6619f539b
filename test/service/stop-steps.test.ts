/**
 * The stop's step runner (src/service/stop.ts), as logic with fake steps: every step runs in order,
 * a step that misses its deadline is logged with what it holds and reported, a failing step does not
 * keep the later ones (closeLog) from running. The real-process claims are in stop.test.ts.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { stopIncomplete } from '../../src/mirror/session/stopping.ts';
import { activeResources, type StopStep, stopInOrder, TAIL_FLOOR_MS } from '../../src/service/stop.ts';

function capture() {
  const lines: Array<{ level: number; msg: string; step?: string; holds?: string[] }> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { lines, logger };
}

describe('stop steps', () => {
  it('reports a step that never finishes as late, with what it holds, and still runs the steps after it', async () => {
    const { lines, logger } = capture();
    const ran: string[] = [];
    const steps: StopStep[] = [
      {
        name: 'stopMirror',
        run: () => new Promise(() => {}),
        holds: () => ['session with dc-east: producer'],
      },
      { name: 'closeLog', run: () => void ran.push('closeLog') },
    ];
    const report = await stopInOrder(steps, Date.now() + 50, logger);
    expect(report.late).toEqual([{ step: 'stopMirror', holds: ['session with dc-east: producer'] }]);
    expect(ran).toEqual(['closeLog']);
    const line = lines.find((l) => l.step === 'stopMirror');
    expect(line?.level).toBe(50);
    expect(line?.msg).toContain('stopMirror missed its deadline; still open: session with dc-east: producer');
  });

  it('treats SHUTDOWN_INCOMPLETE from a step as late and a thrown error as failed', async () => {
    const { logger } = capture();
    const steps: StopStep[] = [
      {
        name: 'stopMirror',
        run: () => {
          throw stopIncomplete('mirror', ['checkpoint round a→b'], 100);
        },
      },
      {
        name: 'closeDevices',
        run: () => {
          throw new Error('boom');
        },
      },
      { name: 'closeLog', run: () => {} },
    ];
    const report = await stopInOrder(steps, Date.now() + 5_000, logger);
    expect(report.late).toEqual([{ step: 'stopMirror', holds: ['checkpoint round a→b'] }]);
    expect(report.failed).toEqual(['closeDevices']);
  });

  it('gives each step its share of what is left, and closing steps at least TAIL_FLOOR_MS after the budget is spent', async () => {
    const { logger } = capture();
    const budgets: number[] = [];
    const steps: StopStep[] = [
      { name: 'stopIngest', share: 0.5, run: (ms) => void budgets.push(ms) },
      { name: 'closeLog', run: (ms) => void budgets.push(ms) },
    ];
    await stopInOrder(steps, Date.now() + 10_000, logger);
    expect(budgets[0]).toBeGreaterThan(4_000);
    expect(budgets[0]).toBeLessThanOrEqual(5_000);
    budgets.length = 0;
    const report = await stopInOrder(steps, Date.now() - 1, logger);
    expect(budgets).toEqual([TAIL_FLOOR_MS, TAIL_FLOOR_MS]);
    expect(report).toMatchObject({ late: [], failed: [] });
    expect(Object.keys(report.tookMs)).toEqual(['stopIngest', 'closeLog']);
  });

  it('lists a live timer among the active resources, and not once it is cleared', () => {
    const t = setTimeout(() => {}, 60_000);
    expect(activeResources()['Timeout'] ?? 0).toBeGreaterThan(0);
    clearTimeout(t);
    const before = activeResources()['Timeout'] ?? 0;
    const u = setTimeout(() => {}, 60_000);
    expect(activeResources()['Timeout']).toBe(before + 1);
    clearTimeout(u);
  });
});
