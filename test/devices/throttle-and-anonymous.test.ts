import { describe, expect, test } from 'vitest';
import { anonymousAllowed, isLoopback, normalizeAddress } from '../../src/devices/anonymous.ts';
import { FailureThrottle } from '../../src/devices/throttle.ts';

describe('devices › failed-login throttle', () => {
  const cfg = { maxFailures: 3, windowMs: 1000, blockMs: 5000 };

  test('blocks a key at maxFailures within the window and releases it after blockMs', () => {
    let now = 10_000;
    const t = new FailureThrottle(cfg, () => now);
    expect(t.fail('addr:a')).toBe(false);
    expect(t.fail('addr:a')).toBe(false);
    expect(t.isBlocked('addr:a')).toBe(false);
    expect(t.fail('addr:a')).toBe(true);
    expect(t.isBlocked('addr:a')).toBe(true);
    expect(t.isBlocked('addr:b')).toBe(false);
    now += 4999;
    expect(t.isBlocked('addr:a')).toBe(true);
    now += 1;
    expect(t.isBlocked('addr:a')).toBe(false);
  });

  test('forgets failures older than the window', () => {
    let now = 0;
    const t = new FailureThrottle(cfg, () => now);
    t.fail('k');
    t.fail('k');
    now = 1001;
    expect(t.fail('k')).toBe(false);
    expect(t.isBlocked('k')).toBe(false);
  });

  test('reset clears failures but not an active block; new config applies to later failures', () => {
    let now = 0;
    const t = new FailureThrottle(cfg, () => now);
    t.fail('k');
    t.fail('k');
    t.reset('k');
    expect(t.fail('k')).toBe(false);
    t.fail('k');
    expect(t.fail('k')).toBe(true);
    t.reset('k');
    expect(t.isBlocked('k')).toBe(true);
    t.setConfig({ maxFailures: 1, windowMs: 1000, blockMs: 10 });
    expect(t.fail('other')).toBe(true);
    now += 10;
    expect(t.isBlocked('other')).toBe(false);
  });

  test('keeps at most maxKeys entries, evicting the least recently failed', () => {
    const t = new FailureThrottle({ maxFailures: 1, windowMs: 1000, blockMs: 1000 }, () => 0, 3);
    for (const k of ['a', 'b', 'c', 'd']) t.fail(k);
    expect(t.size).toBe(3);
    expect(t.isBlocked('a')).toBe(false);
    expect(t.isBlocked('d')).toBe(true);
  });
});

describe('devices › anonymous policy', () => {
  test('detects loopback addresses in IPv4, IPv6 and IPv4-mapped IPv6 form', () => {
    for (const a of ['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '[::1]']) {
      expect(isLoopback(a), a).toBe(true);
    }
    for (const a of [
      '10.0.0.1',
      '128.0.0.1',
      '::2',
      'fe80::1',
      '::ffff:10.1.2.3',
      'localhost',
      '',
      undefined,
    ]) {
      expect(isLoopback(a), String(a)).toBe(false);
    }
  });

  test('allows anonymous logins per policy: true, false, or loopback only', () => {
    expect(anonymousAllowed(true, '192.0.2.7')).toBe(true);
    expect(anonymousAllowed(false, '127.0.0.1')).toBe(false);
    expect(anonymousAllowed('loopback', '127.0.0.1')).toBe(true);
    expect(anonymousAllowed('loopback', '::ffff:127.0.0.1')).toBe(true);
    expect(anonymousAllowed('loopback', '192.0.2.7')).toBe(false);
    expect(anonymousAllowed('loopback', '::ffff:192.0.2.7')).toBe(false);
  });

  test('normalizes IPv4-mapped IPv6 so one client is one throttle key', () => {
    expect(normalizeAddress('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(normalizeAddress('192.0.2.7')).toBe('192.0.2.7');
    expect(normalizeAddress('FE80::1')).toBe('fe80::1');
    expect(normalizeAddress(undefined)).toBe('unknown');
  });
});
