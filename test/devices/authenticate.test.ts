import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { authenticate } from '../../src/devices/authenticate.ts';
import type { ScryptCredential } from '../../src/devices/format/device-record-v1.ts';
import type { AuthRequest } from '../../src/devices/index.ts';
import { VerifiedLoginCache } from '../../src/devices/login-cache.ts';
import { dummyCredential, hashPassword, verifyPassword } from '../../src/devices/password.ts';
import { DeviceStore } from '../../src/devices/store.ts';
import { FailureThrottle } from '../../src/devices/throttle.ts';
import { captureLogger, openTestDevices, openTestLog, THROTTLE, tempDir } from './helpers.ts';

const remote = '192.0.2.10';
const login = (username: string, password: string, extra: Partial<AuthRequest> = {}): AuthRequest => ({
  clientId: `client-${username}`,
  username,
  password: Buffer.from(password),
  remoteAddress: remote,
  allowAnonymous: false,
  ...extra,
});

describe('devices › authenticate with passwords', () => {
  test('accepts the right password and returns the identity with overrides', async () => {
    const { devices } = await openTestDevices();
    await devices.add('veh-7', { password: 'right', overrides: { topics: ['fleet/+/status'] } });
    expect(await devices.authenticate(login('veh-7', 'right'))).toEqual({
      ok: true,
      identity: { deviceId: 'veh-7', anonymous: false, overrides: { topics: ['fleet/+/status'] } },
    });
  });

  test('refuses a wrong password, an unknown device, a disabled device and a password-less login', async () => {
    const { devices } = await openTestDevices({ throttle: { ...THROTTLE, maxFailures: 100 } });
    await devices.add('veh-8', { password: 'right' });
    await devices.add('cert-only', { certCn: 'cert-only' });
    expect(await devices.authenticate(login('veh-8', 'wrong'))).toEqual({
      ok: false,
      reason: 'bad-credentials',
    });
    expect(await devices.authenticate(login('nobody', 'right'))).toEqual({
      ok: false,
      reason: 'unknown-device',
    });
    expect(await devices.authenticate(login('bad/id', 'right'))).toEqual({
      ok: false,
      reason: 'unknown-device',
    });
    expect(await devices.authenticate(login('cert-only', ''))).toEqual({
      ok: false,
      reason: 'bad-credentials',
    });
    const noPassword: AuthRequest = {
      clientId: 'c',
      username: 'veh-8',
      remoteAddress: remote,
      allowAnonymous: true,
    };
    expect(await devices.authenticate(noPassword)).toEqual({ ok: false, reason: 'bad-credentials' });
    await devices.setEnabled('veh-8', false);
    expect(await devices.authenticate(login('veh-8', 'right'))).toEqual({ ok: false, reason: 'disabled' });
    // A disabled device with a WRONG password learns nothing about its state.
    expect(await devices.authenticate(login('veh-8', 'wrong'))).toEqual({
      ok: false,
      reason: 'bad-credentials',
    });
  });

  /** authenticate() over a real store, counting every scrypt verification. */
  async function countingDeps() {
    const dir = await tempDir();
    const log = await openTestLog(join(dir, 'data'));
    const store = new DeviceStore(log);
    const verified: ScryptCredential[] = [];
    const dummy = dummyCredential();
    const deps = {
      store,
      throttle: new FailureThrottle({ maxFailures: 100, windowMs: 60_000, blockMs: 1 }),
      dummy,
      metrics: { authFailure: () => {}, unregister: () => {} },
      logger: captureLogger().logger,
      verify: (pw: Buffer, cred: ScryptCredential) => {
        verified.push(cred);
        return verifyPassword(pw, cred);
      },
      cache: new VerifiedLoginCache(),
    };
    return { store, verified, dummy, deps };
  }

  test('runs scrypt for unknown devices and password-less devices too (existence does not leak by timing)', async () => {
    const { store, verified, dummy, deps } = await countingDeps();
    const now = Date.now();
    await store.insert({
      id: 'cert-dev',
      enabled: true,
      cred: null,
      certCn: null,
      overrides: null,
      createdAt: now,
      updatedAt: now,
    });
    expect(await authenticate(login('ghost', 'pw'), deps)).toEqual({ ok: false, reason: 'unknown-device' });
    expect(await authenticate(login('cert-dev', 'pw'), deps)).toEqual({
      ok: false,
      reason: 'bad-credentials',
    });
    expect(await authenticate({ ...login('ghost', 'pw'), username: 'in/valid' }, deps)).toEqual({
      ok: false,
      reason: 'unknown-device',
    });
    expect(verified).toEqual([dummy, dummy, dummy]);
    expect(dummy.N).toBe(16384); // the same cost as a real verification
  });

  test('a reconnect with the same password skips scrypt; wrong passwords and re-added devices do not', async () => {
    const { store, verified, deps } = await countingDeps();
    const rec = (cred: ScryptCredential) => ({
      id: 'cached',
      enabled: true,
      cred,
      certCn: null,
      overrides: null,
      createdAt: 1,
      updatedAt: 1,
    });
    await store.insert(rec(await hashPassword('pw-1')));
    expect((await authenticate(login('cached', 'pw-1'), deps)).ok).toBe(true);
    expect((await authenticate(login('cached', 'pw-1'), deps)).ok).toBe(true);
    expect(verified).toHaveLength(1);
    expect(await authenticate(login('cached', 'pw-2'), deps)).toEqual({
      ok: false,
      reason: 'bad-credentials',
    });
    expect(verified).toHaveLength(2);
    // Disabled state is read from LMDB every time, cache or not.
    await store.update('cached', (r) => ({ ...r, enabled: false }));
    expect(await authenticate(login('cached', 'pw-1'), deps)).toEqual({ ok: false, reason: 'disabled' });
    // Removed and re-added with a new password: the old password no longer works.
    await store.remove('cached');
    await store.insert(rec(await hashPassword('pw-new')));
    expect(await authenticate(login('cached', 'pw-1'), deps)).toEqual({
      ok: false,
      reason: 'bad-credentials',
    });
    expect((await authenticate(login('cached', 'pw-new'), deps)).ok).toBe(true);
    // scrypt ran for: first login, wrong password, stale password after re-add, new password.
    expect(verified).toHaveLength(4);
  });
});

