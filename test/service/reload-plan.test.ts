import { describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { restartOnly } from '../../src/service/reload.ts';
import { baseConfig } from './helpers.ts';

const cfg = (patch: Record<string, unknown> = {}) => parseConfig({ ...baseConfig('/tmp/x', 'gw'), ...patch });

describe('reload plan', () => {
  test('reload › nothing needs a restart when only reloadable settings change', () => {
    const old = cfg();
    const next = cfg({
      logging: { level: 'debug' },
      routes: [],
      mqtt: { ...baseConfig('/tmp/x').mqtt, allowAnonymous: false },
    });
    const { paths, effective } = restartOnly(old, next);
    expect(paths).toEqual([]);
    expect(effective.logging.level).toBe('debug');
    expect(effective.routes).toEqual([]);
    expect(effective.mqtt.allowAnonymous).toBe(false);
  });

  test('reload › listener, dataDir, http, edgeId and cluster reach changes need a restart and keep their running values', () => {
    const old = cfg({ mirror: { clusters: { east: { bootstrap: 'k1:9092' } } } });
    const next = cfg({
      edgeId: 'other',
      dataDir: '/tmp/y',
      http: { host: '127.0.0.1', port: 9999 },
      mqtt: { listeners: [{ type: 'tcp', host: '127.0.0.1', port: 1884 }] },
      mirror: {
        clusters: { east: { bootstrap: 'k2:9092', maxBytesPerSecond: 1000 }, west: { bootstrap: 'k3:9092' } },
      },
    });
    const { paths, effective } = restartOnly(old, next);
    expect(paths).toEqual([
      'mqtt.listeners',
      'dataDir',
      'http',
      'edgeId',
      'mirror.clusters (added, removed, bootstrap, tls or sasl)',
    ]);
    expect(effective.edgeId).toBe('gw');
    expect(effective.dataDir).toBe('/tmp/x');
    expect(effective.http).toEqual(old.http);
    expect(effective.mqtt.listeners).toEqual(old.mqtt.listeners);
    // Running clusters keep how they are reached but take new pacing; added clusters wait for a restart.
    expect(Object.keys(effective.mirror.clusters)).toEqual(['east']);
    expect(effective.mirror.clusters.east?.bootstrap).toEqual(['k1:9092']);
    expect(effective.mirror.clusters.east?.maxBytesPerSecond).toBe(1000);
  });

  test('reload › log.maxRecordBytes and log.minFreeBytes need a restart and keep their running values; the commit window and size do not', async () => {
    const old = cfg();
    const next = cfg({
      log: {
        ...old.log,
        maxRecordBytes: 4 * 1024 ** 2,
        minFreeBytes: 1,
        commitWindowMs: 100,
        commitMaxBytes: 10,
      },
    });
    const { paths, effective } = restartOnly(old, next);
    expect(paths).toEqual(['log.maxRecordBytes', 'log.minFreeBytes']);
    expect(effective.log.maxRecordBytes).toBe(old.log.maxRecordBytes);
    expect(effective.log.minFreeBytes).toBe(old.log.minFreeBytes);
    expect(effective.log.commitWindowMs).toBe(100);
    expect(effective.log.commitMaxBytes).toBe(10);
  });

  test("reload › a running cluster's required flag and topic selection need a restart and keep their running values", () => {
    const old = cfg({ mirror: { clusters: { east: { bootstrap: 'k1:9092', required: false } } } });
    const next = cfg({
      mirror: {
        clusters: {
          east: {
            bootstrap: 'k1:9092',
            required: true,
            topics: { include: ['t*'] },
            heartbeatIntervalMs: 777,
          },
        },
      },
    });
    const { paths, effective } = restartOnly(old, next);
    expect(paths).toEqual(['mirror.clusters.east.required', 'mirror.clusters.east.topics']);
    expect(effective.mirror.clusters.east?.required).toBe(false);
    expect(effective.mirror.clusters.east?.topics).toEqual(old.mirror.clusters.east?.topics);
    expect(effective.mirror.clusters.east?.heartbeatIntervalMs).toBe(777);
  });

  test('reload › a log topic added or grown while clusters are configured is flagged: its new partitions are mirrored after a restart', () => {
    const mirror = { clusters: { east: { bootstrap: 'k1:9092' } } };
    const old = cfg({ mirror });
    const topics = { ...old.log.topics, extra: { partitions: 2 } };
    const next = cfg({ mirror, log: { ...old.log, topics } });
    const { paths, effective } = restartOnly(old, next);
    expect(paths).toEqual(['log.topics.extra.partitions (mirroring of new partitions)']);
    expect(effective.log.topics.extra?.partitions).toBe(2);
  });

  test('reload › moving the mirror in or out of its thread (mirror.thread) needs a restart and keeps the running value', () => {
    const old = cfg();
    expect(old.mirror.thread).toBe(true);
    const { paths, effective } = restartOnly(old, cfg({ mirror: { thread: false } }));
    expect(paths).toEqual(['mirror.thread']);
    expect(effective.mirror.thread).toBe(true);
  });
});
