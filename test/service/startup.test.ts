import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test } from 'vitest';
import { baseConfig, spawnOutpost, startOutpost, tempDir, writeConfig } from './helpers.ts';

describe('service startup checks', () => {
  test('service › refuses a second instance on the same data dir with one line naming the holder pid', async () => {
    const dir = tempDir('lock');
    const dataDir = join(dir, 'data');
    const cfg = join(dir, 'c.json');
    writeConfig(cfg, baseConfig(dataDir));
    const first = await startOutpost(cfg);

    const second = spawnOutpost(cfg);
    const { code } = await second.exited;
    expect(code).not.toBe(0);
    const stderr = second.stderr().trim();
    expect(stderr.split('\n')).toHaveLength(1);
    expect(stderr).toContain(`pid ${first.pid}`);
    expect(stderr).toContain('in use by another Outpost');

    // The first instance is unharmed and still serves.
    const res = await fetch(`${first.http}healthz`);
    expect(res.status).toBe(200);
    first.proc.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
  });

  test('service › takes over the lock left by a kill -9 instance', async () => {
    const dir = tempDir('lock9');
    const dataDir = join(dir, 'data');
    const cfg = join(dir, 'c.json');
    writeConfig(cfg, baseConfig(dataDir));
    const first = await startOutpost(cfg);
    first.proc.kill('SIGKILL');
    await first.exited;

    const again = await startOutpost(cfg);
    const res = await fetch(`${again.http}readyz`);
    expect(res.status).toBe(200);
    again.proc.kill('SIGTERM');
    expect((await again.exited).code).toBe(0);
  });

  test('service › refuses an invalid config with one line per issue and a non-zero exit', async () => {
    const dir = tempDir('badcfg');
    const cfg = join(dir, 'c.json');
    const bad = baseConfig(join(dir, 'data')) as Record<string, unknown>;
    bad.http = { host: '127.0.0.1', port: 70000 };
    bad.routes = [{ match: 'x/#', topic: 'nope' }];
    writeConfig(cfg, bad);
    const run = spawnOutpost(cfg);
    const { code } = await run.exited;
    expect(code).not.toBe(0);
    const stderr = run.stderr();
    expect(stderr).toMatch(/http\.port: /);
    expect(stderr).toMatch(/routes[.[]0]?\.?topic: .*nope/);
  });

  test('service › refuses a data dir it cannot write with one clear line', async () => {
    const dir = tempDir('nowrite');
    const blocker = join(dir, 'file');
    writeFileSync(blocker, 'not a directory');
    const cfg = join(dir, 'c.json');
    writeConfig(cfg, baseConfig(join(blocker, 'data')));
    const run = spawnOutpost(cfg);
    const { code } = await run.exited;
    expect(code).not.toBe(0);
    expect(run.stderr().trim()).toMatch(/^outpost: data dir .* is not writable \(ENOTDIR\)/);
  });

  test('service › refuses a port already in use with one clear line', async () => {
    const dir = tempDir('port');
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    onTestFinished(() => new Promise<void>((r) => blocker.close(() => r())));
    const port = (blocker.address() as { port: number }).port;
    const cfg = join(dir, 'c.json');
    writeConfig(cfg, { ...baseConfig(join(dir, 'data')), http: { host: '127.0.0.1', port } });
    const run = spawnOutpost(cfg);
    const { code } = await run.exited;
    expect(code).not.toBe(0);
    expect(run.stderr().trim()).toBe(
      `outpost: http admin port 127.0.0.1:${port} is already in use; stop the other program or change the port`,
    );
  });

  test('service › refuses a config with commands enabled while MQTT sessions (the downlink) are off, with one clear line', async () => {
    const dir = tempDir('nodownlink');
    const cfg = join(dir, 'c.json');
    writeConfig(cfg, {
      ...baseConfig(join(dir, 'data')),
      // Nothing listens on port 1: the mirror link only backs off; the refusal comes first.
      mirror: { clusters: { 'dc-x': { bootstrap: '127.0.0.1:1' } } },
      commands: { enabled: true },
    });
    const run = spawnOutpost(cfg);
    const { code } = await run.exited;
    expect(code).not.toBe(0);
    expect(run.stderr().trim()).toMatch(
      /^outpost: .*commands\.enabled.*set mqtt\.sessions\.enabled to true/s,
    );
  });
});