describe('devices › authenticate with client certificates', () => {
  test('accepts a certificate naming the device id or its certCn, with or without a user name', async () => {
    const { devices } = await openTestDevices();
    await devices.add('stb-1', { certCn: 'stb-1.tv.example' });
    await devices.add('stb-2', { password: 'pw' });
    const cert = (ids: string[], username?: string): AuthRequest => ({
      clientId: 'c',
      certIdentities: ids,
      remoteAddress: remote,
      allowAnonymous: false,
      ...(username !== undefined ? { username } : {}),
    });
    const ok = (deviceId: string) => ({ ok: true, identity: { deviceId, anonymous: false } });
    expect(await devices.authenticate(cert(['stb-1.tv.example']))).toEqual(ok('stb-1'));
    expect(await devices.authenticate(cert(['other.example', 'stb-1']))).toEqual(ok('stb-1'));
    expect(await devices.authenticate(cert(['stb-1.tv.example'], 'stb-1'))).toEqual(ok('stb-1'));
    expect(await devices.authenticate(cert(['stb-2']))).toEqual(ok('stb-2'));
    expect(await devices.authenticate(cert(['stb-2'], 'stb-1'))).toEqual({
      ok: false,
      reason: 'cert-mismatch',
    });
    expect(await devices.authenticate(cert(['nobody.example']))).toEqual({
      ok: false,
      reason: 'unknown-device',
    });
    expect(await devices.authenticate(cert(['stb-1'], 'ghost'))).toEqual({
      ok: false,
      reason: 'unknown-device',
    });
    await devices.setEnabled('stb-1', false);
    expect(await devices.authenticate(cert(['stb-1.tv.example']))).toEqual({ ok: false, reason: 'disabled' });
  });
});

