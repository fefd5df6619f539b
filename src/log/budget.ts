/**
 * Disk budget. `maxBytes` is checked against the bytes of pages in use inside the LMDB data file
 * (branch, leaf and overflow pages of every sub-database plus the free list) rather than the file
 * size: LMDB never shrinks its file, it reuses freed pages, so a file that once reached the budget
 * must still accept appends after retention freed pages. The file size and the filesystem's free
 * space (`minFreeBytes`) are reported too; low free space also makes the log full.
 *
 * Page counts come from mdb_stat (cheap) at most every REFRESH_MS; in between, appended and deleted
 * bytes adjust an estimate so a burst cannot overshoot the budget by more than one refresh interval.
 */
import { statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Core } from './state.ts';
import { usedPages } from './store.ts';

const REFRESH_MS = 200;

export class Budget {
  #core: Core;
  #at = 0;
  #usedBytes = 0;
  #fileBytes = 0;
  #diskFree = 0;
  /** Bytes appended minus bytes deleted since the last refresh. */
  #delta = 0;
  /** Size of the last append refused with LOG_FULL (0 after any admitted append). */
  #refused = 0;

  constructor(core: Core) {
    this.#core = core;
    this.refresh();
  }

  refresh(): void {
    const { pages, pageSize } = usedPages(this.#core.dbs, this.#core.stores.values());
    this.#usedBytes = pages * pageSize;
    this.#fileBytes = statSync(join(this.#core.dbs.path, 'data.mdb')).size;
    const fs = statfsSync(this.#core.dataDir);
    this.#diskFree = fs.bavail * fs.bsize;
    this.#delta = 0;
    this.#at = Date.now();
  }

  #maybeRefresh(): void {
    if (Date.now() - this.#at >= REFRESH_MS) this.refresh();
  }

  noteAppended(bytes: number): void {
    this.#delta += bytes;
    this.#refused = 0;
  }
  noteRefused(bytes: number): void {
    this.#refused = bytes;
  }
  noteDeleted(bytes: number): void {
    this.#delta -= bytes;
  }

  /** Bytes by which an append of `incoming` bytes would exceed the budget (0 = fits). */
  overBy(incoming: number): number {
    this.#maybeRefresh();
    const used = Math.max(0, this.#usedBytes + this.#delta);
    const overBudget = used + incoming - this.#core.maxBytes;
    const overDisk = this.#core.minFreeBytes - (this.#diskFree - Math.max(0, this.#delta) - incoming);
    return Math.max(0, overBudget, overDisk);
  }

  snapshot(): { fileBytes: number; usedBytes: number; diskFreeBytes: number; full: boolean } {
    // Full = the last refused append would still be refused (or not even one byte fits).
    const full = this.overBy(Math.max(1, this.#refused)) > 0;
    return {
      fileBytes: this.#fileBytes,
      usedBytes: Math.max(0, this.#usedBytes + this.#delta),
      diskFreeBytes: this.#diskFree,
      full,
    };
  }
}
