/**
 * Named durable cursors per partition (log.cursors, key [topic, partition, name]). Mirror links
 * keep their position here; protected cursors hold retention back (retention.ts).
 */
import { OutpostError } from '../errors.ts';
import type { LogDbs } from './store.ts';
import type { CursorInfo } from './types.ts';

export function getCursor(
  dbs: LogDbs,
  name: string,
  topic: string,
  partition: number,
): CursorInfo | undefined {
  const c = dbs.cursors.get([topic, partition, name]);
  return c === undefined ? undefined : { name, topic, partition, offset: c.offset, protected: c.protected };
}

/** Durable: resolves once the cursor is committed and fsynced. */
export async function setCursor(
  dbs: LogDbs,
  name: string,
  topic: string,
  partition: number,
  offset: number,
  isProtected: boolean,
): Promise<void> {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new OutpostError('USAGE', `cursor offset must be a non-negative integer, got ${offset}`, {
      topic,
      partition,
    });
  }
  await dbs.cursors.put([topic, partition, name], { offset, protected: isProtected });
  await dbs.cursors.flushed;
}

export async function deleteCursor(
  dbs: LogDbs,
  name: string,
  topic: string,
  partition: number,
): Promise<void> {
  await dbs.cursors.remove([topic, partition, name]);
  await dbs.cursors.flushed;
}

export function listCursors(dbs: LogDbs): CursorInfo[] {
  const out: CursorInfo[] = [];
  for (const { key, value } of dbs.cursors.getRange()) {
    const [topic, partition, name] = key;
    out.push({ name, topic, partition, offset: value.offset, protected: value.protected });
  }
  return out;
}
