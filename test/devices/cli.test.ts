import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { type DeviceInfo, openDevices } from '../../src/devices/index.ts';
import { openTestLog, outpost, THROTTLE, tempDir, writeTestConfig } from './helpers.ts';

/** A "running service": the owner log and a registry held open by this test process. */
async function service() {
  const dir = await tempDir();
  const dataDir = join(dir, 'data');
  const log = await openTestLog(dataDir);
  const devices = openDevices(log, { throttle: THROTTLE, pollMs: 50 });
  const changes: string[] = [];
  devices.onChange((id) => changes.push(id));
  const config = await writeTestConfig(dir, dataDir);
  return { devices, changes, config, close: () => devices.close() };
}

const pwLogin = (username: string, password: string) => ({
  clientId: `c-${username}`,
  username,
  password: Buffer.from(password),
  remoteAddress: '192.0.2.1',
  allowAnonymous: false as const,
});

describe('devices › CLI against a running service', () => {
  test('another process disabling a device is seen by onChange and authenticate without restart', async () => {
    const svc = await service();
    try {
      const add = await outpost(
        ['devices', 'add', 'veh-1', '--config', svc.config, '--password-stdin'],
        'pa ss\n',
      );
      expect(add.stderr).toBe('');
      expect(add.code).toBe(0);
      expect(add.stdout).toContain('added device veh-1');
      await expect.poll(() => svc.changes, { timeout: 10_000, interval: 50 }).toEqual(['veh-1']);
      expect(await svc.devices.authenticate(pwLogin('veh-1', 'pa ss'))).toMatchObject({ ok: true });

      const disable = await outpost(['devices', 'disable', 'veh-1', '--config', svc.config]);
      expect(disable.code).toBe(0);
      expect(disable.stdout).toContain('disabled device veh-1');
      await expect.poll(() => svc.changes, { timeout: 10_000, interval: 50 }).toEqual(['veh-1', 'veh-1']);
      expect(await svc.devices.authenticate(pwLogin('veh-1', 'pa ss'))).toEqual({
        ok: false,
        reason: 'disabled',
      });

      expect((await outpost(['devices', 'enable', 'veh-1', '--config', svc.config])).code).toBe(0);
      await expect.poll(() => svc.changes.length, { timeout: 10_000, interval: 50 }).toBe(3);
      expect(await svc.devices.authenticate(pwLogin('veh-1', 'pa ss'))).toMatchObject({ ok: true });

      const remove = await outpost(['devices', 'remove', 'veh-1', '--config', svc.config]);
      expect(remove.code).toBe(0);
      await expect.poll(() => svc.changes.length, { timeout: 10_000, interval: 50 }).toBe(4);
      expect(await svc.devices.authenticate(pwLogin('veh-1', 'pa ss'))).toEqual({
        ok: false,
        reason: 'unknown-device',
      });
    } finally {
      svc.close();
    }
  });

  test('lists devices as a table and as JSON without any credential material', async () => {
    const svc = await service();
    try {
      const a = await outpost(
        [
          'devices',
          'add',
          'stb-1',
          '--config',
          svc.config,
          '--cert-cn',
          'stb-1.tv.example',
          '--topic',
          'tv/+/x',
        ],
        '',
      );
      expect(a.code).toBe(0);
      const b = await outpost(
        ['devices', 'add', 'veh-2', '-c', svc.config, '--password-stdin', '--rate', '5', '--burst', '9'],
        'secret-pw\r\nignored second line\n',
      );
      expect(b.code).toBe(0);
      expect((await outpost(['devices', 'disable', 'stb-1', '--config', svc.config])).code).toBe(0);

      const json = await outpost(['devices', 'list', '--config', svc.config, '--json']);
      expect(json.code).toBe(0);
      const list = JSON.parse(json.stdout) as DeviceInfo[];
      expect(
        list.map((d) => [d.id, d.enabled, d.hasPassword, d.certCn ?? null, d.overrides ?? null]),
      ).toEqual([
        ['stb-1', false, false, 'stb-1.tv.example', { topics: ['tv/+/x'] }],
        ['veh-2', true, true, null, { rate: { perSecond: 5, burst: 9 } }],
      ]);
      expect(json.stdout).not.toMatch(/hash|salt|secret-pw/);

      const table = await outpost(['devices', 'list', '--config', svc.config]);
      expect(table.code).toBe(0);
      const lines = table.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^ID\s+ENABLED\s+CREDENTIALS\s+UPDATED\s+OVERRIDES$/);
      expect(lines[1]).toMatch(/^stb-1\s+no\s+cert:stb-1\.tv\.example\s+\S+\s+topics=tv\/\+\/x$/);
      expect(lines[2]).toMatch(/^veh-2\s+yes\s+password\s+\S+\s+rate=5\/s burst=9$/);

      // Only the first stdin line is the password ("\r\n" stripped).
      expect(await svc.devices.authenticate(pwLogin('veh-2', 'secret-pw'))).toMatchObject({ ok: true });
    } finally {
      svc.close();
    }
  });

  test('refuses with clear errors and exit codes: no credential, duplicate, bad id, unknown, usage', async () => {
    const svc = await service();
    try {
      const none = await outpost(['devices', 'add', 'bare', '--config', svc.config]);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('device bare needs a credential: --password-stdin');

      const emptyPw = await outpost(
        ['devices', 'add', 'e', '--config', svc.config, '--password-stdin'],
        '\n',
      );
      expect(emptyPw.code).toBe(1);
      expect(emptyPw.stderr).toContain('no password on stdin');

      expect((await outpost(['devices', 'add', 'dup', '-c', svc.config, '--cert-cn', 'dup'])).code).toBe(0);
      const dup = await outpost(['devices', 'add', 'dup', '-c', svc.config, '--cert-cn', 'dup2']);
      expect(dup.code).toBe(1);
      expect(dup.stderr).toContain('device dup already exists');

      const badId = await outpost(['devices', 'add', 'a/b', '-c', svc.config, '--cert-cn', 'x']);
      expect(badId.code).toBe(1);
      expect(badId.stderr).toContain('invalid device id "a/b"');

      const unknown = await outpost(['devices', 'disable', 'ghost', '-c', svc.config]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('no device ghost');

      const rateOnly = await outpost([
        'devices',
        'add',
        'r',
        '-c',
        svc.config,
        '--cert-cn',
        'r',
        '--rate',
        '5',
      ]);
      expect(rateOnly.code).toBe(2);
      expect(rateOnly.stderr).toContain('--rate and --burst go together');

      const noId = await outpost(['devices', 'remove', '-c', svc.config]);
      expect(noId.code).toBe(2);
      expect(noId.stderr).toContain('missing device ID');

      expect(svc.devices.list().map((d) => d.id)).toEqual(['dup']);
      expect(none.stderr + dup.stderr + badId.stderr).not.toMatch(/^\s+at /m);
    } finally {
      svc.close();
    }
  });

  test('works on a data dir whose service is stopped, and the service sees the device when it starts', async () => {
    const dir = await tempDir();
    const dataDir = join(dir, 'data');
    const first = await openTestLog(dataDir);
    await first.close();
    const config = await writeTestConfig(dir, dataDir);
    const add = await outpost(
      ['devices', 'add', 'offline-1', '--config', config, '--password-stdin'],
      'pw\n',
    );
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const log = await openTestLog(dataDir);
    const devices = openDevices(log, { throttle: THROTTLE });
    try {
      expect(await devices.authenticate(pwLogin('offline-1', 'pw'))).toMatchObject({
        ok: true,
        identity: { deviceId: 'offline-1' },
      });
    } finally {
      devices.close();
    }
  });
});
