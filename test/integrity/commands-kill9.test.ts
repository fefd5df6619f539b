/**
 * The command consumer survives kill -9: a child process consumes from the shared dc-east and hands
 * commands to a file-backed Downlink (the MQTT side is covered by the ingest tests); it is SIGKILLed
 * mid-stream and started again on the same LMDB dir. Every command reaches the file, in per-device
 * order, and a command seen twice is exactly one that the restarted consumer reported as uncertain
 * (delivery began, result not recorded: the one window the Downlink face leaves open).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createTopic, produce } from '../kafka/client.ts';
import { sharedClusters } from '../kafka/shared.ts';
import { command, commandsConfig, waitFor } from '../mirror/commands-helpers.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const PARTITIONS = 3;
const DEVICES = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];
const PER_DEVICE = 60;

function lines(path: string): string[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];
}

function runChild(cfgPath: string, deliveries: string) {
  const child = spawn(process.execPath, ['test/mirror/fixtures/commands-child.ts', cfgPath, deliveries], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return { child, exited, stdout: () => stdout };
}

describe('commands › kill -9', () => {
  it('a SIGKILLed consumer restarts without losing a command; a second copy only of one reported uncertain', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const config = commandsConfig({ clusters: { 'dc-east': east.bootstrap } });
    const topic = `commands.${config.edgeId}`;
    await createTopic(east.bootstrap, topic, { partitions: PARTITIONS });
    const all = DEVICES.flatMap((d) =>
      Array.from({ length: PER_DEVICE }, (_, i) => command(d, i, PARTITIONS)),
    );
    await produce(east.bootstrap, topic, all);
    const cfgPath = join(config.dataDir, 'config.json');
    writeFileSync(cfgPath, JSON.stringify(config));
    const deliveries = join(config.dataDir, 'deliveries.txt');

    let uncertain: string[] = [];
    for (let kill = 0; kill < 3; kill++) {
      const seen = lines(deliveries).length;
      const run = runChild(cfgPath, deliveries);
      await waitFor('deliveries under way', () => lines(deliveries).length >= seen + 40, 60_000);
      run.child.kill('SIGKILL');
      await run.exited;
      uncertain = uncertain.concat(uncertainIds(run.stdout()));
    }
    const last = runChild(cfgPath, deliveries);
    await waitFor('every command delivered', () => new Set(lines(deliveries)).size === all.length, 60_000);
    last.child.kill('SIGTERM');
    await last.exited;
    uncertain = uncertain.concat(uncertainIds(last.stdout()));

    const got = lines(deliveries);
    expect(new Set(got).size).toBe(all.length);
    const counts = new Map<string, number>();
    for (const l of got) counts.set(l, (counts.get(l) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1).map(([l]) => l.replace(':', '-'));
    for (const id of twice) expect(uncertain, `second copy of ${id}`).toContain(id);
    expect([...counts.values()].every((n) => n <= 2)).toBe(true);
    for (const d of DEVICES) {
      const seq = got.filter((l) => l.startsWith(`${d}:`)).map((l) => Number(l.split(':')[1]));
      const order = seq.filter((s, i) => i === 0 || s !== seq[i - 1]); // a redelivery repeats in place
      expect(order, d).toEqual(Array.from({ length: PER_DEVICE }, (_, i) => i));
    }
  }, 240_000);
});

function uncertainIds(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { id?: string; began?: unknown })
    .filter((r) => r.began !== undefined && typeof r.id === 'string')
    .map((r) => r.id as string);
}
