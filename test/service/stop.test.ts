/**
 * The stop owns everything it started: against real Kafka brokers and a real `outpost run` process,
 * SIGTERM ends every link, session and checkpoint round, "stopped cleanly" comes after the last one
 * closed, and the process then exits by itself with nothing left keeping its event loop alive.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test } from 'vitest';
import { startCluster } from '../kafka/harness.ts';
import { sharedClusters } from '../kafka/shared.ts';
import {
  baseConfig,
  connectMqtt,
  type LogLine,
  readTopic,
  startOutpost,
  tempDir,
  uniq,
  writeConfig,
} from './helpers.ts';
import { publishLoop, waitForAcks } from './load.ts';

const TOPICS = { a: { partitions: 2 }, b: { partitions: 1 } };
const SHUTDOWN_MS = 8_000;
/** The service enforces SHUTDOWN_MS itself; this only bounds the test's wait for the exit. */
const EXIT_WAIT_MS = SHUTDOWN_MS + 12_000;

/** Handles that keep a process alive and must be gone after a clean stop (sockets, servers, timers). */
const LEAKS = /TCP|Pipe|UDP|Timeout|Immediate|Process|Signal|FSEvent/;

/** A loopback port nothing listens on. */
function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function exitWithin(exited: Promise<{ code: number | null }>, ms: number) {
  return Promise.race([
    exited,
    new Promise<{ code: 'still running' }>((r) => setTimeout(() => r({ code: 'still running' }), ms)),
  ]);
}

function leaks(line: LogLine | undefined): string[] {
  const res = (line?.['activeResources'] ?? { 'no stopped-cleanly line': 1 }) as Record<string, number>;
  return Object.keys(res).filter((k) => LEAKS.test(k) || k === 'no stopped-cleanly line');
}

