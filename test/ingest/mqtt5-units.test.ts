/** Pure MQTT 5 logic: protocol sniffing, reason-code tables, properties → headers, topic aliases. */
import mqttPacket from 'mqtt-packet';
import { describe, expect, test } from 'vitest';
import { OutpostError } from '../../src/errors.ts';
import { connackCode, pubackCode, violationCode } from '../../src/ingest/mqtt5/codes.ts';
import { payloadProblem, propertyHeaders, resolveAlias } from '../../src/ingest/mqtt5/properties.ts';
import { DEFAULT_POLICY, encodeForClient, reasonText } from '../../src/ingest/mqtt5/reason-string.ts';
import { sniffLevel } from '../../src/ingest/sniff.ts';

const connect = (protocolVersion: 3 | 4 | 5) =>
  mqttPacket.generate(
    {
      cmd: 'connect',
      protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion,
      clean: true,
      clientId: 'c',
      keepalive: 1,
    },
    { protocolVersion },
  );

describe('ingest › MQTT 5 units', () => {
  test('sniff › the CONNECT protocol level picks the handler, waiting for enough bytes (MQTT 5 §3.1.2.2)', () => {
    const v5 = connect(5);
    for (let n = 0; n < 9; n++) expect(sniffLevel(v5.subarray(0, n))).toBeNull();
    expect(sniffLevel(v5.subarray(0, 9))).toBe('mqtt5');
    expect(sniffLevel(connect(4))).toBe('other');
    const v6 = Buffer.from(v5);
    v6[8] = 6; // a level newer than 5 gets the MQTT 5 handler's CONNACK 0x84
    expect(sniffLevel(v6)).toBe('mqtt5');
    expect(sniffLevel(connect(3))).toBe('other');
    expect(sniffLevel(Buffer.from([0x30, 0x00]))).toBe('other'); // a PUBLISH first [MQTT-3.1.0-1]
    expect(sniffLevel(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBe('other'); // bad length
    expect(sniffLevel(Buffer.from([0x10, 0x10, 0x00, 0x20]))).toBe('other'); // no protocol name
  });

  test('codes › every CONNECT refusal has its CONNACK reason code (§3.2.2.2)', () => {
    expect(
      Object.fromEntries(
        (
          [
            'unknown-device',
            'bad-credentials',
            'cert-mismatch',
            'disabled',
            'anonymous-refused',
            'will-refused',
            'throttled',
            'client-id-too-long',
            'stopping',
            'auth-error',
            'max-connections',
            'log-full-connect',
            'auth-method',
            'payload-format',
            'too-large',
            'invalid-utf8',
            'protocol-error',
          ] as const
        ).map((r) => [r, connackCode(r)]),
      ),
    ).toEqual({
      'unknown-device': 0x86,
      'bad-credentials': 0x86,
      'cert-mismatch': 0x86,
      disabled: 0x87,
      'anonymous-refused': 0x87,
      'will-refused': 0x87,
      throttled: 0x8a,
      'client-id-too-long': 0x85,
      stopping: 0x88,
      'auth-error': 0x88,
      'max-connections': 0x89,
      'log-full-connect': 0x97,
      'auth-method': 0x8c,
      'payload-format': 0x99,
      'too-large': 0x95,
      'invalid-utf8': 0x81,
      'protocol-error': 0x82,
    });
  });

  test('codes › PUBACK codes follow the pipeline error; DISCONNECT codes the violation (§3.4.2.1, §3.14.2.1)', () => {
    const refused = (reason: string) => new OutpostError('INGEST_REFUSED', reason, { reason });
    expect(pubackCode(refused('unauthorized'))).toBe(0x87);
    expect(pubackCode(refused('unrouted'))).toBe(0x90);
    expect(pubackCode(refused('payload-format'))).toBe(0x99);
    expect(pubackCode(refused('record-invalid'))).toBe(0x83);
    expect(pubackCode(refused('rate-limited'))).toBe(0x97);
    expect(pubackCode(new OutpostError('LOG_FULL', 'full'))).toBe(0x97);
    expect(pubackCode(new OutpostError('LOG_WRITE_FAILED', 'io'))).toBe(0x80);
    expect(pubackCode(new Error('anything'))).toBe(0x80);
    expect(violationCode('too-large')).toBe(0x95);
    expect(violationCode('topic-alias-invalid')).toBe(0x94);
    expect(violationCode('receive-maximum')).toBe(0x93);
    expect(violationCode('keepalive-timeout')).toBe(0x8d);
    expect(violationCode('packet-id-zero')).toBe(0x82);
    expect(violationCode('device-revoked')).toBe(0x98);
  });

  test('reason strings › kept, dropped for Request Problem Information 0 except on CONNACK and DISCONNECT, dropped over Maximum Packet Size [MQTT-3.1.2-29, MQTT-3.4.2-2]', () => {
    const decode = (b: Buffer) => {
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      let got: { properties?: { reasonString?: string } } | undefined;
      parser.on('packet', (p) => {
        got = p as typeof got;
      });
      parser.parse(b);
      return got?.properties?.reasonString;
    };
    const text = reasonText('unrouted', 'no route matches the topic');
    const puback = {
      cmd: 'puback',
      messageId: 3,
      reasonCode: 0x90,
      properties: { reasonString: text },
    } as const;
    const disconnect = { cmd: 'disconnect', reasonCode: 0x82, properties: { reasonString: text } } as const;
    expect(decode(encodeForClient(puback, DEFAULT_POLICY))).toBe('unrouted: no route matches the topic');
    const quiet = { requestProblemInformation: false, maximumPacketSize: undefined };
    expect(decode(encodeForClient(puback, quiet))).toBeUndefined();
    expect(decode(encodeForClient(disconnect, quiet))).toBe(text);
    const small = { requestProblemInformation: true, maximumPacketSize: 20 };
    expect(encodeForClient(puback, small).length).toBeLessThanOrEqual(20);
    expect(decode(encodeForClient(puback, small))).toBeUndefined();
    expect(decode(encodeForClient(disconnect, small))).toBeUndefined();
    // Login refusals share one text; long details are cut.
    expect(reasonText('unknown-device')).toBe(reasonText('bad-credentials'));
    expect(reasonText('protocol-error', 'x'.repeat(500)).length).toBeLessThanOrEqual(160);
  });

  test('acks › a success acknowledgement without properties is the 2-byte form, as mqtt-packet writes it [MQTT-3.4.2-1]', () => {
    for (const cmd of ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const) {
      for (const messageId of [1, 255, 256, 65535]) {
        const ack = { cmd, messageId, reasonCode: 0 } as const;
        const bytes = encodeForClient(ack, DEFAULT_POLICY);
        expect(bytes).toEqual(mqttPacket.generate(ack, { protocolVersion: 5 }));
        expect(bytes.length).toBe(4);
        expect(bytes.readUInt16BE(2)).toBe(messageId);
      }
    }
    // With a reason code or properties, the long form.
    const refused = { cmd: 'puback', messageId: 7, reasonCode: 0x87 } as const;
    expect(encodeForClient(refused, DEFAULT_POLICY)).toEqual(
      mqttPacket.generate(refused, { protocolVersion: 5 }),
    );
    const withProps = {
      cmd: 'pubrec',
      messageId: 7,
      reasonCode: 0,
      properties: { userProperties: { a: 'b' } },
    } as const;
    expect(encodeForClient(withProps, DEFAULT_POLICY).length).toBeGreaterThan(4);
  });

  test('properties › headers keep user property order and number repeats; none without properties [MQTT-3.3.2-18]', () => {
    expect(propertyHeaders(undefined)).toBeUndefined();
    expect(propertyHeaders({})).toBeUndefined();
    const h = propertyHeaders({
      payloadFormatIndicator: false,
      userProperties: { b: ['1', '2'], a: 'x' },
    });
    expect(Object.entries(h ?? {}).map(([k, v]) => [k, v.toString()])).toEqual([
      ['mqtt.payload.format', '0'],
      ['mqtt.user.b', '1'],
      ['mqtt.user.b#2', '2'],
      ['mqtt.user.a', 'x'],
    ]);
    expect(payloadProblem({ payloadFormatIndicator: true }, Buffer.from([0xe2, 0x82]))).toBe(
      'payload-format',
    );
    expect(payloadProblem({ payloadFormatIndicator: false }, Buffer.from([0xff]))).toBeNull();
  });

  test('properties › topic aliases: set, use, out of range, unset (§3.3.2.3.4)', () => {
    const aliases = new Map<number, string>();
    expect(resolveAlias(aliases, 'a/b', undefined)).toBe('a/b');
    expect(resolveAlias(aliases, 'a/b', { topicAlias: 1 })).toBe('a/b');
    expect(resolveAlias(aliases, '', { topicAlias: 1 })).toBe('a/b');
    expect(resolveAlias(aliases, 'c', { topicAlias: 1 })).toBe('c'); // re-pointed
    expect(resolveAlias(aliases, '', { topicAlias: 1 })).toBe('c');
    expect(resolveAlias(aliases, '', { topicAlias: 2 })).toBe('protocol-error');
    expect(resolveAlias(aliases, 'x', { topicAlias: 0 })).toBe('topic-alias-invalid');
    expect(resolveAlias(aliases, 'x', { topicAlias: 33 })).toBe('topic-alias-invalid');
  });
});
