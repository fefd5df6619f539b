/**
 * Both directions through a real `outpost run`: the fleet publishes uplink while its 3.1.1 devices,
 * on persistent sessions, receive commands produced to real Kafka clusters; then the audit checks
 * the uplink (edge log, clusters) and the downlink (every command once, in order, or expired).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ConfigInput } from '../../src/config/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import {
  auditCommands,
  mergeProduced,
  mqttTcp,
  produceCommands,
  registerFleetInDataDir,
  runFleet,
  startOutpost,
  waitForMirror,
} from '../../src/sim/index.ts';
import { createTopic } from '../kafka/client.ts';
import { startCluster } from '../kafka/harness.ts';
import { sharedClusters } from '../kafka/shared.ts';
import { cli, fleetConfig, tempDir } from './helpers.ts';

const sessionsOn = (commands: ConfigInput['commands']): Partial<ConfigInput> => ({
  mqtt: {
    listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
    allowAnonymous: false,
    sessions: { enabled: true },
  },
  commands,
});

interface Downlink {
  verdict: string;
  produced: number;
  delivered: number;
  expired: number;
  missing: number;
  outOfOrder: number;
  duplicates: { redelivered: number; unexpected: number };
}

describe('sim: uplink and downlink through outpost run', () => {
  it('dc-east and dc-west: devices publish and receive commands (some stale); both audits pass, and fail when a receipt is removed', async () => {
    const { 'dc-east': east, 'dc-west': west } = await sharedClusters();
    const { dir, cleanup } = tempDir('outpost-sim-commands-');
    onTestFinished(cleanup);
    const edgeId = `sim-cmd-${process.pid}-${Date.now() % 1_000_000}`;
    const config = fleetConfig(
      dir,
      edgeId,
      { 'dc-east': east.bootstrap, 'dc-west': west.bootstrap },
      sessionsOn({ enabled: true, outcomesTopic: 'commands.outcomes.{edgeId}' }),
    );
    // the central side exists before the gateway starts (else it would fail over at once)
    for (const b of [east.bootstrap, west.bootstrap]) {
      await createTopic(b, `commands.${edgeId}`, { partitions: 4 });
      await createTopic(b, `commands.outcomes.${edgeId}`, { partitions: 2 });
    }
    const outpost = await startOutpost({ configPath: config, logFile: join(dir, 'outpost.log') });
    onTestFinished(async () => {
      await outpost.stop();
    });
    const acked = join(dir, 'acked.json');
    const commands = join(dir, 'commands.json');
    const sim = await cli([
      'sim',
      ...['--config', config, '--register', '--port', String(mqttTcp(outpost).port)],
      ...['--stb', '6', '--vehicles', '4', '--rate-stb', '5', '--rate-vehicle', '5', '--messages', '600'],
      ...['--seed', '5', '--chaos-disconnect', '0.1', '--acked-out', acked],
      ...['--commands', '10', '--commands-expire', '5', '--commands-out', commands],
    ]);
    expect(sim.code, sim.stderr).toBe(0);
    const summary = JSON.parse(sim.stdout) as {
      acked: number;
      commands: { subscribers: number; produced: number; mustExpire: number; complete: boolean };
    };
    expect(summary.commands).toMatchObject({
      subscribers: 10,
      produced: 100,
      mustExpire: 20,
      complete: true,
    });

    await waitForMirror(outpost.http as string, { timeoutMs: 120_000 });
    for (const source of [['--edge'], ['--cluster', 'dc-east']]) {
      const r = await cli(
        ['audit', '--config', config, ...source, '--acked', acked, '--commands', commands, '--json'],
        { timeoutMs: 180_000 },
      );
      expect(r.code, `${source.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
      const report = JSON.parse(r.stdout) as { verdict: string; lost: number; downlink: Downlink };
      expect(report).toMatchObject({ verdict: 'pass', lost: 0 });
      expect(report.downlink).toMatchObject({
        verdict: 'pass',
        produced: 100,
        delivered: 80,
        expired: 20,
        missing: 0,
        outOfOrder: 0,
        duplicates: { unexpected: 0 },
      });
    }

    // One receipt removed from the record: the downlink audit must call that command missing.
    const doc = JSON.parse(await readFile(commands, 'utf8')) as {
      received: Record<string, Array<{ id: string; seq: number }>>;
    };
    const dropped = doc.received['stb-0002']?.find((r) => r.seq === 3);
    expect(dropped).toBeDefined();
    doc.received['stb-0002'] = (doc.received['stb-0002'] ?? []).filter((r) => r.id !== dropped?.id);
    await writeFile(commands, JSON.stringify(doc));
    const bad = await cli(['audit', '--config', config, '--commands', commands]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/downlink .*FAIL \(1 command\(s\) missing\)/);
    expect(bad.stdout).toContain(`MISSING   stb-0002 ${dropped?.id}`);
  }, 300_000);

  it('a datacenter outage: the command consumer fails over to dc-west and every command arrives once, in order', async () => {
    const dcA = await startCluster({
      name: `sim-cmd-a-${process.pid}-${Date.now() % 100_000}`,
      heap: '384m',
    });
    onTestFinished(async () => {
      await dcA.destroy();
    });
    const { 'dc-west': west } = await sharedClusters();
    const { dir, cleanup } = tempDir('outpost-sim-commands-outage-');
    onTestFinished(cleanup);
    const edgeId = `sim-cmd-out-${process.pid}-${Date.now() % 1_000_000}`;
    const configPath = fleetConfig(
      dir,
      edgeId,
      { 'dc-a': dcA.bootstrap, 'dc-west': west.bootstrap },
      sessionsOn({ enabled: true, clusters: ['dc-a', 'dc-west'], failoverAfterMs: 2_000 }),
    );
    const config = await loadConfig(configPath);
    const topic = `commands.${edgeId}`;
    for (const b of [dcA.bootstrap, west.bootstrap]) await createTopic(b, topic, { partitions: 4 });
    const outpost = await startOutpost({ configPath, logFile: join(dir, 'outpost.log') });
    onTestFinished(async () => {
      await outpost.stop();
    });
    await registerFleetInDataDir(config, { stb: 4, vehicles: 2, password: 'sim-{deviceId}' });
    const result = await runFleet({
      ...mqttTcp(outpost),
      stb: 4,
      vehicles: 2,
      rateStb: 2,
      rateVehicle: 2,
      qosMix: [{ qos: 1, weight: 1 }],
      seed: 9,
      durationMs: 12_000,
      password: 'sim-{deviceId}',
      drainTimeoutMs: 60_000,
      commands: {
        produce: async (devices) => {
          const run = 'outage';
          const both = { 'dc-a': [dcA.bootstrap], 'dc-west': [west.bootstrap] };
          const first = await produceCommands({ clusters: both, topic, devices, perDevice: 10, run });
          await new Promise((r) => setTimeout(r, 2_000));
          await dcA.stop(); // the consumer's cluster goes away; the central app writes on to dc-west
          const second = await produceCommands({
            clusters: { 'dc-west': [west.bootstrap] },
            topic,
            devices,
            perDevice: 10,
            firstSeq: 11,
            run,
            ratePerSecond: 20,
          });
          return mergeProduced(first, second);
        },
      },
    });
    const metrics = await (await fetch(new URL('metrics', outpost.http as string))).text();
    expect(result.summary.commands).toMatchObject({ subscribers: 6, produced: 120, complete: true });
    expect(metrics).toMatch(/outpost_commands_failovers_total\{from="dc-a",to="dc-west"\} [1-9]/);
    const { report } = await auditCommands(config, result.commands as NonNullable<typeof result.commands>);
    expect(report).toMatchObject({
      verdict: 'pass',
      produced: 120,
      delivered: 120,
      missing: 0,
      outOfOrder: 0,
      duplicates: { unexpected: 0 },
    });
    expect(result.summary.unacked).toBe(0);
  }, 300_000);
});
