import type { ConfigInput } from '../config/index.ts';

/**
 * A gateway config for simulated fleets: the log topics and routes of config/gateway.example.json,
 * MQTT and admin HTTP on loopback (port 0 = any free port unless given), password logins only, and
 * the given mirror clusters (alias → bootstrap; every topic mirrored).
 */
export function fleetConfig(opts: {
  edgeId: string;
  dataDir: string;
  clusters?: Record<string, string>;
  mqttPort?: number;
  httpPort?: number;
  overrides?: Partial<ConfigInput>;
}): ConfigInput {
  return {
    edgeId: opts.edgeId,
    dataDir: opts.dataDir,
    log: {
      topics: {
        'stb-events': { partitions: 4, priority: 1 },
        'stb-heartbeat': { partitions: 2 },
        'vehicle-telemetry': { partitions: 4, priority: 1 },
        'vehicle-dtc': { partitions: 2, priority: 2 },
        unrouted: { partitions: 1 },
      },
      maxBytes: 4 * 1024 ** 3,
      minFreeBytes: 64 * 1024 ** 2,
    },
    mqtt: {
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: opts.mqttPort ?? 0 }],
      allowAnonymous: false,
    },
    routes: [
      { match: 'stb/{deviceId}/events/{type}', topic: 'stb-events', key: '{deviceId}' },
      { match: 'stb/{deviceId}/heartbeat', topic: 'stb-heartbeat', key: '{deviceId}' },
      { match: 'vehicles/{deviceId}/telemetry/#', topic: 'vehicle-telemetry', key: '{deviceId}' },
      { match: 'vehicles/{deviceId}/dtc', topic: 'vehicle-dtc', key: '{deviceId}' },
    ],
    unrouted: 'unrouted',
    http: { host: '127.0.0.1', port: opts.httpPort ?? 0 },
    mirror: {
      clusters: Object.fromEntries(
        Object.entries(opts.clusters ?? {}).map(([alias, bootstrap]) => [
          alias,
          { bootstrap, required: true },
        ]),
      ),
    },
    ...opts.overrides,
  };
}
