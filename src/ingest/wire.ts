/**
 * Wire-level guards around aedes' MQTT parser (mqtt-packet) and the sorting of connection errors.
 *
 * mqtt-packet buffers a whole packet before parsing it, so a client announcing a 200 MiB PUBLISH
 * would make us hold 200 MiB. We check the Remaining Length (MQTT 3.1.1 §2.2.3) as soon as it is
 * decoded and close the connection when it exceeds what the limits allow for any packet.
 */
import { isOutpostError } from '../errors.ts';
import type { RefusalReason } from './metrics.ts';

interface ParserLike {
  packet: { length: number; cmd?: string };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

/** Slack for a PUBLISH's fixed fields (topic length prefix, packet id) and CONNECT headers. */
const PACKET_OVERHEAD = 64;

export const PACKET_TOO_LARGE = 'packet exceeds the configured size limit';

export function limitPacketSize(
  client: unknown,
  limits: () => { maxPayloadBytes: number; maxTopicLength: number; maxClientIdLength: number },
): void {
  const parser = (client as { _parser?: ParserLike })._parser;
  if (!parser || typeof parser._parseLength !== 'function') return;
  const parseLength = parser._parseLength;
  parser._parseLength = function guardedParseLength(this: ParserLike): boolean {
    const ok = parseLength.call(this);
    if (ok) {
      const l = limits();
      // CONNECT carries client id, will topic + message, user name and password.
      const max =
        l.maxPayloadBytes +
        l.maxTopicLength +
        PACKET_OVERHEAD +
        (this.packet.cmd === 'connect' ? l.maxClientIdLength + 1024 : 0);
      if (this.packet.length > max) {
        this._emitError(new Error(PACKET_TOO_LARGE));
        return false;
      }
    }
    return ok;
  };
}

/**
 * Sorts a connection error aedes reports: "counted" (our own refusal, counted where it happened),
 * "noise" (the peer went away, keepalive or drain timeouts), or a refusal reason to count.
 */
export function sortErrorReason(err: Error): RefusalReason | 'counted' | 'noise' {
  if (isOutpostError(err, 'INGEST_REFUSED')) return 'counted';
  if (err.message === PACKET_TOO_LARGE) return 'too-large';
  if ((err as NodeJS.ErrnoException).code !== undefined) return 'noise'; // ECONNRESET, EPIPE, ...
  if (
    /connection closed|keep alive timeout|drain timeout|connect did not arrive|write after end/i.test(
      err.message,
    )
  ) {
    return 'noise';
  }
  // CONNACK refusals are counted in the authenticate hook; aedes reports them again here.
  if ('errorCode' in err || 'returnCode' in err) return 'counted';
  return 'protocol-error';
}
