/**
 * Minimal Kafka protocol Struct primitives used by MirrorMaker 2's internal records
 * (org.apache.kafka.common.protocol.types.Type): big-endian two's complement INT16/INT32/INT64,
 * and STRING = INT16 length + UTF-8 bytes (never null here, at most 32,767 bytes).
 */
import { OutpostError } from '../../errors.ts';

export class StructWriter {
  readonly #parts: Buffer[] = [];

  int16(v: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeInt16BE(v);
    this.#parts.push(b);
    return this;
  }

  int32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(v);
    this.#parts.push(b);
    return this;
  }

  int64(v: number | bigint): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(BigInt(v));
    this.#parts.push(b);
    return this;
  }

  string(s: string): this {
    const bytes = Buffer.from(s, 'utf8');
    if (bytes.length > 0x7fff) {
      throw new OutpostError('RECORD_TOO_LARGE', `STRING of ${bytes.length} bytes exceeds 32767`);
    }
    this.int16(bytes.length);
    this.#parts.push(bytes);
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

export class StructReader {
  readonly #buf: Buffer;
  #pos = 0;
  readonly #what: string;

  constructor(buf: Buffer, what: string) {
    this.#buf = buf;
    this.#what = what;
  }

  #need(n: number): void {
    if (this.#pos + n > this.#buf.length) {
      throw new OutpostError('RECORD_CORRUPT', `${this.#what}: truncated at byte ${this.#pos}`);
    }
  }

  int16(): number {
    this.#need(2);
    const v = this.#buf.readInt16BE(this.#pos);
    this.#pos += 2;
    return v;
  }

  int32(): number {
    this.#need(4);
    const v = this.#buf.readInt32BE(this.#pos);
    this.#pos += 4;
    return v;
  }

  /** INT64 as a JS number; offsets and epoch-ms timestamps stay below 2^53. */
  int64(): number {
    this.#need(8);
    const v = this.#buf.readBigInt64BE(this.#pos);
    this.#pos += 8;
    return Number(v);
  }

  string(): string {
    const len = this.int16();
    if (len < 0) throw new OutpostError('RECORD_CORRUPT', `${this.#what}: null STRING`);
    this.#need(len);
    const s = this.#buf.toString('utf8', this.#pos, this.#pos + len);
    this.#pos += len;
    return s;
  }

  /** Kafka's Struct parser ignores trailing bytes only for newer schema versions; we refuse them. */
  end(): void {
    if (this.#pos !== this.#buf.length) {
      throw new OutpostError(
        'RECORD_CORRUPT',
        `${this.#what}: ${this.#buf.length - this.#pos} trailing bytes`,
      );
    }
  }
}

/** Readers reject any schema version but 0 (Checkpoint.VERSION, Heartbeat.VERSION). */
export function expectVersion0(version: number, what: string): void {
  if (version !== 0) {
    throw new OutpostError('FORMAT_UNSUPPORTED', `${what}: unsupported version ${version} (only 0)`);
  }
}
