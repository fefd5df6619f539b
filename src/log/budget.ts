/**
 * Disk budget. `maxBytes` is checked against the bytes of pages in use inside the LMDB data file
 * (branch, leaf and overflow pages of every sub-database plus the free list) rather than the file
 * size: LMDB never shrinks its file, it reuses freed pages, so a file that once reached the budget
 * must still accept appends after retention freed pages. The file size and the filesystem's free
 * space (`minFreeBytes`) are reported too; low free space also makes the log full.
 *
 * Page counts come from mdb_stat (cheap) at most every REFRESH_MS; in between, appended and deleted
 * record bytes adjust an estimate, scaled by the page overhead measured at the last refresh (pages
 * in use / record bytes stored; B-tree pages are rarely full), so a burst cannot overshoot the
 * budget by much more than one refresh interval's worth of appends.
 */
import { statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Core } from './state.ts';
import { usedPages } from './store.ts';

const REFRESH_MS = 50;
/** Page overhead assumed before enough records are stored to measure it. */
const INITIAL_OVERHEAD = 1.5;
const MEASURE_MIN_BYTES = 64 * 1024;

export class Budget {
  #core: Core;
  #at = 0;
  #usedBytes = 0;
  #fileBytes = 0;
  #diskFree = 0;
  /** Bytes appended minus bytes deleted since the last refresh. */
  #delta = 0;
  /** Page bytes per record byte, measured at refresh. */
  overhead = INITIAL_OVERHEAD;
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
    let recordBytes = 0;
    for (const t of this.#core.topics.values()) for (const p of t.parts) recordBytes += p.bytes;
    if (recordBytes >= MEASURE_MIN_BYTES) {
      this.overhead = Math.min(4, Math.max(1, this.#usedBytes / recordBytes));
    }
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
    const used = Math.max(0, this.#usedBytes + this.#delta * this.overhead);
    const overBudget = used + incoming * this.overhead - this.#core.maxBytes;
    const overDisk = this.#core.minFreeBytes - (this.#diskFree - Math.max(0, this.#delta) - incoming);
    return Math.max(0, overBudget, overDisk);
  }

  snapshot(): { fileBytes: number; usedBytes: number; diskFreeBytes: number; full: boolean } {
    // Full = the last refused append would still be refused (or not even one byte fits).
    const full = this.overBy(Math.max(1, this.#refused)) > 0;
    return {
      fileBytes: this.#fileBytes,
      usedBytes: Math.round(Math.max(0, this.#usedBytes + this.#delta * this.overhead)),
      diskFreeBytes: this.#diskFree,
      full,
    };
  }
}
