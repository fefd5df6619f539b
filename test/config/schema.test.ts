import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { configJsonSchemaText, loadConfig, parseConfig } from '../../src/config/index.ts';
import { isOutpostError } from '../../src/errors.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/** The `path: reason` lines of a config that must fail. */
function problems(raw: unknown): string[] {
  try {
    parseConfig(raw, 'test.json');
  } catch (err) {
    if (isOutpostError(err, 'CONFIG_INVALID'))
      return err.message
        .split('\n')
        .slice(1)
        .map((l) => l.trim());
    throw err;
  }
  throw new Error('config unexpectedly valid');
}

interface Raw {
  [key: string]: unknown;
  log: { topics: Record<string, Record<string, unknown>> };
  mqtt: { listeners: Array<Record<string, unknown>> };
}

function base(): Raw {
  return {
    edgeId: 'gw-1',
    log: { topics: { 'vehicle-telemetry': { partitions: 4 } } },
    mqtt: { listeners: [{ type: 'tcp', port: 1883 }] },
  };
}

describe('config › schema', () => {
  test('config › the committed config/outpost.schema.json equals the one generated from the zod schema (run npm run config:schema)', async () => {
    const committed = await readFile(join(ROOT, 'config/outpost.schema.json'), 'utf8');
    expect(committed).toBe(configJsonSchemaText());
  });

  test('config › config/default.json validates and runs on a laptop: loopback MQTT 1883, anonymous on loopback only, ./data, no clusters', async () => {
    const c = await loadConfig(join(ROOT, 'config/default.json'));
    expect(c.mqtt.listeners).toEqual([{ type: 'tcp', host: '127.0.0.1', port: 1883 }]);
    expect(c.mqtt.allowAnonymous).toBe('loopback');
    expect(c.dataDir).toBe('./data');
    expect(Object.keys(c.mirror.clusters)).toEqual([]);
    expect(Object.keys(c.log.topics).length).toBeGreaterThan(1);
  });

  test('config › config/gateway.example.json validates: TLS with client certs, ws, no anonymous, stb and vehicle routes, two datacenters', async () => {
    const c = await loadConfig(join(ROOT, 'config/gateway.example.json'));
    expect(c.edgeId).toMatch(/^gw-\d{4}$/);
    expect(c.mqtt.allowAnonymous).toBe(false);
    const tls = c.mqtt.listeners.find((l) => l.type === 'tls');
    expect(tls?.type === 'tls' && tls.requestCert && tls.ca !== undefined).toBe(true);
    expect(c.mqtt.listeners.some((l) => l.type === 'ws')).toBe(true);
    expect(c.routes.map((r) => r.match)).toEqual(
      expect.arrayContaining([
        'stb/{deviceId}/events/{type}',
        'stb/{deviceId}/heartbeat',
        'vehicles/{deviceId}/telemetry/#',
        'vehicles/{deviceId}/dtc',
      ]),
    );
    const clusters = c.mirror.clusters;
    expect(Object.keys(clusters).sort()).toEqual(['dc-east', 'dc-west']);
    expect(clusters['dc-east']?.required).toBe(true);
    expect(clusters['dc-west']?.required).toBe(false);
    for (const cl of Object.values(clusters)) {
      expect(cl.sasl?.mechanism).toMatch(/^SCRAM-SHA-/);
      expect(cl.tls?.ca).toBeDefined();
      expect(cl.maxBytesPerSecond).toBeGreaterThan(0);
    }
  });

  test('config › defaults come from the schema and the input object is not mutated', () => {
    const raw = base();
    const before = structuredClone(raw);
    const c = parseConfig(raw);
    expect(raw).toEqual(before);
    expect(c.dataDir).toBe('./data');
    expect(c.log.onFull).toBe('reject');
    expect(c.http).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(c.unrouted).toBeNull();
  });
});

