import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';

const MAX_TAIL_BYTES = 64 * 1024;

/** Size of a file in bytes (0 when missing): a mark to read only what a later process appended. */
export function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** The last `lines` lines of a file written after byte `from` (at most the last 64 KiB are read). */
export function readTail(path: string, lines: number, from = 0): string {
  if (!existsSync(path)) return '(no file)';
  const size = statSync(path).size;
  const start = Math.max(from, size - MAX_TAIL_BYTES);
  const length = Math.max(0, size - start);
  const buf = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buf, 0, length, start);
  } finally {
    closeSync(fd);
  }
  const text = buf.toString('utf8').trimEnd();
  if (text === '') return '(empty)';
  return `\n${text.split('\n').slice(-lines).join('\n')}`;
}
