/**
 * Reads the start of a connection's first packet to learn its protocol level, then gives every byte
 * read back to the stream (`unshift`): level 5 (and above) goes to Outpost's MQTT 5 handler
 * (src/ingest/mqtt5/), everything else (3.1, 3.1.1, garbage) to aedes exactly as before.
 *
 * The bytes looked at (MQTT 5 §3.1.2.1-2, MQTT 3.1.1 §3.1.2.1-2): the fixed header (type 1 = CONNECT
 * in the high nibble of byte 0), the Remaining Length (1-4 bytes, §1.5.5), the protocol name as a
 * two-byte length and "MQTT", then the protocol level byte. At most 1 + 4 + 2 + 6 + 1 bytes.
 */
import type { Duplex } from 'node:stream';

export type Sniffed = 'mqtt5' | 'other';

/** Longest protocol name we wait for ("MQIsdp", MQTT 3.1). */
const MAX_NAME = 6;

/** The protocol of a connection whose first bytes are `buf`, or null while more bytes are needed. */
export function sniffLevel(buf: Buffer): Sniffed | null {
  if (buf.length === 0) return null;
  if (buf[0] !== 0x10) return 'other'; // not a CONNECT: aedes refuses it [MQTT-3.1.0-1]
  let i = 1;
  for (; ; i++) {
    if (i >= buf.length) return null;
    if (i > 4) return 'other'; // malformed Remaining Length
    if (((buf[i] as number) & 0x80) === 0) break;
  }
  const nameAt = i + 1;
  if (buf.length < nameAt + 2) return null;
  const nameLength = buf.readUInt16BE(nameAt);
  if (nameLength > MAX_NAME) return 'other';
  const levelAt = nameAt + 2 + nameLength;
  if (buf.length <= levelAt) return null;
  const name = buf.toString('latin1', nameAt + 2, levelAt);
  // Levels above 5 are newer than anything we speak: the MQTT 5 handler answers them with CONNACK
  // 0x84 (unsupported protocol version) [MQTT-3.1.2-2], in the format the newest level we know uses.
  return name === 'MQTT' && (buf[levelAt] as number) >= 5 ? 'mqtt5' : 'other';
}

/**
 * Calls `done` once with the protocol, after the bytes read are back in the stream; `onTimeout` if
 * nothing decisive arrives within `timeoutMs` (a silent socket, as aedes' connectTimeout would).
 * Nothing is called when the stream closes first.
 */
export function sniffProtocol(
  stream: Duplex,
  timeoutMs: number,
  done: (protocol: Sniffed) => void,
  onTimeout: () => void,
): void {
  const chunks: Buffer[] = [];
  let settled = false;
  const finish = (): void => {
    settled = true;
    clearTimeout(timer);
    stream.removeListener('readable', onReadable);
    stream.removeListener('close', onClose);
  };
  const onReadable = (): void => {
    for (let chunk = stream.read() as Buffer | null; chunk !== null; chunk = stream.read() as Buffer | null) {
      chunks.push(chunk);
    }
    const buf = Buffer.concat(chunks);
    const protocol = sniffLevel(buf);
    if (protocol === null || settled) return;
    finish();
    if (buf.length > 0) stream.unshift(buf);
    done(protocol);
  };
  const onClose = (): void => finish();
  const timer = setTimeout(() => {
    if (settled) return;
    finish();
    onTimeout();
  }, timeoutMs);
  timer.unref();
  stream.on('readable', onReadable);
  stream.once('close', onClose);
}
