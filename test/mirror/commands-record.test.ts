/** Pure logic of the command consumer: parsing a record against the config, and the config's checks. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { commandId, parseCommand } from '../../src/mirror/commands/record.ts';
import type { CommandRecord } from '../../src/mirror/index.ts';

const base = {
  edgeId: 'gw1',
  log: { topics: { events: { partitions: 1 } } },
  mqtt: { listeners: [{ type: 'tcp', port: 0 }], sessions: { enabled: true } },
  mirror: { clusters: { 'dc-east': { bootstrap: '127.0.0.1:9092' } } },
};
const cfgOf = (commands: Record<string, unknown> = {}) =>
  parseConfig({ ...base, commands: { enabled: true, ...commands } }).commands;

function rec(
  headers: Record<string, string>,
  key: string | null = 'dev-1',
  timestamp = 1_000_000,
): CommandRecord {
  return {
    partition: 0,
    offset: 7,
    timestamp,
    key: key === null ? null : Buffer.from(key),
    value: Buffer.from('{"op":"reboot"}'),
    headers: Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)]),
  };
}

describe('commands › record parsing', () => {
  it('renders the MQTT topic from key and headers and takes QoS from its header', () => {
    const cfg = cfgOf({ mqttTopic: '{edgeId}/{deviceId}/cmd/{header.name}' });
    const p = parseCommand(rec({ 'outpost-command-id': 'c1', name: 'reboot', 'outpost-qos': '2' }), {
      edgeId: 'gw1',
      cfg,
      now: 1_000_001,
    });
    expect(p).toEqual({
      kind: 'deliver',
      id: 'c1',
      deviceId: 'dev-1',
      topic: 'gw1/dev-1/cmd/reboot',
      qos: 2,
      payload: Buffer.from('{"op":"reboot"}'),
      expiresAt: null,
    });
  });

  it('expires at timestamp + TTL, and only then', () => {
    const cfg = cfgOf();
    const r = rec({ 'outpost-ttl-ms': '500' });
    expect(parseCommand(r, { edgeId: 'gw1', cfg, now: 1_000_499 })).toMatchObject({
      kind: 'deliver',
      expiresAt: 1_000_500, // carried to the downlink: a queued copy is not sent after it
    });
    expect(parseCommand(r, { edgeId: 'gw1', cfg, now: 1_000_500 })).toMatchObject({
      kind: 'expired',
      expiredAt: 1_000_500,
    });
    expect(
      parseCommand(rec({}), { edgeId: 'gw1', cfg: cfgOf({ defaultTtlMs: 10 }), now: 1_000_010 }).kind,
    ).toBe('expired');
    expect(parseCommand(rec({}), { edgeId: 'gw1', cfg, now: 9e12 }).kind).toBe('deliver');
  });

  it('rejects a bad TTL, a bad QoS, a missing device and a topic with wildcards', () => {
    const cfg = cfgOf({ mqttTopic: 'd/{deviceId}/{header.name}' });
    const reason = (r: CommandRecord) => {
      const p = parseCommand(r, { edgeId: 'gw1', cfg, now: 1_000_000 });
      return p.kind === 'rejected' ? p.reason : p.kind;
    };
    expect(reason(rec({ name: 'a', 'outpost-ttl-ms': '10s' }))).toBe('bad-ttl');
    expect(reason(rec({ name: 'a', 'outpost-qos': '3' }))).toBe('bad-qos');
    expect(reason(rec({ name: 'a' }, null))).toBe('no-device');
    expect(reason(rec({ name: 'a' }, 'a/b'))).toBe('no-device');
    expect(reason(rec({ name: '#' }))).toBe('bad-topic');
    expect(reason(rec({}))).toBe('bad-topic');
  });

  it('skips records addressed to another gateway on a shared topic', () => {
    const cfg = cfgOf({ gatewayHeader: 'gw' });
    expect(parseCommand(rec({ gw: 'gw2' }), { edgeId: 'gw1', cfg, now: 0 }).kind).toBe('skip');
    expect(parseCommand(rec({}), { edgeId: 'gw1', cfg, now: 0 }).kind).toBe('skip');
    expect(parseCommand(rec({ gw: 'gw1' }), { edgeId: 'gw1', cfg, now: 0 }).kind).toBe('deliver');
  });

  it('identifies a record without an id header by its content, equal for equal copies', () => {
    const a = commandId(rec({ x: '1' }), 'outpost-command-id');
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(commandId({ ...rec({ x: '1' }), offset: 99, partition: 3 }, 'outpost-command-id')).toBe(a);
    expect(commandId(rec({ x: '2' }), 'outpost-command-id')).not.toBe(a);
    expect(commandId(rec({ x: '1' }, 'dev-1', 1_000_001), 'outpost-command-id')).not.toBe(a);
  });
});

describe('commands › config', () => {
  it('is off by default and refuses unknown clusters and placeholders', () => {
    expect(parseConfig(base).commands.enabled).toBe(false);
    expect(() => cfgOf({ clusters: ['dc-nope'] })).toThrow(
      /commands\.clusters\[0\]: unknown cluster "dc-nope"/,
    );
    expect(() => cfgOf({ mqttTopic: 'd/{device}' })).toThrow(/commands\.mqttTopic: unknown placeholder/);
    expect(() => cfgOf({ topic: 'c.{deviceId}' })).toThrow(
      /commands\.topic: \{deviceId\} is not allowed here/,
    );
    expect(() => parseConfig({ ...base, mirror: { clusters: {} }, commands: { enabled: true } })).toThrow(
      /commands\.enabled: commands need at least one cluster/,
    );
    const noSessions = { ...base, mqtt: { listeners: base.mqtt.listeners } };
    expect(() => parseConfig({ ...noSessions, commands: { enabled: true } })).toThrow(
      /commands\.enabled: commands are delivered through MQTT sessions: set mqtt\.sessions\.enabled to true/,
    );
  });
});
