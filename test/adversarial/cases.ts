/**
 * The hostile cases, one bad client each. To add one: append an entry. `run` does the bad thing,
 * asserts what is particular to it (what the bad client got back, what reached the log) and resolves
 * once the bad client is done. The suite then checks that the good publishers were unharmed and that
 * the refusal was counted under `reason` (exactly `count` times; 'some' for loops).
 */
import { expect } from 'vitest';
import type { RefusalReason } from '../../src/ingest/index.ts';
import type { PartitionedLog } from '../../src/log/index.ts';
import { connackCode, connect, uniq } from '../ingest/helpers.ts';
import {
  connect5Packet,
  connectPacket,
  publish5,
  publishPacket,
  rawClient,
  rawConnected5,
} from '../ingest/raw.ts';
import { closedBy, rawConnect, rawConnected, rawPublish, silentSocket } from './packets.ts';
import type { Rig, RigOptions } from './rig.ts';

export interface Case {
  name: string;
  reason: RefusalReason;
  count?: number | 'some';
  /** Other refusal reasons the case may cause (e.g. throttled after bad credentials). */
  also?: RefusalReason[];
  rig?: RigOptions;
  run(rig: Rig): Promise<void>;
}

const values = (rig: Rig, prefix: string): string[] =>
  rig.h
    .records('open')
    .map((r) => r.value.toString())
    .filter((v) => v.startsWith(prefix));

/** A valid QoS 1 PUBLISH, then a bad packet, in one socket write: the first is acknowledged, then the close. */
async function ackThenRefuse(rig: Rig, bad: Buffer): Promise<void> {
  const tag = uniq('first-');
  const raw = await rawConnected(rig.h.port(), uniq('bad'));
  raw.send(Buffer.concat([rawPublish('open/bad/first', tag, 1, 7), bad]));
  const got = await closedBy(raw);
  expect(
    raw.packets.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId?: number }).messageId),
  ).toEqual([7]);
  expect(got.filter((c) => c === 'puback')).toHaveLength(1);
  expect(values(rig, tag)).toEqual([tag]); // appended exactly once, and acknowledged
}

/** The bad client is closed without any acknowledgement and nothing of it reaches the log. */
async function refusedOutright(rig: Rig, bytes: Buffer, connectFirst = true): Promise<string[]> {
  const raw = connectFirst ? await rawConnected(rig.h.port(), uniq('bad')) : await rawClient(rig.h.port());
  raw.send(bytes);
  const got = await closedBy(raw);
  expect(got.filter((c) => c === 'puback' || c === 'pubrec')).toEqual([]);
  expect(
    rig.h.records('open').filter((r) => r.headers['mqtt.topic']?.toString().startsWith('open/bad')),
  ).toEqual([]);
  return got;
}

