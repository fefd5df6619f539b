/**
 * Wire-level guards around aedes' MQTT parser (mqtt-packet), installed per connection, and the
 * sorting of connection errors.
 *
 * mqtt-packet parses what MQTT 3.1.1 calls malformed without complaint in several places. The guard
 * checks, as each packet is parsed:
 *   size      the Remaining Length (§2.2.3) as soon as it is decoded: a client announcing a 200 MiB
 *             PUBLISH would otherwise make us buffer 200 MiB
 *   strings   every UTF-8 string field (§1.5.3): ill-formed UTF-8, including surrogates, closes the
 *             connection [MQTT-1.5.3-1]; so does U+0000 [MQTT-1.5.3-2] (the spec allows a server to;
 *             Kafka tooling treats it as a terminator). mqtt-packet would decode bad bytes to U+FFFD
 *             and lose the original topic. Control characters and non-characters are accepted
 *             (SHOULD NOT for senders; a receiver MAY close, we don't) and stored byte for byte.
 *   packet id a QoS > 0 PUBLISH, SUBSCRIBE, UNSUBSCRIBE and their acknowledgements carry a non-zero id
 *             [MQTT-2.3.1-1]
 *   PUBLISH   the topic name is non-empty and has no wildcard [MQTT-4.7.3-1, MQTT-3.3.2-2]
 *   CONNECT   will QoS 3 [MQTT-3.1.2-14]; will topic as a PUBLISH topic [MQTT-3.1.2-9]; a password
 *             without a user name [MQTT-3.1.2-22]; a second CONNECT [MQTT-3.1.0-2]; a first packet
 *             that is not CONNECT [MQTT-3.1.0-1]
 *
 * Every parser error, ours or mqtt-packet's, goes to `onViolation` once instead of closing the
 * connection on the spot: packets of the same socket read that came before the bad one are already
 * in the pipeline, and they must be acknowledged before the connection closes (otherwise they are
 * appended and never acknowledged, and the device's resend becomes a duplicate). The parser stops
 * at the first error and parses nothing more for that connection.
 */
import { isUtf8 } from 'node:buffer';
import { isOutpostError, OutpostError } from '../errors.ts';
import type { RefusalReason } from './metrics.ts';

interface ParserPacket {
  length: number;
  cmd?: string;
  qos?: number;
  topic?: string;
  messageId?: number;
  protocolVersion?: number;
  properties?: { topicAlias?: number };
  will?: { qos: number; topic: string };
  username?: string;
  password?: Buffer;
}

interface ParserLike {
  packet: ParserPacket;
  error: Error | null;
  _list: { slice(start: number, end: number): Buffer };
  _pos: number;
  _parseLength(): boolean;
  _parseString(): string | null;
  _parseMessageId(): boolean;
  _parsePublish(): unknown;
  _parseConnect(): unknown;
  _emitError(err: Error): void;
  _newPacket(): boolean;
  emit(event: string, arg: unknown): boolean;
}

/** Slack for a PUBLISH's fixed fields (topic length prefix, packet id) and CONNECT headers. */
const PACKET_OVERHEAD = 64;

export const PACKET_TOO_LARGE = 'packet exceeds the configured size limit';

export interface WireLimits {
  maxPayloadBytes: number;
  maxTopicLength: number;
  maxClientIdLength: number;
}

/**
 * The largest Remaining Length the guard lets through: payload + topic + fixed fields (and for
 * CONNECT the client id, user name and password). MQTT 5 properties (user properties) share it.
 */
export function maxRemainingLength(l: WireLimits, connect = false): number {
  return l.maxPayloadBytes + l.maxTopicLength + PACKET_OVERHEAD + (connect ? l.maxClientIdLength + 1024 : 0);
}

/** A protocol violation found by the guard: its refusal reason and the clause it breaks. */
function violation(reason: RefusalReason, message: string): OutpostError {
  return new OutpostError('INGEST_REFUSED', message, { reason });
}

/** The reason a PUBLISH (or will) topic name is not one [MQTT-4.7.3-1, MQTT-3.3.2-2], or null. */
export function topicNameProblem(topic: string): string | null {
  if (topic.length === 0) return 'empty topic name [MQTT-4.7.3-1]';
  if (topic.includes('#') || topic.includes('+')) return 'wildcard in a topic name [MQTT-3.3.2-2]';
  return null;
}

/**
 * Installs the guard on an aedes client's parser. `onViolation` receives every parser error once;
 * it must eventually call `close(err)` (which hands the error to aedes: the connection is destroyed
 * without an acknowledgement for the bad packet).
 */
