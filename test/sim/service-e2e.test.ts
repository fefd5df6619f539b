import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { mqttTcp, readAckedFile, startOutpost } from '../../src/sim/index.ts';
import { cli, fleetConfig, tempDir } from './helpers.ts';

describe('sim against outpost run', () => {
  it('registers its fleet (half MQTT 5), survives random disconnects, and the edge audit passes against the acked file', async () => {
    const { dir, cleanup } = tempDir('outpost-sim-e2e-');
    onTestFinished(cleanup);
    const config = fleetConfig(dir, `sim-${process.pid}-${Date.now() % 100_000}`);
    const outpost = await startOutpost({ configPath: config, logFile: join(dir, 'outpost.log') });
    onTestFinished(async () => {
      await outpost.stop();
    });
    const { port } = mqttTcp(outpost);
    const acked = join(dir, 'acked.json');
    const sim = await cli([
      'sim',
      ...['--config', config, '--register', '--port', String(port)],
      ...['--stb', '12', '--vehicles', '6', '--rate-stb', '8', '--rate-vehicle', '8'],
      ...['--messages', '1500', '--seed', '3', '--chaos-disconnect', '0.2', '--acked-out', acked],
      ...['--mqtt5', '0.5'],
    ]);
    expect(sim.stderr).toContain('registered 18 device(s)');
    expect(sim.code).toBe(0);
    const summary = JSON.parse(sim.stdout) as {
      generated: number;
      acked: number;
      qos0: number;
      drops: number;
      devices: { mqtt5: number };
    };
    expect(summary.devices.mqtt5).toBe(9); // 3.1.1 and MQTT 5 devices side by side
    expect(summary.generated).toBe(1500);
    expect(summary.acked + summary.qos0).toBe(1500);
    expect(summary.drops).toBeGreaterThan(0);
    const record = await readAckedFile(acked);
    expect(record.devices.size).toBe(18);

    const audit = await cli(['audit', '--config', config, '--edge', '--acked', acked, '--json']);
    const report = JSON.parse(audit.stdout) as {
      verdict: string;
      lost: number;
      ackedChecked: number;
      records: number;
    };
    expect(report).toMatchObject({ verdict: 'pass', lost: 0, ackedChecked: summary.acked });
    expect(report.records).toBeGreaterThanOrEqual(summary.acked);
    expect(audit.code).toBe(0);

    // a subset of topics (as a datacenter mirroring only some would hold): only the seqs routed
    // there are expected, thanks to the per-seq topic index in the acked file
    const subset = await cli([
      'audit',
      ...['--config', config, '--edge', '--acked', acked, '--topics', 'stb-heartbeat,vehicle-dtc', '--json'],
    ]);
    const part = JSON.parse(subset.stdout) as { verdict: string; outOfScope: number; ackedChecked: number };
    expect(part.verdict).toBe('pass');
    expect(part.outOfScope).toBeGreaterThan(0);
    expect(part.ackedChecked + part.outOfScope).toBe(summary.acked);
    expect(subset.code).toBe(0);
  }, 180_000);

  it('the edge audit fails, naming the device, when an acknowledged message is missing', async () => {
    const { dir, cleanup } = tempDir('outpost-sim-e2e-');
    onTestFinished(cleanup);
    const config = fleetConfig(dir, `sim-${process.pid}-${Date.now() % 100_000}`);
    const outpost = await startOutpost({ configPath: config, logFile: join(dir, 'outpost.log') });
    onTestFinished(async () => {
      await outpost.stop();
    });
    const { port } = mqttTcp(outpost);
    const acked = join(dir, 'acked.json');
    const sim = await cli([
      'sim',
      ...['--config', config, '--register', '--port', String(port), '--stb', '2', '--vehicles', '0'],
      ...['--qos-mix', '1:1', '--messages', '40', '--rate-stb', '20', '--acked-out', acked],
    ]);
    expect(sim.code).toBe(0);
    // Claim one more acknowledged message than the simulator sent: the audit must call it lost.
    const { readFile, writeFile } = await import('node:fs/promises');
    const text = await readFile(acked, 'utf8');
    await writeFile(
      acked,
      text.replace('"stb-0001":{"sent":20,"acked":"1-20"', '"stb-0001":{"sent":21,"acked":"1-21"'),
    );
    const audit = await cli(['audit', '--config', config, '--edge', '--acked', acked]);
    expect(audit.code).toBe(1);
    expect(audit.stdout).toMatch(/FAIL \(1 acknowledged message\(s\) missing\)/);
    expect(audit.stdout).toContain('LOST      stb-0001 seq 21');
  }, 180_000);
});
