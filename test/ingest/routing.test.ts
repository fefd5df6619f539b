import { describe, expect, test } from 'vitest';
import { configSchema } from '../../src/config/index.ts';
import { compileRoutes, matchRoute, parsePattern, renderKey } from '../../src/ingest/index.ts';
import { baseConfig } from './helpers.ts';

const routes = compileRoutes([
  { match: 'vehicles/{deviceId}/telemetry/#', topic: 'telemetry', key: '{deviceId}', deviceAcl: true },
  { match: 'stb/{deviceId}/events/{type}', topic: 'events', key: '{deviceId}:{type}', deviceAcl: true },
  { match: 'stb/+/events/#', topic: 'other', deviceAcl: false },
  { match: 'exact/topic', topic: 'exact', deviceAcl: false },
]);

describe('ingest › routing (pure)', () => {
  test('routing › a trailing # matches the parent level and any depth below it', () => {
    expect(matchRoute(routes, 'vehicles/v1/telemetry')?.route.topic).toBe('telemetry');
    expect(matchRoute(routes, 'vehicles/v1/telemetry/gps/fix')?.captures).toEqual({ deviceId: 'v1' });
    expect(matchRoute(routes, 'vehicles/v1/status')).toBeNull();
  });

  test('routing › captures take exactly one level and the first matching route wins', () => {
    const m = matchRoute(routes, 'stb/box-7/events/boot');
    expect(m?.route.topic).toBe('events');
    expect(m && renderKey(m.route, m.captures)).toBe('box-7:boot');
    // one level too deep for "events/{type}": falls through to the "#" route
    const deeper = matchRoute(routes, 'stb/box-7/events/boot/extra');
    expect(deeper?.route.topic).toBe('other');
    expect(deeper && renderKey(deeper.route, deeper.captures)).toBeNull();
  });

  test('routing › literal routes match only the exact topic, and wildcards skip $-topics', () => {
    expect(matchRoute(routes, 'exact/topic')?.route.topic).toBe('exact');
    expect(matchRoute(routes, 'exact/topic/x')).toBeNull();
    expect(matchRoute(compileRoutes([{ match: '#', topic: 'all', deviceAcl: false }]), '$SYS/x')).toBeNull();
  });

  test('routing › empty levels are levels', () => {
    const r = compileRoutes([{ match: 'a/{x}/b', topic: 't', key: '{x}', deviceAcl: false }]);
    const m = matchRoute(r, 'a//b');
    expect(m?.captures).toEqual({ x: '' });
  });

  test('routing › malformed patterns are rejected with the reason', () => {
    expect(() => parsePattern('a/#/b')).toThrow(/last level/);
    expect(() => parsePattern('a/x{id}/b')).toThrow(/whole level/);
    expect(() => parsePattern('a/{id}/{id}')).toThrow(/twice/);
    expect(() => compileRoutes([{ match: 'a/{x}', topic: 't', key: '{y}', deviceAcl: false }])).toThrow(
      /routes\[0\].*\{y\}/,
    );
  });

  test('routing › config validation names the bad route path', () => {
    const r = configSchema.safeParse({
      ...baseConfig(),
      dataDir: '/tmp/x',
      routes: [
        { match: 'ok/{deviceId}', topic: 'telemetry' },
        { match: 'bad/#/x', topic: 'telemetry', deviceAcl: false },
        { match: 'no/capture', topic: 'telemetry' },
      ],
    });
    expect(r.success).toBe(false);
    const paths = r.error?.issues.map((i) => i.path.join('.'));
    expect(paths).toContain('routes.1.match');
    expect(paths).toContain('routes.2.deviceAcl');
    expect(paths).not.toContain('routes.0.match');
  });
});
