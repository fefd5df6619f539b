import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  baseConfig,
  connectMqtt,
  metricValue,
  ROOT,
  startOutpost,
  tempDir,
  uniq,
  writeConfig,
} from './helpers.ts';

describe('service /metrics', () => {
  test('service › /metrics values change as messages flow (log offsets, bytes, ingest counters, connections)', async () => {
    const dir = tempDir('metrics');
    const cfg = join(dir, 'c.json');
    writeConfig(cfg, baseConfig(join(dir, 'data')));
    const svc = await startOutpost(cfg);
    const scrape = async () => {
      const res = await fetch(`${svc.http}metrics`);
      expect(res.headers.get('content-type')).toContain('text/plain');
      return res.text();
    };

    const before = await scrape();
    expect(metricValue(before, 'outpost_log_end_offset', { topic: 'a' })).toBe(0);
    expect(metricValue(before, 'outpost_log_partition_bytes', { topic: 'a' })).toBe(0);
    expect(metricValue(before, 'outpost_ingest_connections')).toBe(0);
    expect(metricValue(before, 'outpost_log_disk_free_bytes')).toBeGreaterThan(0);
    expect(metricValue(before, 'outpost_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(before).not.toMatch(/outpost_log_oldest_record_age_seconds\{topic="a"/);

    const dev = uniq('dev');
    const client = await connectMqtt(svc.mqttPort, dev);
    const N = 37;
    const payload = 'x'.repeat(100);
    for (let i = 0; i < N; i++) await client.publishAsync(`a/${dev}/t`, payload, { qos: 1 });

    const after = await scrape();
    expect(metricValue(after, 'outpost_log_end_offset', { topic: 'a' })).toBe(N);
    expect(metricValue(after, 'outpost_log_records', { topic: 'a' })).toBe(N);
    expect(metricValue(after, 'outpost_log_partition_bytes', { topic: 'a' })).toBeGreaterThanOrEqual(
      N * payload.length,
    );
    expect(metricValue(after, 'outpost_log_end_offset', { topic: 'b' })).toBe(0);
    expect(
      metricValue(after, 'outpost_log_oldest_record_age_seconds', { topic: 'a' }),
    ).toBeGreaterThanOrEqual(0);
    expect(metricValue(after, 'outpost_ingest_connections')).toBe(1);
    expect(
      metricValue(after, 'outpost_ingest_messages_total', { topic: 'a' }) -
        (before.includes('outpost_ingest_messages_total{')
          ? metricValue(before, 'outpost_ingest_messages_total', { topic: 'a' })
          : 0),
    ).toBe(N);
    expect(metricValue(after, 'outpost_ingest_bytes_total', { topic: 'a' })).toBe(N * payload.length);
    expect(metricValue(after, 'outpost_log_file_bytes')).toBeGreaterThanOrEqual(
      metricValue(before, 'outpost_log_file_bytes'),
    );

    // /v1/status agrees with /metrics.
    const status = (await (await fetch(`${svc.http}v1/status`)).json()) as {
      topics: { topic: string; records: number }[];
      ingest: { connectedDevices: number };
    };
    expect(status.topics.find((t) => t.topic === 'a')?.records).toBe(N);
    expect(status.ingest.connectedDevices).toBe(metricValue(after, 'outpost_ingest_connected_devices'));

    client.end(true);
    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
  });

  test('service › /metrics counts the bytes the process wrote (/proc/self/io), and the count grows as appends are committed', async () => {
    const dir = tempDir('metrics-io');
    const cfg = join(dir, 'c.json');
    writeConfig(cfg, baseConfig(join(dir, 'data')));
    const svc = await startOutpost(cfg);
    const scrape = async () => (await fetch(`${svc.http}metrics`)).text();
    const name = 'outpost_process_disk_write_bytes_total';
    if (!existsSync(`/proc/${svc.pid}/io`)) {
      // No task I/O accounting here (not Linux): the series is absent rather than a false 0.
      expect(await scrape()).not.toContain(name);
    } else {
      // The kernel's own count for the process, read around each scrape, brackets the metric.
      const procWriteBytes = () =>
        Number(/^write_bytes:\s+(\d+)$/m.exec(readFileSync(`/proc/${svc.pid}/io`, 'utf8'))?.[1]);
      const lo0 = procWriteBytes();
      const v0 = metricValue(await scrape(), name);
      expect(v0).toBeGreaterThanOrEqual(lo0);
      expect(v0).toBeLessThanOrEqual(procWriteBytes());

      const dev = uniq('dev');
      const client = await connectMqtt(svc.mqttPort, dev);
      const N = 20;
      // Each PUBACK comes after the append's fsynced commit, so each one has written pages.
      for (let i = 0; i < N; i++) await client.publishAsync(`a/${dev}/t`, 'y'.repeat(200), { qos: 1 });
      client.end(true);

      const lo1 = procWriteBytes();
      const after = await scrape();
      const v1 = metricValue(after, name);
      expect(metricValue(after, 'outpost_log_end_offset', { topic: 'a' })).toBe(N);
      expect(v1).toBeGreaterThan(v0);
      expect(v1).toBeGreaterThanOrEqual(lo1);
      expect(v1).toBeLessThanOrEqual(procWriteBytes());
      // At least one 4 KiB page per committed append.
      expect(v1 - v0).toBeGreaterThanOrEqual(N * 4096);
      expect(after).toMatch(new RegExp(`# TYPE ${name} counter`));
      // Each publish waited for its PUBACK, so each went into a commit of its own.
      expect(metricValue(after, 'outpost_log_appended_records_total')).toBe(N);
      expect(metricValue(after, 'outpost_log_commits_total')).toBeGreaterThanOrEqual(N);
      const perRecord = metricValue(after, 'outpost_process_disk_write_bytes_per_appended_record');
      expect(perRecord).toBeGreaterThanOrEqual(lo1 / N);
      expect(perRecord).toBeLessThanOrEqual(procWriteBytes() / N);
      // Raw (uncompressed record-v2) bytes beside stored bytes, per partition.
      expect(metricValue(after, 'outpost_log_partition_raw_bytes', { topic: 'a' })).toBeGreaterThanOrEqual(
        N * 200,
      );
    }
    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
  });

  test('service › /healthz and /readyz answer; unknown paths 404; writes are refused', async () => {
    const dir = tempDir('health');
    const cfg = join(dir, 'c.json');
    writeConfig(cfg, baseConfig(join(dir, 'data')));
    const svc = await startOutpost(cfg);
    expect((await fetch(`${svc.http}healthz`)).status).toBe(200);
    const ready = await fetch(`${svc.http}readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { ready: boolean }).ready).toBe(true);
    expect((await fetch(`${svc.http}nope`)).status).toBe(404);
    expect((await fetch(`${svc.http}metrics`, { method: 'POST' })).status).toBe(405);
    const tr = await fetch(`${svc.http}v1/offsets/translate?cluster=x&topic=a`);
    expect(tr.status).toBe(400);
    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
  });

  test('service › with http.token set the admin API needs the bearer token, except /healthz', async () => {
    const dir = tempDir('token');
    const cfg = join(dir, 'c.json');
    const token = 'correct-horse-battery-staple';
    writeConfig(cfg, { ...baseConfig(join(dir, 'data')), http: { host: '127.0.0.1', port: 0, token } });
    const svc = await startOutpost(cfg);
    const base = svc.http;
    expect((await fetch(`${base}healthz`)).status).toBe(200);
    expect((await fetch(`${base}metrics`)).status).toBe(401);
    expect(
      (await fetch(`${base}v1/status`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } }))
        .status,
    ).toBe(401);
    expect((await fetch(`${base}v1/status`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
      200,
    );
    expect((await fetch(`${base}?token=${token}`)).status).toBe(200);
    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
  });
});

describe('service admin config', () => {
  test('config › refuses http.host off loopback without http.token', async () => {
    const { parseConfig } = await import('../../src/config/index.ts');
    const base = baseConfig('/tmp/unused');
    expect(() => parseConfig({ ...base, http: { host: '0.0.0.0' } })).toThrow(
      /http\.token: required when http\.host \(0\.0\.0\.0\) is not loopback/,
    );
    expect(parseConfig({ ...base, http: { host: '0.0.0.0', token: 'x'.repeat(16) } }).http.host).toBe(
      '0.0.0.0',
    );
    expect(parseConfig({ ...base, http: { host: '127.0.0.1' } }).http.token).toBeUndefined();
  });
});

describe('grafana dashboard', () => {
  test('dashboard › every metric the Grafana dashboard queries is exposed by a running Outpost', async () => {
    const { readFileSync } = await import('node:fs');
    const dashboard = readFileSync(join(ROOT, 'systemd/grafana-dashboard.json'), 'utf8');
    const queried = new Set(
      [...dashboard.matchAll(/\b(outpost_[a-z0-9_]+)/g)].map((m) =>
        (m[1] as string).replace(/_(bucket|sum|count)$/, ''),
      ),
    );
    expect(queried.size).toBeGreaterThan(20);
    const dir = tempDir('dash');
    const cfg = join(dir, 'c.json');
    writeConfig(cfg, baseConfig(join(dir, 'data')));
    const svc = await startOutpost(cfg);
    const text = await (await fetch(`${svc.http}metrics`)).text();
    const exposed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    expect([...queried].filter((n) => !exposed.has(n))).toEqual([]);
    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
  });
});

describe('service readiness', () => {
  test('service › /readyz turns 503 and outpost_log_full 1 when the log reaches its disk budget', async () => {
    const dir = tempDir('full');
    const cfg = join(dir, 'c.json');
    const base = baseConfig(join(dir, 'data'));
    writeConfig(cfg, { ...base, log: { ...base.log, maxBytes: 256 * 1024, onFull: 'reject' } });
    const svc = await startOutpost(cfg);
    expect((await fetch(`${svc.http}readyz`)).status).toBe(200);
    const dev = uniq('dev');
    const client = await connectMqtt(svc.mqttPort, dev);
    // Random bytes: the default zstd cannot shrink them, so 400 of them pass the 256 KiB budget.
    const payload = randomBytes(4096);
    let refused = false;
    for (let i = 0; i < 400 && !refused; i++) {
      // A refused publish is not acknowledged: the broker closes the connection (log-full).
      refused = await Promise.race([
        client.publishAsync(`a/${dev}/t`, payload, { qos: 1 }).then(
          () => false,
          () => true,
        ),
        new Promise<boolean>((r) => client.once('close', () => r(true))),
      ]);
    }
    expect(refused).toBe(true);
    const ready = await fetch(`${svc.http}readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { logFull: boolean }).logFull).toBe(true);
    expect(metricValue(await (await fetch(`${svc.http}metrics`)).text(), 'outpost_log_full')).toBe(1);
    client.end(true);
    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
  });
});
