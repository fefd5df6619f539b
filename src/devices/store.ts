/**
 * The registry's LMDB layout, in the log's environment (PartitionedLog.openStore):
 *
 *   devices          key: device id (string)      value: device record v1 (format/device-record-v1.ts)
 *   devices.cn       key: certificate CN (string)  value: UTF-8 device id (secondary index of certCn)
 *   devices.changes  key: change seq (uint32)      value: UTF-8 device id changed by that write
 *
 * Every write is one LMDB write transaction (exclusive across processes) that also appends to
 * `devices.changes`, so a process polling the highest seq sees changes made by any process (the
 * CLI while the service runs). The change log keeps the last CHANGELOG_KEEP entries.
 * Reads always go to LMDB (no cache): lmdb-js renews its read snapshot every event-loop turn.
 */
import type { Database } from 'lmdb';
import { OutpostError } from '../errors.ts';
import type { PartitionedLog } from '../log/index.ts';
import { type DeviceRecord, decodeDeviceRecord, encodeDeviceRecord } from './format/device-record-v1.ts';

export type StoreHost = Pick<PartitionedLog, 'openStore' | 'flushed'>;

export const CHANGELOG_KEEP = 1024;

export interface Change {
  seq: number;
  deviceId: string;
}

type Outcome =
  | { ok: true; seq: number }
  | { ok: false; code: 'DEVICE_EXISTS' | 'DEVICE_UNKNOWN'; reason: string };

export class DeviceStore {
  readonly #host: StoreHost;
  readonly #records: Database<Buffer, string>;
  readonly #cn: Database<Buffer, string>;
  readonly #changes: Database<Buffer, number>;

  readonly #onCommit: (seq: number) => void;

  /** `onCommit` runs synchronously right after each local write commits (before it is flushed). */
  constructor(host: StoreHost, onCommit: (seq: number) => void = () => {}) {
    this.#host = host;
    this.#onCommit = onCommit;
    this.#records = host.openStore<string, Buffer>('devices', { encoding: 'binary' });
    this.#cn = host.openStore<string, Buffer>('devices.cn', { encoding: 'binary' });
    this.#changes = host.openStore<number, Buffer>('devices.changes', {
      encoding: 'binary',
      keyEncoding: 'uint32',
    });
  }

  get(id: string): DeviceRecord | undefined {
    const bytes = this.#records.get(id);
    return bytes === undefined ? undefined : decodeDeviceRecord(bytes, id);
  }

  list(): DeviceRecord[] {
    const out: DeviceRecord[] = [];
    for (const { key, value } of this.#records.getRange()) out.push(decodeDeviceRecord(value, key));
    return out;
  }

  count(): number {
    return this.#records.getKeysCount();
  }

  /** Device id whose certCn is `cn`. */
  idForCertCn(cn: string): string | undefined {
    const bytes = this.#cn.get(cn);
    return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');
  }

  lastSeq(): number {
    for (const key of this.#changes.getKeys({ reverse: true, limit: 1 })) return key;
    return 0;
  }

  /** Changes with seq > `after`, oldest first. */
  changesSince(after: number, limit = CHANGELOG_KEEP): Change[] {
    const out: Change[] = [];
    for (const { key, value } of this.#changes.getRange({ start: after + 1, limit })) {
      out.push({ seq: key, deviceId: Buffer.from(value).toString('utf8') });
    }
    return out;
  }

  /** Inserts a new device; DEVICE_EXISTS if the id (or its certCn) is taken. Returns the change seq. */
  insert(rec: DeviceRecord): Promise<number> {
    return this.#write(rec.id, () => {
      if (this.#records.doesExist(rec.id)) return { ok: false, code: 'DEVICE_EXISTS', reason: 'id' };
      if (rec.certCn !== null) {
        const owner = this.#cn.get(rec.certCn);
        if (owner !== undefined) return { ok: false, code: 'DEVICE_EXISTS', reason: 'certCn' };
      }
      this.#records.putSync(rec.id, encodeDeviceRecord(rec));
      if (rec.certCn !== null) this.#cn.putSync(rec.certCn, Buffer.from(rec.id, 'utf8'));
      return { ok: true, seq: this.#appendChange(rec.id) };
    });
  }

  /** Replaces a device through `fn`; DEVICE_UNKNOWN if absent. certCn must not change. */
  update(id: string, fn: (rec: DeviceRecord) => DeviceRecord): Promise<number> {
    return this.#write(id, () => {
      const bytes = this.#records.get(id);
      if (bytes === undefined) return { ok: false, code: 'DEVICE_UNKNOWN', reason: 'id' };
      const next = fn(decodeDeviceRecord(bytes, id));
      this.#records.putSync(id, encodeDeviceRecord(next));
      return { ok: true, seq: this.#appendChange(id) };
    });
  }

  remove(id: string): Promise<number> {
    return this.#write(id, () => {
      const bytes = this.#records.get(id);
      if (bytes === undefined) return { ok: false, code: 'DEVICE_UNKNOWN', reason: 'id' };
      const rec = decodeDeviceRecord(bytes, id);
      this.#records.removeSync(id);
      if (rec.certCn !== null) this.#cn.removeSync(rec.certCn);
      return { ok: true, seq: this.#appendChange(id) };
    });
  }

  /** Inside a write transaction: next seq = highest + 1; prunes entries older than CHANGELOG_KEEP. */
  #appendChange(id: string): number {
    const seq = this.lastSeq() + 1;
    this.#changes.putSync(seq, Buffer.from(id, 'utf8'));
    if (seq > CHANGELOG_KEEP) this.#changes.removeSync(seq - CHANGELOG_KEEP);
    return seq;
  }

  async #write(id: string, body: () => Outcome): Promise<number> {
    // transactionSync: one exclusive LMDB write transaction (the lock spans processes), so
    // check-then-write and the seq allocation cannot interleave with another writer.
    const outcome = this.#records.transactionSync(body);
    if (!outcome.ok) {
      const message =
        outcome.code === 'DEVICE_EXISTS'
          ? outcome.reason === 'certCn'
            ? `another device already uses that certificate CN (device ${id} not added)`
            : `device ${id} already exists`
          : `no device ${id}`;
      throw new OutpostError(outcome.code, message, { deviceId: id, reason: outcome.reason });
    }
    this.#onCommit(outcome.seq);
    await this.#host.flushed();
    return outcome.seq;
  }
}