describe('devices › anonymous logins', () => {
  const anon = (remoteAddress: string, allowAnonymous: boolean | 'loopback'): AuthRequest => ({
    clientId: 'anon',
    remoteAddress,
    allowAnonymous,
  });
  const anonOk = { ok: true, identity: { deviceId: null, anonymous: true } };

  test('follows allowAnonymous: loopback only, everywhere, or nowhere', async () => {
    const { devices } = await openTestDevices();
    expect(await devices.authenticate(anon('127.0.0.1', 'loopback'))).toEqual(anonOk);
    expect(await devices.authenticate(anon('::1', 'loopback'))).toEqual(anonOk);
    expect(await devices.authenticate(anon('::ffff:127.0.0.1', 'loopback'))).toEqual(anonOk);
    expect(await devices.authenticate(anon('192.0.2.1', 'loopback'))).toEqual({
      ok: false,
      reason: 'anonymous-refused',
    });
    expect(await devices.authenticate(anon('192.0.2.1', true))).toEqual(anonOk);
    expect(await devices.authenticate(anon('127.0.0.1', false))).toEqual({
      ok: false,
      reason: 'anonymous-refused',
    });
  });
});

describe('devices › failed-login throttle', () => {
  test('throttles an address after maxFailures and counts and logs every refusal', async () => {
    let now = 1_000_000;
    const { logger, lines } = captureLogger();
    const { devices } = await openTestDevices({
      throttle: { maxFailures: 3, windowMs: 60_000, blockMs: 10_000 },
      now: () => now,
      logger,
    });
    await devices.add('thr-1', { password: 'right' });
    await devices.add('thr-2', { password: 'right' });
    for (const u of ['thr-1', 'x-1', 'x-2']) {
      expect((await devices.authenticate(login(u, 'wrong'))).ok).toBe(false);
    }
    // The address is blocked: even the right password of another device is refused, without scrypt.
    expect(await devices.authenticate(login('thr-2', 'right'))).toEqual({ ok: false, reason: 'throttled' });
    // Another address is not.
    expect(
      await devices.authenticate(login('thr-2', 'right', { remoteAddress: '192.0.2.99' })),
    ).toMatchObject({
      ok: true,
    });
    now += 10_000;
    expect(await devices.authenticate(login('thr-2', 'right'))).toMatchObject({ ok: true });

    const refusals = lines.filter((l) => l['event'] === 'device.auth.refused');
    expect(refusals.map((l) => [l['deviceId'], l['reason'], l['remoteAddress']])).toEqual([
      ['thr-1', 'bad-credentials', remote],
      ['x-1', 'unknown-device', remote],
      ['x-2', 'unknown-device', remote],
      ['thr-2', 'throttled', remote],
    ]);
    expect(lines.some((l) => l['event'] === 'device.auth.throttle' && l['key'] === `addr:${remote}`)).toBe(
      true,
    );
    expect(JSON.stringify(lines)).not.toContain('wrong');
  });

  test('throttles a device id attacked from many addresses, then lets it in after blockMs', async () => {
    let now = 5_000_000;
    const { devices } = await openTestDevices({
      throttle: { maxFailures: 3, windowMs: 60_000, blockMs: 10_000 },
      now: () => now,
    });
    await devices.add('target', { password: 'right' });
    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
      expect(await devices.authenticate(login('target', 'guess', { remoteAddress: ip }))).toEqual({
        ok: false,
        reason: 'bad-credentials',
      });
    }
    expect(await devices.authenticate(login('target', 'right', { remoteAddress: '198.51.100.4' }))).toEqual({
      ok: false,
      reason: 'throttled',
    });
    devices.setThrottle({ maxFailures: 3, windowMs: 60_000, blockMs: 10_000 });
    now += 10_001;
    expect(
      await devices.authenticate(login('target', 'right', { remoteAddress: '198.51.100.4' })),
    ).toMatchObject({
      ok: true,
      identity: { deviceId: 'target' },
    });
  });

  test('treats ::ffff:a.b.c.d and a.b.c.d as one address', async () => {
    const { devices } = await openTestDevices({ throttle: { ...THROTTLE, maxFailures: 2 } });
    await devices.add('mapped', { password: 'right' });
    await devices.authenticate(login('u1', 'x', { remoteAddress: '::ffff:203.0.113.5' }));
    await devices.authenticate(login('u2', 'x', { remoteAddress: '203.0.113.5' }));
    expect(await devices.authenticate(login('mapped', 'right', { remoteAddress: '203.0.113.5' }))).toEqual({
      ok: false,
      reason: 'throttled',
    });
  });
});