export function guardParser(
  client: unknown,
  limits: () => WireLimits,
  onViolation: (err: Error, close: () => void) => void,
): void {
  const parser = (client as { _parser?: ParserLike })._parser;
  if (!parser || typeof parser._parseLength !== 'function') return;
  const proto = Object.getPrototypeOf(parser) as ParserLike;
  let connects = 0;

  parser._emitError = function guardedEmitError(this: ParserLike, err: Error): void {
    if (this.error) return; // the first error wins; mqtt-packet reports a failed field twice
    this.error = err;
    onViolation(err, () => proto.emit.call(this, 'error', err));
  };
  // Once an error was seen, later socket reads are never parsed (mqtt-packet would reset and go on).
  const parse = (parser as unknown as { parse(buf: Buffer): number }).parse;
  (parser as unknown as { parse(buf: Buffer): number }).parse = function guardedParse(this: ParserLike, buf) {
    if (this.error) return 0;
    return parse.call(this, buf);
  };

  parser._parseLength = function guardedParseLength(this: ParserLike): boolean {
    const ok = proto._parseLength.call(this);
    if (ok) {
      const max = maxRemainingLength(limits(), this.packet.cmd === 'connect');
      if (this.packet.length > max) {
        this._emitError(violation('too-large', PACKET_TOO_LARGE));
        return false;
      }
    }
    return ok;
  };

  parser._parseString = function guardedParseString(this: ParserLike): string | null {
    const start = this._pos + 2;
    const s = proto._parseString.call(this);
    if (s === null) return s;
    // Valid UTF-8 never decodes to U+FFFD unless it encoded U+FFFD itself: check the bytes only then.
    if (s.includes('\uFFFD') && !isUtf8(this._list.slice(start, this._pos))) {
      this._emitError(violation('invalid-utf8', 'ill-formed UTF-8 in a string field [MQTT-1.5.3-1]'));
      return null;
    }
    if (s.includes('\u0000')) {
      this._emitError(violation('null-character', 'U+0000 in a string field [MQTT-1.5.3-2]'));
      return null;
    }
    return s;
  };

  parser._parseMessageId = function guardedParseMessageId(this: ParserLike): boolean {
    if (!proto._parseMessageId.call(this)) return false;
    if (this.packet.messageId === 0) {
      this._emitError(violation('packet-id-zero', 'packet identifier 0 [MQTT-2.3.1-1]'));
      return false;
    }
    return true;
  };

  parser._parsePublish = function guardedParsePublish(this: ParserLike): unknown {
    const r = proto._parsePublish.call(this);
    if (this.error) return r;
    // MQTT 5: an empty topic with a Topic Alias names the aliased topic [MQTT-3.3.2-12]
    // (src/ingest/mqtt5/properties.ts resolves it and checks the alias).
    const aliased = this.packet.topic === '' && this.packet.properties?.topicAlias !== undefined;
    const problem = aliased ? null : topicNameProblem(this.packet.topic ?? '');
    if (problem !== null) this._emitError(violation('invalid-topic', problem));
    return r;
  };

  parser._parseConnect = function guardedParseConnect(this: ParserLike): unknown {
    const r = proto._parseConnect.call(this);
    if (this.error) return r;
    const p = this.packet;
    if (p.will && p.will.qos > 2) {
      this._emitError(violation('will-invalid', 'will QoS 3 [MQTT-3.1.2-14]'));
    } else if (p.will && topicNameProblem(p.will.topic) !== null) {
      this._emitError(violation('will-invalid', `will topic: ${topicNameProblem(p.will.topic)}`));
    } else if (p.protocolVersion !== 5 && p.password !== undefined && p.username === undefined) {
      this._emitError(violation('protocol-error', 'password without a user name [MQTT-3.1.2-22]'));
    }
    return r;
  };

  parser._newPacket = function guardedNewPacket(this: ParserLike): boolean {
    const cmd = this.packet.cmd;
    if (cmd === 'connect') connects++;
    if (cmd !== undefined && connects === 0) {
      this._emitError(violation('protocol-error', `${cmd} before CONNECT [MQTT-3.1.0-1]`));
      return false;
    }
    if (cmd === 'connect' && connects > 1) {
      this._emitError(violation('protocol-error', 'a second CONNECT [MQTT-3.1.0-2]'));
      return false;
    }
    return proto._newPacket.call(this);
  };
}

/** The refusal reason of a parser error (ours carry it; mqtt-packet's are sorted by message). */
export function violationReason(err: Error): RefusalReason {
  if (isOutpostError(err, 'INGEST_REFUSED') && err.fields.reason !== undefined) {
    return err.fields.reason as RefusalReason;
  }
  if (/protocol version|protocolId/i.test(err.message)) return 'protocol-version';
  return 'protocol-error';
}

/**
 * Sorts a connection error aedes reports: "counted" (our own refusal, counted where it happened),
 * "noise" (the peer went away, keepalive or drain timeouts), or a refusal reason to count.
 */
export function sortErrorReason(err: Error): RefusalReason | 'counted' | 'noise' {
  if (isOutpostError(err, 'INGEST_REFUSED')) return 'counted';
  if ((err as { outpostCounted?: boolean }).outpostCounted === true) return 'counted';
  if ((err as NodeJS.ErrnoException).code !== undefined) return 'noise'; // ECONNRESET, EPIPE, ...
  // The server closing a silent client [MQTT-3.1.2-24] or a socket that never sent CONNECT (slowloris).
  if (/keep alive timeout/i.test(err.message)) return 'keepalive-timeout';
  if (/connect did not arrive/i.test(err.message)) return 'connect-timeout';
  if (/connection closed|drain timeout|write after end/i.test(err.message)) return 'noise';
  // CONNACK refusals are counted in the hooks; aedes reports them again here.
  if ('errorCode' in err || 'returnCode' in err) return 'counted';
  return 'protocol-error';
}
