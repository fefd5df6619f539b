import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { baseConfig, connectMqtt, readTopic, startOutpost, tempDir, uniq, writeConfig } from './helpers.ts';
import { publishLoop, waitForAcks } from './load.ts';

const TOPICS = { a: { partitions: 2 }, b: { partitions: 1 } };

describe('service drain', () => {
  test('service › on SIGTERM drains QoS 1 publishers in flight: every PUBACKed message is in the log after exit 0', async () => {
    const dir = tempDir('drain');
    const dataDir = join(dir, 'data');
    const cfg = join(dir, 'c.json');
    writeConfig(cfg, baseConfig(dataDir));
    const svc = await startOutpost(cfg);

    const acked = new Set<string>();
    const loops = [];
    for (let i = 0; i < 4; i++) {
      const dev = uniq('dev');
      loops.push(publishLoop(await connectMqtt(svc.mqttPort, dev), dev, acked, 20_000));
    }
    await waitForAcks(acked, 300);
    const inflightAtSignal = loops.reduce((n, l) => n + l.inflight.size, 0);
    svc.proc.kill('SIGTERM');
    const exit = await svc.exited;
    for (const l of loops) l.stop();
    await Promise.all(loops.map((l) => l.done));

    expect(exit.code).toBe(0);
    expect(inflightAtSignal).toBeGreaterThan(0);
    const stored = new Set((await readTopic(dataDir, TOPICS, 'a')).map((r) => r.value.toString()));
    const missing = [...acked].filter((id) => !stored.has(id));
    expect(missing).toEqual([]);
    expect(acked.size).toBeGreaterThanOrEqual(300);
    expect(svc.lines.some((l) => l.msg === 'stopped cleanly')).toBe(true);
  });

  test('service › a second SIGTERM exits promptly and still keeps every PUBACKed message', async () => {
    const dir = tempDir('drain2');
    const dataDir = join(dir, 'data');
    const cfg = join(dir, 'c.json');
    writeConfig(cfg, baseConfig(dataDir));
    const svc = await startOutpost(cfg);
    const acked = new Set<string>();
    const dev = uniq('dev');
    const loop = publishLoop(await connectMqtt(svc.mqttPort, dev), dev, acked, 20_000);
    await waitForAcks(acked, 100);
    svc.proc.kill('SIGTERM');
    await svc.waitForLine((l) => l.msg === 'stop requested: draining');
    svc.proc.kill('SIGTERM');
    // Either the second signal cuts the drain short, or the drain had already finished: both must
    // keep every PUBACKed message (a fast drain can win the race against the second signal).
    await svc.waitForLine((l) => l.msg.startsWith('second stop signal') || l.msg === 'stopped cleanly');
    const exit = await svc.exited;
    loop.stop();
    await loop.done;
    expect(exit.code === 0 || exit.code === 1).toBe(true);
    expect(
      svc.lines.some((l) => l.msg === 'stopped cleanly' || l.msg.startsWith('stopped without a full drain')),
    ).toBe(true);
    const stored = new Set((await readTopic(dataDir, TOPICS, 'a')).map((r) => r.value.toString()));
    expect([...acked].filter((id) => !stored.has(id))).toEqual([]);
  });
});