/** The real log with its per-record check switched off, so a bad record reaches the shared append. */
function skipValidation(log: PartitionedLog): PartitionedLog {
  return new Proxy(log, {
    get(target, prop, receiver) {
      if (prop === 'validate') return () => null;
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

export const CASES: Case[] = [
  {
    name: 'a CONNECT with will QoS 3 is closed before CONNACK, and no will is ever published',
    reason: 'will-invalid',
    async run(rig) {
      const got = await refusedOutright(
        rig,
        rawConnect({ clientId: uniq('w3'), will: { topic: 'open/bad/will', payload: 'x', qos: 3 } }),
        false,
      );
      expect(got).not.toContain('connack');
    },
  },
  {
    name: 'a will on a topic no route takes is refused at CONNECT with CONNACK 5',
    reason: 'will-refused',
    async run(rig) {
      const raw = await rawClient(rig.h.port());
      raw.send(rawConnect({ clientId: uniq('wu'), will: { topic: 'nowhere/will', payload: 'x', qos: 1 } }));
      expect(await raw.next('connack')).toMatchObject({ returnCode: 5 });
      await raw.closed;
    },
  },
  {
    name: 'a will larger than maxPayloadBytes is refused at CONNECT with CONNACK 5',
    reason: 'will-refused',
    rig: { limits: { maxPayloadBytes: 1024 } },
    async run(rig) {
      const raw = await rawClient(rig.h.port());
      const payload = Buffer.alloc(1025, 1);
      raw.send(rawConnect({ clientId: uniq('wb'), will: { topic: 'open/bad/will', payload, qos: 1 } }));
      expect(await raw.next('connack')).toMatchObject({ returnCode: 5 });
      await raw.closed;
    },
  },
  {
    name: 'a record the log cannot store fails alone in the shared commit',
    reason: 'record-invalid',
    rig: { harness: { logMaxRecordBytes: 8 * 1024 } },
    async run(rig) {
      const bad = await connect(rig.h.url(), { clientId: uniq('big') });
      const results: Array<Error | undefined> = [];
      for (let i = 0; i < 3; i++) {
        bad.publish('open/bad/big', Buffer.alloc(16 * 1024, 2), { qos: 1 }, (err) => results.push(err));
      }
      await new Promise<void>((resolve) => bad.once('close', () => resolve()));
      expect(results.filter((e) => e === undefined)).toEqual([]); // none acknowledged
    },
  },
  {
    name: 'a record the log rejects after validation (the defence behind it) fails alone too',
    reason: 'record-invalid',
    rig: { harness: { logMaxRecordBytes: 8 * 1024, wrapLog: skipValidation } },
    async run(rig) {
      const bad = await connect(rig.h.url(), { clientId: uniq('big') });
      const results: Array<Error | undefined> = [];
      for (let i = 0; i < 3; i++) {
        bad.publish('open/bad/big', Buffer.alloc(16 * 1024, 2), { qos: 1 }, (err) => results.push(err));
      }
      await new Promise<void>((resolve) => bad.once('close', () => resolve()));
      expect(results.filter((e) => e === undefined)).toEqual([]);
      expect(values(rig, '\u0002')).toEqual([]);
    },
  },
  {
    name: 'a valid PUBLISH in the same write before an oversized packet is acknowledged before the close',
    reason: 'too-large',
    run: (rig) => ackThenRefuse(rig, rawPublish('open/bad/big', Buffer.alloc(80 * 1024, 3), 1, 8)),
  },
  {
    name: 'a valid PUBLISH in the same write before an ill-formed UTF-8 topic is acknowledged before the close',
    reason: 'invalid-utf8',
    run: (rig) =>
      ackThenRefuse(rig, rawPublish(Buffer.from([0x6f, 0x70, 0x65, 0x6e, 0x2f, 0xff, 0xfe]), 'x', 1, 8)),
  },
  {
    name: 'a valid PUBLISH in the same write before an unrouted one is acknowledged before the close',
    reason: 'unrouted',
    run: (rig) => ackThenRefuse(rig, rawPublish('nowhere/at/all', 'x', 1, 8)),
  },
  {
    name: 'a connection closed for a bad packet still publishes its will',
    reason: 'invalid-utf8',
    async run(rig) {
      const tag = uniq('will-');
      const raw = await rawClient(rig.h.port());
      raw.send(rawConnect({ clientId: uniq('wd'), will: { topic: 'open/bad/will', payload: tag, qos: 1 } }));
      expect(await raw.next('connack')).toMatchObject({ returnCode: 0 });
      raw.send(rawPublish(Buffer.from('open/bad/\xff', 'latin1'), 'x', 1));
      await closedBy(raw);
      for (let i = 0; i < 200 && values(rig, tag).length === 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(values(rig, tag)).toEqual([tag]); // [MQTT-3.1.2-8]
    },
  },
  {
    name: 'ill-formed UTF-8 in a topic closes the connection and stores nothing',
    reason: 'invalid-utf8',
    run: async (rig) => {
      await refusedOutright(rig, rawPublish(Buffer.from('open/bad/\xff', 'latin1'), 'x', 1));
    },
  },
  {
    name: 'a UTF-16 surrogate encoded in a topic closes the connection',
    reason: 'invalid-utf8',
    run: async (rig) => {
      await refusedOutright(
        rig,
        rawPublish(Buffer.concat([Buffer.from('open/bad/'), Buffer.from([0xed, 0xa0, 0x80])]), 'x', 1),
      );
    },
  },
  {
    name: 'U+0000 in a topic closes the connection',
    reason: 'null-character',
    run: async (rig) => {
      await refusedOutright(rig, rawPublish('open/bad/a\u0000b', 'x', 1));
    },
  },
  {
    name: 'a QoS 1 PUBLISH with packet id 0 closes the connection',
    reason: 'packet-id-zero',
    run: async (rig) => {
      await refusedOutright(rig, rawPublish('open/bad/zero', 'x', 1, 0));
    },
  },
  {
    name: 'a wildcard in a PUBLISH topic closes the connection',
    reason: 'invalid-topic',
    run: async (rig) => {
      await refusedOutright(rig, rawPublish('open/bad/+', 'x', 1));
    },
  },
  {
    // MQTT 5 is spoken since Outpost has its own MQTT 5 handler (src/ingest/mqtt5/); enhanced
    // authentication is what it refuses at CONNECT [MQTT-4.12.0-1].
    name: 'an MQTT 5 CONNECT with enhanced authentication gets CONNACK 0x8C and is counted',
    reason: 'auth-method',
    async run(rig) {
      const raw = await rawClient(rig.h.port(), 5);
      raw.send(connect5Packet(uniq('v5'), { properties: { authenticationMethod: 'SCRAM-SHA-256' } }));
      expect(await raw.next('connack')).toMatchObject({ reasonCode: 0x8c });
      await raw.closed;
    },
  },
  {
    name: 'an MQTT 5 PUBLISH outside the routes gets PUBACK 0x90 and the connection goes on',
    reason: 'unrouted',
    rig: { config: { unrouted: null } },
    async run(rig) {
      const raw = await rawConnected5(rig.h.port(), uniq('v5'));
      const tag = uniq('v5-ok-');
      raw.send(Buffer.concat([publish5('nowhere/v5', 'x', 1, 1), publish5('open/bad/v5', tag, 1, 2)]));
      for (let i = 0; i < 300 && raw.packets.filter((p) => p.cmd === 'puback').length < 2; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(
        raw.packets.filter((p) => p.cmd === 'puback').map((p) => (p as { reasonCode?: number }).reasonCode),
      ).toEqual([0x90, 0]);
      expect(values(rig, tag)).toEqual([tag]);
      raw.socket.destroy();
    },
  },
  {
    name: 'an MQTT 5 PUBLISH then an oversized one: PUBACK for the first, then DISCONNECT 0x95',
    reason: 'too-large',
    rig: { limits: { maxPayloadBytes: 1024 } },
    async run(rig) {
      const raw = await rawConnected5(rig.h.port(), uniq('v5'));
      const tag = uniq('v5-first-');
      raw.send(
        Buffer.concat([
          publish5('open/bad/first', tag, 1, 7),
          publish5('open/bad/big', Buffer.alloc(4096), 1, 8),
        ]),
      );
      await raw.closed;
      expect(raw.packets.map((p) => p.cmd)).toEqual(['connack', 'puback', 'disconnect']);
      expect(raw.packets[2]).toMatchObject({ reasonCode: 0x95 });
      expect(values(rig, tag)).toEqual([tag]);
    },
  },
  {
    name: 'an MQTT 5 client past Receive Maximum gets DISCONNECT 0x93 after its earlier PUBACKs',
    reason: 'receive-maximum',
    rig: { limits: { maxInflightPerClient: 2 } },
    async run(rig) {
      const raw = await rawConnected5(rig.h.port(), uniq('v5'));
      const tags = [uniq('rm-'), uniq('rm-'), uniq('rm-')];
      raw.send(Buffer.concat(tags.map((t, i) => publish5('open/bad/rm', t, 1, i + 1))));
      await raw.closed;
      expect(raw.packets.map((p) => p.cmd)).toEqual(['connack', 'puback', 'puback', 'disconnect']);
      expect(raw.packets[3]).toMatchObject({ reasonCode: 0x93 });
      expect(values(rig, 'rm-')).toEqual(tags.slice(0, 2));
    },
  },
  {
    name: 'a CONNECT with an unknown protocol level is closed and counted',
    reason: 'protocol-version',
    run: async (rig) => {
      await refusedOutright(rig, rawConnect({ level: 6 }), false);
    },
  },
  {
    name: 'an empty client id with CleanSession 0 gets CONNACK 2',
    reason: 'client-id-rejected',
    async run(rig) {
      const raw = await rawClient(rig.h.port());
      raw.send(rawConnect({ clientId: '', clean: false }));
      expect(await raw.next('connack')).toMatchObject({ returnCode: 2 });
      await raw.closed;
    },
  },
  {
    name: 'a password without a user name closes the connection',
    reason: 'protocol-error',
    run: async (rig) => {
      await refusedOutright(rig, rawConnect({ password: 'secret' }), false);
    },
  },
  {
    name: 'a PUBLISH before CONNECT closes the connection',
    reason: 'protocol-error',
    run: async (rig) => {
      await refusedOutright(rig, publishPacket('open/bad/early', 'x', 1), false);
    },
  },
  {
    name: 'a second CONNECT closes the connection',
    reason: 'protocol-error',
    run: async (rig) => {
      await refusedOutright(rig, connectPacket(uniq('again')));
    },
  },
  {
    name: 'a packet announcing 100 MiB is cut off before it is buffered',
    reason: 'too-large',
    run: async (rig) => {
      await refusedOutright(rig, Buffer.from([0x32, 0x80, 0x80, 0x80, 0x32, 0x00, 0x04, 0x6f, 0x70]));
    },
  },
  {
    name: 'a truncated PUBLISH followed by silence is closed by the keepalive',
    reason: 'keepalive-timeout',
    async run(rig) {
      const raw = await rawConnected(rig.h.port(), uniq('trunc'), 1);
      raw.send(rawPublish('open/bad/trunc', Buffer.alloc(500, 4), 1).subarray(0, 20));
      const got = await closedBy(raw);
      expect(got).not.toContain('puback');
    },
  },
  {
    name: 'a socket that never completes its CONNECT (slowloris) is closed at connectTimeoutMs',
    reason: 'connect-timeout',
    rig: { mqtt: { connectTimeoutMs: 500 } },
    run: (rig) => silentSocket(rig.h.port(), rawConnect({}).subarray(0, 5)),
  },
  {
    name: 'a flood of CONNECTs beyond maxConnections gets CONNACK 3 without touching live connections',
    reason: 'max-connections',
    count: 'some',
    rig: { limits: { maxConnections: 10 } },
    async run(rig) {
      const codes = await Promise.all(
        Array.from({ length: 30 }, () => connackCode(rig.h.url(), { clientId: uniq('flood') })),
      );
      expect(codes.filter((c) => c === 3).length).toBeGreaterThanOrEqual(20);
    },
  },
  {
    name: 'wrong credentials in a loop are refused, then throttled',
    reason: 'bad-credentials',
    count: 'some',
    also: ['throttled'],
    async run(rig) {
      await rig.h.devices.add('dev-victim', { password: 'right-password' });
      const codes: number[] = [];
      for (let i = 0; i < 12; i++) {
        codes.push(
          await connackCode(rig.h.url(), {
            clientId: uniq('guess'),
            username: 'dev-victim',
            password: `wrong${i}`,
          }),
        );
      }
      expect(codes.every((c) => c === 4 || c === 5)).toBe(true);
      expect(codes).toContain(5); // throttled after maxFailures
      expect(rig.h.ingest.status().refusals.throttled ?? 0).toBeGreaterThan(0);
    },
  },
  {
    name: 'keepalive 0 is refused by a clean close where a setting requires a keepalive',
    reason: 'keepalive-required',
    rig: { limits: { requireKeepalive: true } },
    run: async (rig) => {
      await refusedOutright(rig, rawConnect({ keepalive: 0 }), false);
    },
  },
];
