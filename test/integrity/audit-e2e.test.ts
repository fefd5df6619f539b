import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { mqttTcp, startOutpost, waitForMirror } from '../../src/sim/index.ts';
import { startCluster } from '../kafka/harness.ts';
import { sharedClusters } from '../kafka/shared.ts';
import { cli, fleetConfig, tempDir } from '../sim/helpers.ts';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  if (a === null || typeof a === 'string') throw new Error('no port');
  return a.port;
}

interface Report {
  verdict: string;
  lost: number;
  reordered: number;
  records: number;
  ackedChecked: number;
  duplicates: { expected: number; unexpected: number };
}

describe('integrity: delivery audit end to end', () => {
  it('simulator → outpost run → dc-east and dc-west: the audit passes on the edge log and on both clusters', async () => {
    const { 'dc-east': east, 'dc-west': west } = await sharedClusters();
    const { dir, cleanup } = tempDir('outpost-audit-e2e-');
    onTestFinished(cleanup);
    const edgeId = `audit-e2e-${process.pid}-${Date.now() % 1_000_000}`;
    const config = fleetConfig(dir, edgeId, { 'dc-east': east.bootstrap, 'dc-west': west.bootstrap });
    const outpost = await startOutpost({ configPath: config, logFile: join(dir, 'outpost.log') });
    onTestFinished(async () => {
      await outpost.stop();
    });
    const acked = join(dir, 'acked.json');
    const sim = await cli([
      'sim',
      ...['--config', config, '--register', '--port', String(mqttTcp(outpost).port)],
      ...['--stb', '10', '--vehicles', '5', '--rate-stb', '10', '--rate-vehicle', '10'],
      ...['--messages', '1200', '--seed', '17', '--chaos-disconnect', '0.1', '--acked-out', acked],
    ]);
    expect(sim.code, sim.stderr).toBe(0);
    const summary = JSON.parse(sim.stdout) as { acked: number; qos0: number };
    expect(summary.acked + summary.qos0).toBe(1200);

    await waitForMirror(outpost.http as string, { timeoutMs: 120_000 });

    const reports: Record<string, Report> = {};
    for (const source of [['--edge'], ['--cluster', 'dc-east'], ['--cluster', 'dc-west']]) {
      const r = await cli(['audit', '--config', config, ...source, '--acked', acked, '--json'], {
        timeoutMs: 180_000,
      });
      expect(r.code, `${source.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
      reports[source.at(-1) as string] = JSON.parse(r.stdout) as Report;
    }
    const edge = reports['--edge'] as Report;
    expect(edge).toMatchObject({ verdict: 'pass', lost: 0, reordered: 0, ackedChecked: summary.acked });
    for (const dc of ['dc-east', 'dc-west']) {
      const r = reports[dc] as Report;
      expect(r).toMatchObject({ verdict: 'pass', lost: 0, reordered: 0, ackedChecked: summary.acked });
      // exactly once: the cluster holds what the edge holds, the same expected duplicates and no more
      expect(r.records).toBe(edge.records);
      expect(r.duplicates).toEqual(edge.duplicates);
    }
  }, 300_000);

  it('kill -9 of outpost mid-run: after a restart on the same ports nothing acknowledged is lost, on the edge or in either cluster', async () => {
    const { 'dc-east': east, 'dc-west': west } = await sharedClusters();
    const { dir, cleanup } = tempDir('outpost-audit-e2e-kill-');
    onTestFinished(cleanup);
    const edgeId = `audit-kill-${process.pid}-${Date.now() % 1_000_000}`;
    // fixed ports, so the devices reconnect to the restarted service
    const config = fleetConfig(
      dir,
      edgeId,
      { 'dc-east': east.bootstrap, 'dc-west': west.bootstrap },
      {
        mqtt: {
          listeners: [{ type: 'tcp', host: '127.0.0.1', port: await freePort() }],
          allowAnonymous: false,
        },
        http: { host: '127.0.0.1', port: await freePort() },
      },
    );
    const logFile = join(dir, 'outpost.log');
    let outpost = await startOutpost({ configPath: config, logFile });
    onTestFinished(async () => {
      await outpost.stop();
    });
    const port = String(mqttTcp(outpost).port);
    const acked = join(dir, 'acked.json');
    const simRun = cli([
      'sim',
      ...['--config', config, '--register', '--port', port, '--stb', '8', '--vehicles', '4'],
      ...[
        '--rate-stb',
        '10',
        '--rate-vehicle',
        '10',
        '--duration',
        '12',
        '--seed',
        '23',
        '--acked-out',
        acked,
      ],
      ...['--qos-mix', '1:0.8,2:0.2', '--drain-timeout', '60'],
    ]);
    // let acknowledged messages pile up, then crash the service and bring it back
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await outpost.kill9()).toBe(137);
    await new Promise((r) => setTimeout(r, 1_000));
    outpost = await startOutpost({ configPath: config, logFile });
    const sim = await simRun;
    expect(sim.code, sim.stderr).toBe(0);
    const summary = JSON.parse(sim.stdout) as { acked: number; unacked: number; drained: boolean };
    expect(summary.drained).toBe(true);
    await waitForMirror(outpost.http as string, { timeoutMs: 120_000 });
    for (const source of [['--edge'], ['--cluster', 'dc-east'], ['--cluster', 'dc-west']]) {
      const r = await cli(['audit', '--config', config, ...source, '--acked', acked, '--json'], {
        timeoutMs: 180_000,
      });
      expect(r.code, `${source.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
      const report = JSON.parse(r.stdout) as Report;
      expect(report).toMatchObject({ verdict: 'pass', lost: 0, reordered: 0, ackedChecked: summary.acked });
      expect(report.duplicates.unexpected).toBe(0);
    }
  }, 300_000);

  it('a datacenter broker stopped mid-run and restarted: the audit of that datacenter still passes (in order, nothing lost)', async () => {
    // a private cluster: the shared ones must never be stopped
    const dc = await startCluster({ name: `outage-${process.pid}-${Date.now() % 100_000}` });
    onTestFinished(async () => {
      await dc.destroy();
    });
    const { dir, cleanup } = tempDir('outpost-audit-e2e-outage-');
    onTestFinished(cleanup);
    const edgeId = `audit-outage-${process.pid}-${Date.now() % 1_000_000}`;
    const config = fleetConfig(dir, edgeId, { 'dc-west': dc.bootstrap });
    const outpost = await startOutpost({ configPath: config, logFile: join(dir, 'outpost.log') });
    onTestFinished(async () => {
      await outpost.stop();
    });
    const acked = join(dir, 'acked.json');
    const simRun = cli([
      'sim',
      ...[
        '--config',
        config,
        '--register',
        '--port',
        String(mqttTcp(outpost).port),
        '--stb',
        '20',
        '--vehicles',
        '5',
      ],
      ...[
        '--rate-stb',
        '0.5',
        '--rate-vehicle',
        '1',
        '--duration',
        '25',
        '--seed',
        '2026',
        '--acked-out',
        acked,
      ],
      ...['--qos-mix', '1:1'],
    ]);
    await new Promise((r) => setTimeout(r, 8_000));
    await dc.stop();
    await new Promise((r) => setTimeout(r, 8_000));
    await dc.start();
    const sim = await simRun;
    expect(sim.code, sim.stderr).toBe(0);
    await waitForMirror(outpost.http as string, { timeoutMs: 120_000 });
    const edge = await cli(['audit', '--config', config, '--edge', '--acked', acked]);
    expect(edge.code, edge.stdout).toBe(0);
    const west = await cli(['audit', '--config', config, '--cluster', 'dc-west', '--acked', acked], {
      timeoutMs: 180_000,
    });
    expect(west.stdout).toMatch(/: PASS/);
    expect(west.code, west.stdout).toBe(0);
  }, 300_000);
});
