/**
 * The log-level rule for link failures (src/mirror/session/failures.ts), on the errors @platformatic/kafka
 * really raises (its own classes, built as its metadata and produce paths build them): expected,
 * self-healing conditions are info and counted as retries; outages warn; the rest is an error.
 */
import { NetworkError, ProtocolError, ResponseError, UserError } from '@platformatic/kafka';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { OutpostError } from '../../src/errors.ts';
import { mirrorMetrics } from '../../src/mirror/metrics.ts';
import { classifyFailure, reportFailure, TRANSIENT_PATIENCE } from '../../src/mirror/session/failures.ts';

/** What produce.ts makes of a failed send. */
const produceFailed = (cause: unknown, text: string) =>
  new OutpostError('MIRROR_PRODUCE_FAILED', `produce gw.unrouted/0 failed: ${text}`, {
    cluster: 'dc-east',
    cause,
    retriable: true,
  });

function capture() {
  const lines: Array<{ level: number; msg: string; reason?: string }> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  const registry = new Registry();
  const metrics = mirrorMetrics(registry, () => []);
  return { lines, logger, metrics, registry };
}

async function value(registry: Registry, name: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []).reduce((a, v) => a + Number(v.value), 0);
}

describe('mirror failure classes and log levels', () => {
  it('logs "Unknown topic" right after creating the topic at info, with its retry, and counts it as a retry, not an error', async () => {
    const { lines, logger, metrics, registry } = capture();
    const cause = new UserError('Unknown topic gw.unrouted.');
    const r = reportFailure(
      { alias: 'dc-east', logger, metrics },
      produceFailed(cause, cause.message),
      0,
      125,
    );
    expect(r.level).toBe('info');
    expect(lines.map((l) => l.level)).toEqual([30]);
    expect(lines[0]).toMatchObject({ reason: 'unknown-topic', retryInMs: 125, attempt: 0 });
    expect(await value(registry, 'outpost_mirror_retries_total')).toBe(1);
    expect(await value(registry, 'outpost_mirror_errors_total')).toBe(0);
  });

  it('treats a leader election (NOT_LEADER_OR_FOLLOWER in a produce response) as transient, found through the nested errors', () => {
    const res = new ResponseError(0, 9, { '/topics/0/partitions/0': [6, null] }, {});
    const outer = new AggregateError([res], 'Producing messages failed.');
    expect(classifyFailure(produceFailed(outer, outer.message))).toMatchObject({
      cls: 'transient',
      reason: 'leader-moving',
    });
  });

  it('escalates a transient condition to warn after TRANSIENT_PATIENCE sessions in a row', () => {
    const { lines, logger, metrics } = capture();
    const err = produceFailed(new ProtocolError('LEADER_NOT_AVAILABLE'), 'LEADER_NOT_AVAILABLE');
    expect(reportFailure({ alias: 'a', logger, metrics }, err, TRANSIENT_PATIENCE - 1, 10).level).toBe(
      'info',
    );
    expect(reportFailure({ alias: 'a', logger, metrics }, err, TRANSIENT_PATIENCE, 10).level).toBe('warn');
    expect(lines.map((l) => l.level)).toEqual([30, 40]);
  });

  it('logs an unreachable cluster at warn and a timeout as an outage, both counted as errors', async () => {
    const { logger, metrics, registry } = capture();
    const down = new NetworkError('Connection to 127.0.0.1:1 failed.');
    expect(reportFailure({ alias: 'a', logger, metrics }, down, 0, 10).level).toBe('warn');
    const slow = new OutpostError('MIRROR_NO_PROGRESS', 'heartbeat: no answer from a within 30000 ms');
    expect(classifyFailure(slow).cls).toBe('outage');
    expect(await value(registry, 'outpost_mirror_errors_total')).toBe(1);
  });

  it('keeps error for what an operator must act on: authorization, a too-large record, a local commit', () => {
    const denied = new ResponseError(0, 9, { '/topics/0': [29, null] }, {});
    expect(classifyFailure(produceFailed(denied, 'TOPIC_AUTHORIZATION_FAILED')).cls).toBe('fault');
    expect(classifyFailure(new OutpostError('RECORD_TOO_LARGE', 'too large')).cls).toBe('fault');
    expect(classifyFailure(new OutpostError('LOG_WRITE_FAILED', 'commit failed')).cls).toBe('fault');
  });
});