async function waitStreaming(http: string, clusters: string[], timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = (await (await fetch(`${http}v1/status`)).json()) as {
      mirror: { clusters: Array<{ cluster: string; state: string }> };
    };
    const up = s.mirror.clusters.filter((c) => c.state === 'streaming').map((c) => c.cluster);
    if (clusters.every((c) => up.includes(c))) return;
    if (Date.now() > until) throw new Error(`links not streaming: ${JSON.stringify(s.mirror.clusters)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const isRound = (l: LogLine, from: string, what: RegExp) =>
  l.from === from &&
  typeof l.msg === 'string' &&
  l.msg.startsWith('mirror checkpoint round') &&
  what.test(l.msg);

describe('service stop', () => {
  test('service › SIGTERM during a checkpoint round held open by a paused broker cancels the round, closes its connections and exits 0 by itself', async () => {
    const { 'dc-east': east } = await sharedClusters();
    const paused = await startCluster({ name: uniq('stop-paused') });
    onTestFinished(async () => {
      const pid = paused.pid();
      if (pid) process.kill(pid, 'SIGCONT');
      await paused.destroy();
    });
    const dir = tempDir('stop-round');
    const dataDir = join(dir, 'data');
    const cfg = join(dir, 'c.json');
    const cluster = {
      topics: { include: ['a'] },
      checkpointIntervalMs: 250,
      // Long enough that the link keeps calling the paused cluster up and checkpoint rounds keep
      // starting against it; the stop, not a timeout, must end them.
      produceTimeoutMs: 60_000,
    };
    writeConfig(cfg, {
      ...baseConfig(dataDir),
      logging: { level: 'debug' },
      service: { shutdownTimeoutMs: SHUTDOWN_MS },
      mirror: {
        clusters: {
          'dc-east': { ...cluster, bootstrap: east.bootstrap },
          held: { ...cluster, bootstrap: paused.bootstrap },
        },
      },
    });
    const svc = await startOutpost(cfg);
    const dev = uniq('dev');
    const client = await connectMqtt(svc.mqttPort, dev);
    for (let i = 0; i < 20; i++) await client.publishAsync(`a/${dev}/t`, `m${i}`, { qos: 1 });
    await waitStreaming(svc.http, ['dc-east', 'held']);
    await svc.waitForLine((l) => isRound(l, 'held', /ended/));

    // SIGSTOP: the broker's kernel still accepts connections, the broker never answers. A round
    // held→dc-east (listGroups on the paused broker) now hangs until its timeouts and retries.
    process.kill(paused.pid() as number, 'SIGSTOP');
    const openRound = () => {
      const i = svc.lines.findLastIndex((l) => isRound(l, 'held', /started/));
      return i >= 0 && !svc.lines.slice(i + 1).some((l) => isRound(l, 'held', /ended|failed|cancelled/));
    };
    const until = Date.now() + 10_000;
    let heldFor = 0;
    while (heldFor < 1_500) {
      if (Date.now() > until) throw new Error('no checkpoint round stayed open against the paused broker');
      await new Promise((r) => setTimeout(r, 250));
      heldFor = openRound() ? heldFor + 250 : 0;
    }

    client.end(true);
    svc.proc.kill('SIGTERM');
    const exit = await exitWithin(svc.exited, EXIT_WAIT_MS);

    const msgs = svc.lines.map((l) => l.msg);
    const cancelled = svc.lines.findIndex((l) => isRound(l, 'held', /cancelled by stop/));
    const clean = msgs.indexOf('stopped cleanly');
    expect(exit.code).toBe(0);
    expect(cancelled).toBeGreaterThanOrEqual(0);
    expect(clean).toBeGreaterThan(cancelled);
    expect(
      msgs.indexOf('mirror stopped: every link and checkpoint round closed its connections'),
    ).toBeGreaterThan(cancelled);
    expect(leaks(svc.lines[clean])).toEqual([]);
    expect(svc.lines.filter((l) => l.level === 'error').map((l) => `${l.msg}: ${String(l['err'])}`)).toEqual(
      [],
    );
  }, 240_000);

  test('service › stop cycles under QoS 1 load with random SIGTERM timings and a cluster down: each exits 0 with nothing left open, and no PUBACKed message is lost', async () => {
    const { 'dc-east': east, 'dc-west': west } = await sharedClusters();
    const dir = tempDir('stop-cycles');
    const dataDir = join(dir, 'data');
    const cfg = join(dir, 'c.json');
    // Checkpoint rounds every 200 ms between the two clusters, so some stops land inside one; a
    // third cluster is down throughout (connection refused), so its link is always mid-reconnect.
    const cluster = { topics: { include: ['a'] }, checkpointIntervalMs: 200 };
    const down = `127.0.0.1:${await deadPort()}`;
    writeConfig(cfg, {
      ...baseConfig(dataDir),
      service: { shutdownTimeoutMs: SHUTDOWN_MS },
      mirror: {
        clusters: {
          'dc-east': { ...cluster, bootstrap: east.bootstrap },
          'dc-west': { ...cluster, bootstrap: west.bootstrap },
          down: { ...cluster, bootstrap: down, required: false },
        },
      },
    });
    const acked = new Set<string>();
    const delays: number[] = [];
    for (let cycle = 0; cycle < 3; cycle++) {
      const svc = await startOutpost(cfg);
      const loops = [];
      for (let i = 0; i < 3; i++) {
        const dev = uniq(`c${cycle}d${i}`);
        loops.push(publishLoop(await connectMqtt(svc.mqttPort, dev), dev, acked, 20_000));
      }
      await waitForAcks(acked, acked.size + 50);
      const delay = Math.floor(Math.random() * 2_000);
      delays.push(delay);
      await new Promise((r) => setTimeout(r, delay));
      svc.proc.kill('SIGTERM');
      const exit = await exitWithin(svc.exited, EXIT_WAIT_MS);
      for (const l of loops) l.stop();
      await Promise.all(loops.map((l) => l.done));
      const why = `cycle ${cycle}, SIGTERM ${delay} ms into the load (delays ${delays.join(', ')})`;
      expect(exit.code, why).toBe(0);
      const clean = svc.lines.find((l) => l.msg === 'stopped cleanly');
      expect(clean, why).toBeDefined();
      expect(leaks(clean), why).toEqual([]);
    }
    const stored = new Set((await readTopic(dataDir, TOPICS, 'a')).map((r) => r.value.toString()));
    expect([...acked].filter((id) => !stored.has(id))).toEqual([]);
    expect(acked.size).toBeGreaterThanOrEqual(150);
  }, 240_000);
});