describe('config › validation messages name the path and the reason', () => {
  test('config › a zero partition count reads "log.topics.vehicle-telemetry.partitions: must be a positive integer"', () => {
    const raw = base();
    raw.log.topics['vehicle-telemetry']!.partitions = 0;
    expect(problems(raw)).toEqual(['log.topics.vehicle-telemetry.partitions: must be a positive integer']);
  });

  test('config › a fractional partition count says it must be an integer', () => {
    const raw = base();
    raw.log.topics['vehicle-telemetry']!.partitions = 2.5;
    expect(problems(raw)).toEqual(['log.topics.vehicle-telemetry.partitions: must be an integer']);
  });

  test('config › a missing required key says "required"', () => {
    const raw = base();
    delete raw['edgeId'];
    expect(problems(raw)).toEqual(['edgeId: required']);
  });

  test('config › an edgeId with a dot is refused because it becomes a Kafka topic prefix', () => {
    const raw = { ...base(), edgeId: 'gw.1' };
    expect(problems(raw)).toEqual([
      'edgeId: must match [A-Za-z0-9_-]+ (it becomes a Kafka topic prefix; "." is the separator)',
    ]);
  });

  test('config › unknown keys are named by their full path, one line each', () => {
    const raw = base();
    raw['colour'] = 'blue';
    raw.log.topics['vehicle-telemetry']!.retention = 5;
    expect(problems(raw)).toEqual([
      'log.topics.vehicle-telemetry.retention: unknown key',
      'colour: unknown key',
    ]);
  });

  test('config › array elements are shown as [i] and wrong types say what was expected and found', () => {
    const raw = base();
    raw.mqtt.listeners[0]!.port = '1883';
    expect(problems(raw)).toEqual(['mqtt.listeners[0].port: expected a number, got a string']);
  });

  test('config › a bad listener type lists the accepted types', () => {
    const raw = base();
    raw.mqtt.listeners[0]!.type = 'udp';
    expect(problems(raw)).toEqual(['mqtt.listeners[0].type: must be one of "tcp", "tls", "ws"']);
  });

  test('config › an enum value lists the accepted values', () => {
    const raw = { ...base(), logging: { level: 'loud' } };
    expect(problems(raw)).toEqual([
      'logging.level: must be one of "fatal", "error", "warn", "info", "debug", "trace"',
    ]);
  });

  test('config › a union shows the reason of the alternative the value was aiming at', () => {
    const raw = { ...base(), mirror: { clusters: { 'dc-east': { bootstrap: 'kafka-1' } } } };
    expect(problems(raw)).toEqual(['mirror.clusters.dc-east.bootstrap: expected host:port']);
    const raw2 = { ...base(), mirror: { clusters: { 'dc-east': { bootstrap: 9092 } } } };
    expect(problems(raw2)).toEqual(['mirror.clusters.dc-east.bootstrap: expected string or array']);
  });

  test('config › every problem is reported, not only the first', () => {
    const raw = base();
    raw.log.topics['vehicle-telemetry']!.partitions = -1;
    raw['http'] = { port: 70000 };
    expect(problems(raw)).toEqual([
      'log.topics.vehicle-telemetry.partitions: must be a positive integer',
      'http.port: must be a TCP port (0-65535)',
    ]);
  });

  test('config › a route to an undeclared log topic is refused', () => {
    const raw = { ...base(), routes: [{ match: 'vehicles/{deviceId}/x', topic: 'nope', key: '{deviceId}' }] };
    expect(problems(raw)).toEqual(['routes[0].topic: unknown log topic "nope"']);
  });

  test('config › two listeners on the same port, or one on a wildcard host, are refused', () => {
    const raw = base();
    raw.mqtt.listeners = [
      { type: 'tcp', host: '127.0.0.1', port: 1883 },
      { type: 'ws', host: '0.0.0.0', port: 1883 },
      { type: 'ws', host: '127.0.0.1', port: 0 },
      { type: 'tcp', host: '127.0.0.1', port: 0 },
    ];
    expect(problems(raw)).toEqual([
      'mqtt.listeners[1].port: port 1883 on 0.0.0.0 is already used by mqtt.listeners[0].port (127.0.0.1:1883)',
    ]);
  });

  test('config › the HTTP port may not clash with an MQTT listener', () => {
    const raw = { ...base(), http: { port: 1883 } };
    expect(problems(raw)).toEqual([
      'http.port: port 1883 on 127.0.0.1 is already used by mqtt.listeners[0].port (127.0.0.1:1883)',
    ]);
  });
});

describe('config › cross-field rules', () => {
  test('config › a retention schedule node-cron cannot parse is refused with its reason', () => {
    const raw = base();
    (raw.log as Record<string, unknown>)['retentionSchedule'] = '61 * * * *';
    expect(problems(raw)).toEqual([
      'log.retentionSchedule: not a cron expression: 61 is a invalid expression for minute',
    ]);
    (raw.log as Record<string, unknown>)['retentionSchedule'] = 'hourly';
    expect(problems(raw)).toEqual([
      'log.retentionSchedule: not a cron expression: expected 5 or 6 fields but got 1',
    ]);
  });
});
