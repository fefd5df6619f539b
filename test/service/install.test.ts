import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test } from 'vitest';
import { baseConfig, MAIN, ROOT, tempDir } from './helpers.ts';

function install(root: string, ...extra: string[]) {
  return execFileSync(process.execPath, [MAIN, 'service', 'install', '--root', root, ...extra], {
    cwd: ROOT,
    encoding: 'utf8',
  });
}

describe('service install', () => {
  test('install › lays out app, pinned Node, config, unit, sysusers and tmpfiles in a scratch root, and never overwrites the config', async () => {
    const root = tempDir('install');
    const out = install(root, '--edge-id', 'depot-7');
    expect(out).toContain('not activated (root is not /)');

    const node = join(root, 'opt/outpost/node_modules/.bin/node');
    const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
    expect(version).toBe(process.version);
    for (const f of [
      'opt/outpost/src/cli/main.ts',
      'opt/outpost/src/service/index.ts',
      'opt/outpost/package.json',
      'opt/outpost/node_modules/lmdb/package.json',
      'opt/outpost/node_modules/koffi/package.json',
      'usr/lib/systemd/system/outpost.service',
      'usr/lib/sysusers.d/outpost.conf',
      'usr/lib/tmpfiles.d/outpost.conf',
    ]) {
      expect(existsSync(join(root, f)), f).toBe(true);
    }
    // Dev dependencies stay out of the appliance.
    expect(existsSync(join(root, 'opt/outpost/node_modules/vitest'))).toBe(false);
    expect(existsSync(join(root, 'opt/outpost/node_modules/playwright-core'))).toBe(false);

    const unit = readFileSync(join(root, 'usr/lib/systemd/system/outpost.service'), 'utf8');
    expect(unit).toContain(
      'ExecStart=/opt/outpost/node_modules/.bin/node /opt/outpost/src/cli/main.ts run --config /etc/outpost/outpost.json',
    );
    expect(unit).toMatch(/^Type=notify$/m);
    expect(readFileSync(join(root, 'usr/lib/sysusers.d/outpost.conf'), 'utf8')).toMatch(/^u outpost /m);

    const configPath = join(root, 'etc/outpost/outpost.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as { edgeId: string; dataDir: string };
    expect(config.edgeId).toBe('depot-7');
    expect(config.dataDir).toBe('/var/lib/outpost');
    expect(statSync(configPath).mode & 0o777).toBe(0o640);

    // The installed CLI (wrapper's runtime + app) validates the installed config.
    const check = spawnSync(
      node,
      [join(root, 'opt/outpost/src/cli/main.ts'), 'check-config', '--config', configPath],
      {
        encoding: 'utf8',
      },
    );
    expect(check.status).toBe(0);
    expect(readFileSync(join(root, 'usr/local/bin/outpost'), 'utf8')).toContain(
      'exec /opt/outpost/node_modules/.bin/node /opt/outpost/src/cli/main.ts "$@"',
    );

    // The installed tree runs the service on its own (all production dependencies are there).
    const runCfg = join(root, 'etc/outpost/test-run.json');
    writeFileSync(
      runCfg,
      JSON.stringify({ ...baseConfig(join(root, 'var/lib/outpost')), edgeId: 'depot-7' }),
    );
    const svc = spawn(node, [join(root, 'opt/outpost/src/cli/main.ts'), 'run', '--config', runCfg], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NOTIFY_SOCKET: '' },
    });
    onTestFinished(() => {
      svc.kill('SIGKILL');
    });
    let runOut = '';
    svc.stdout.setEncoding('utf8');
    await new Promise<void>((resolveReady, reject) => {
      svc.stdout.on('data', (chunk: string) => {
        runOut += chunk;
        if (runOut.includes('outpost ready')) resolveReady();
      });
      svc.once('exit', (code) => reject(new Error(`installed outpost exited ${code}: ${runOut}`)));
    });
    const exited = new Promise<number | null>((r) => svc.once('exit', (code) => r(code)));
    svc.kill('SIGTERM');
    expect(await exited).toBe(0);

    // Upgrade: a second run replaces the app and keeps the operator's config byte for byte.
    const edited = readFileSync(configPath, 'utf8').replace('depot-7', 'depot-7b');
    writeFileSync(configPath, edited);
    writeFileSync(join(root, 'opt/outpost/src/stale-file.ts'), 'stale');
    const again = install(root, '--edge-id', 'ignored');
    expect(again).toContain(`kept the existing config ${configPath}`);
    expect(readFileSync(configPath, 'utf8')).toBe(edited);
    expect(existsSync(join(root, 'opt/outpost/src/stale-file.ts'))).toBe(false);
  });
});
