import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';
import { openDevices } from '../../src/devices/index.ts';
import { isOutpostError } from '../../src/errors.ts';
import { openTestDevices, openTestLog, THROTTLE, tempDir } from './helpers.ts';

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return isOutpostError(err) ? err.code : `non-outpost: ${String(err)}`;
  }
  return undefined;
}

describe('devices › registry on LMDB', () => {
  test('adds, lists, disables, enables and removes devices', async () => {
    const { devices } = await openTestDevices();
    const a = await devices.add('veh-1', { password: 's3cret' });
    expect(a).toMatchObject({ id: 'veh-1', enabled: true, hasPassword: true });
    expect(a.certCn).toBeUndefined();
    await devices.add('stb:42', {
      certCn: 'stb-42.fleet.example',
      overrides: { topics: ['stb/shared/+'], rate: { perSecond: 5, burst: 10 } },
    });
    expect(devices.list().map((d) => d.id)).toEqual(['stb:42', 'veh-1']);
    expect(devices.get('stb:42')).toMatchObject({
      enabled: true,
      hasPassword: false,
      certCn: 'stb-42.fleet.example',
      overrides: { topics: ['stb/shared/+'], rate: { perSecond: 5, burst: 10 } },
    });

    await devices.setEnabled('veh-1', false);
    expect(devices.get('veh-1')?.enabled).toBe(false);
    await devices.setEnabled('veh-1', true);
    expect(devices.get('veh-1')?.enabled).toBe(true);

    await devices.remove('veh-1');
    expect(devices.get('veh-1')).toBeUndefined();
    expect(devices.list().map((d) => d.id)).toEqual(['stb:42']);
  });

  test('keeps devices across a close and reopen of the log', async () => {
    const dir = await tempDir();
    const dataDir = join(dir, 'data');
    const log1 = await openTestLog(dataDir);
    const d1 = openDevices(log1, { throttle: THROTTLE });
    await d1.add('persist-1', { password: 'pw-1' });
    await d1.setEnabled('persist-1', false);
    d1.close();
    await log1.close();

    const log2 = await openTestLog(dataDir);
    const d2 = openDevices(log2, { throttle: THROTTLE });
    expect(d2.get('persist-1')).toMatchObject({ id: 'persist-1', enabled: false, hasPassword: true });
    await d2.setEnabled('persist-1', true);
    const ok = await d2.authenticate({
      clientId: 'c',
      username: 'persist-1',
      password: Buffer.from('pw-1'),
      remoteAddress: '192.0.2.1',
      allowAnonymous: false,
    });
    expect(ok.ok).toBe(true);
    d2.close();
  });

  test('never writes the plaintext password to disk', async () => {
    const { devices, log, dir } = await openTestDevices();
    const secret = `plain-${Math.random().toString(36).slice(2)}-text`;
    await devices.add('leak-check', { password: secret });
    await log.flushed();
    const entries = await readdir(join(dir, 'data'), { recursive: true, withFileTypes: true });
    const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
    let idFound = false;
    for (const f of files) {
      const bytes = await readFile(f);
      if (bytes.includes(Buffer.from('leak-check'))) idFound = true;
      expect(bytes.includes(Buffer.from(secret)), `plaintext in ${f}`).toBe(false);
    }
    expect(idFound, 'the device record itself is on disk').toBe(true);
  });

  test('refuses invalid ids, duplicates, missing credentials, bad patterns and unknown devices', async () => {
    const { devices } = await openTestDevices();
    for (const id of ['', 'a/b', 'a+b', 'a#', 'has space', 'x'.repeat(129), 'ünï']) {
      expect(await codeOf(devices.add(id, { password: 'p' })), JSON.stringify(id)).toBe('DEVICE_INVALID');
    }
    expect(await codeOf(devices.add('no-cred', {}))).toBe('DEVICE_NO_CREDENTIAL');
    expect(await codeOf(devices.add('empty-pw', { password: '' }))).toBe('DEVICE_INVALID');
    for (const topics of [['a/#/b'], ['a+/b'], [''], ['x#']]) {
      expect(await codeOf(devices.add('pat', { password: 'p', overrides: { topics } })), topics[0]).toBe(
        'DEVICE_INVALID',
      );
    }
    expect(
      await codeOf(devices.add('rate', { password: 'p', overrides: { rate: { perSecond: 0, burst: 1 } } })),
    ).toBe('DEVICE_INVALID');
    await devices.add('dup', { certCn: 'dup-cn' });
    expect(await codeOf(devices.add('dup', { password: 'p' }))).toBe('DEVICE_EXISTS');
    expect(await codeOf(devices.add('other', { certCn: 'dup-cn' }))).toBe('DEVICE_EXISTS');
    expect(await codeOf(devices.setEnabled('ghost', false))).toBe('DEVICE_UNKNOWN');
    expect(await codeOf(devices.remove('ghost'))).toBe('DEVICE_UNKNOWN');
    expect(await codeOf(devices.remove('a/b'))).toBe('DEVICE_INVALID');
    expect(devices.get('z'.repeat(5000))).toBeUndefined();
    expect(devices.list().map((d) => d.id)).toEqual(['dup']);
  });

  test('frees a removed device certificate CN for another device', async () => {
    const { devices } = await openTestDevices();
    await devices.add('first', { certCn: 'shared.example' });
    await devices.remove('first');
    await devices.add('second', { certCn: 'shared.example' });
    const r = await devices.authenticate({
      clientId: 'c',
      certIdentities: ['shared.example'],
      remoteAddress: '192.0.2.1',
      allowAnonymous: false,
    });
    expect(r).toEqual({ ok: true, identity: { deviceId: 'second', anonymous: false } });
  });

  test('fires onChange for its own changes immediately, once each', async () => {
    const { devices } = await openTestDevices({ pollMs: 20 });
    const seen: string[] = [];
    const off = devices.onChange((id) => seen.push(id));
    await devices.add('ch-1', { password: 'p' });
    expect(seen).toEqual(['ch-1']);
    await devices.setEnabled('ch-1', false);
    await devices.remove('ch-1');
    expect(seen).toEqual(['ch-1', 'ch-1', 'ch-1']);
    await new Promise((r) => setTimeout(r, 100)); // several polls: no repeats of local changes
    expect(seen).toEqual(['ch-1', 'ch-1', 'ch-1']);
    off();
    await devices.add('ch-2', { password: 'p' });
    expect(seen).toHaveLength(3);
  });

  test('a second registry on the same environment sees changes through onChange and fresh reads', async () => {
    const dir = await tempDir();
    const dataDir = join(dir, 'data');
    const owner = await openTestLog(dataDir);
    const a = openDevices(owner, { throttle: THROTTLE, pollMs: 20 });
    const reader = await openTestLog(dataDir, 'reader');
    const b = openDevices(reader, { throttle: THROTTLE, pollMs: 20 });
    try {
      const seen: string[] = [];
      a.onChange((id) => seen.push(id));
      // lmdb-js renews a read snapshot once per event-loop turn: the next turn sees the commit.
      const nextTurn = () => new Promise((r) => setTimeout(r, 0));
      await b.add('peer-1', { password: 'p' });
      await nextTurn();
      expect(a.get('peer-1')?.enabled).toBe(true);
      await b.setEnabled('peer-1', false);
      await nextTurn();
      expect(a.get('peer-1')?.enabled).toBe(false);
      await expect.poll(() => seen, { timeout: 5000, interval: 20 }).toEqual(['peer-1', 'peer-1']);
    } finally {
      a.close();
      b.close();
    }
  });

  test('registers outpost_devices_registered and outpost_auth_failures_total on the given registry', async () => {
    const metrics = new Registry();
    const { devices } = await openTestDevices({ metrics });
    await devices.add('m-1', { password: 'p' });
    await devices.add('m-2', { certCn: 'm-2' });
    const gauge = await metrics.getSingleMetric('outpost_devices_registered')?.get();
    expect(gauge?.values[0]?.value).toBe(2);
    await devices.authenticate({
      clientId: 'c',
      username: 'm-1',
      password: Buffer.from('wrong'),
      remoteAddress: '192.0.2.9',
      allowAnonymous: false,
    });
    const text = await metrics.metrics();
    expect(text).toContain('outpost_auth_failures_total{reason="bad-credentials"} 1');
    expect(text).toContain('outpost_auth_failures_total{reason="unknown-device"} 0');
  });
});
