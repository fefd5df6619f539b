import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type IndexDb, OffsetIndex } from '../../src/mirror/offsets/offset-index.ts';
import { OffsetSyncQueue, PartitionSyncState } from '../../src/mirror/offsets/offset-syncs.ts';

function tempIndex(): { index: OffsetIndex; reopen: () => OffsetIndex } {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-mirror-index-'));
  let env = open({ path: dir });
  const db = () =>
    env.openDB({
      name: 'mirror.index',
      keyEncoding: 'ordered-binary',
      encoding: 'msgpack',
    }) as unknown as IndexDb;
  onTestFinished(async () => {
    await env.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    index: new OffsetIndex(db()),
    reopen: () => {
      void env.close();
      env = open({ path: dir });
      return new OffsetIndex(db());
    },
  };
}

describe('mirror offset index (LMDB)', () => {
  it('translates records exactly both ways and survives a reopen', async () => {
    const { index, reopen } = tempIndex();
    await index.record('east', 't', 0, { edgeStart: 0, remoteStart: 10, count: 5 });
    await index.record('east', 't', 0, { edgeStart: 5, remoteStart: 15, count: 5 }); // coalesced
    await index.record('east', 't', 0, { edgeStart: 12, remoteStart: 30, count: 3 }); // edge gap + remote gap
    await index.record('east', 't', 1, { edgeStart: 0, remoteStart: 0, count: 2 });
    expect(index.ranges('east', 't', 0)).toEqual([
      { edgeStart: 0, remoteStart: 10, count: 10 },
      { edgeStart: 12, remoteStart: 30, count: 3 },
    ]);
    const again = reopen();
    for (let e = 0; e < 10; e++) {
      expect(again.edgeToRemote('east', 't', 0, e)).toBe(10 + e);
      expect(again.remoteToEdge('east', 't', 0, 10 + e)).toBe(e);
    }
    expect(again.edgeToRemote('east', 't', 0, 10)).toBeUndefined();
    expect(again.edgeToRemote('east', 't', 0, 13)).toBe(31);
    expect(again.remoteToEdge('east', 't', 0, 25)).toBeUndefined();
    expect(again.remoteToEdge('east', 't', 0, 32)).toBe(14);
    expect(again.edgeToRemote('east', 't', 0, 15)).toBeUndefined();
    expect(again.edgeToRemote('east', 't', 1, 1)).toBe(1);
    expect(again.edgeToRemote('west', 't', 0, 1)).toBeUndefined();
  });

  it('translates positions to the next indexed record or the end', async () => {
    const { index } = tempIndex();
    await index.record('east', 't', 0, { edgeStart: 0, remoteStart: 10, count: 10 });
    await index.record('east', 't', 0, { edgeStart: 12, remoteStart: 30, count: 3 });
    expect(index.remotePositionToEdge('east', 't', 0, 10)).toBe(0);
    expect(index.remotePositionToEdge('east', 't', 0, 20)).toBe(12);
    expect(index.remotePositionToEdge('east', 't', 0, 33)).toBe(15);
    expect(index.remotePositionToEdge('east', 't', 0, 5)).toBe(0);
    expect(index.edgePositionToRemote('east', 't', 0, 10)).toBe(30);
    expect(index.edgePositionToRemote('east', 't', 0, 15)).toBe(33);
    expect(index.edgePositionToRemote('west', 't', 0, 15)).toBeUndefined();
  });

  it('skips the already-indexed part of a re-recorded range', async () => {
    const { index } = tempIndex();
    await index.record('east', 't', 0, { edgeStart: 0, remoteStart: 0, count: 10 });
    expect(await index.record('east', 't', 0, { edgeStart: 5, remoteStart: 5, count: 5 })).toBe(false);
    expect(await index.record('east', 't', 0, { edgeStart: 5, remoteStart: 5, count: 8 })).toBe(true);
    expect(index.ranges('east', 't', 0)).toEqual([{ edgeStart: 0, remoteStart: 0, count: 13 }]);
  });

  it('prunes ranges wholly below the new start offset and keeps partial ones', async () => {
    const { index } = tempIndex();
    await index.record('east', 't', 0, { edgeStart: 0, remoteStart: 0, count: 5 });
    await index.record('east', 't', 0, { edgeStart: 6, remoteStart: 5, count: 5 });
    await index.record('east', 't', 0, { edgeStart: 12, remoteStart: 10, count: 5 });
    expect(await index.prune('east', 't', 0, 8)).toBe(1);
    expect(index.ranges('east', 't', 0).map((r) => r.edgeStart)).toEqual([6, 12]);
    expect(index.remoteToEdge('east', 't', 0, 2)).toBeUndefined();
    expect(index.remoteToEdge('east', 't', 0, 6)).toBe(7);
    // The latest range stays even when retention passed it: resume needs the remote end.
    expect(await index.prune('east', 't', 0, 100)).toBe(1);
    expect(index.last('east', 't', 0)).toEqual({ edgeStart: 12, remoteStart: 10, count: 5 });
  });
});

describe('mirror offset syncs (MM2 emission rules)', () => {
  it('syncs the first record, upstream gaps, truncation and every offset.lag.max records', () => {
    const s = new PartitionSyncState(3);
    const fired = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => s.update(i, 100 + i));
    // first record; then downstream - (last + 1) >= 3 at 104 (100+1+3) and 108
    expect(fired).toEqual([true, false, false, false, true, false, false, false]);
    expect(s.update(9, 108)).toBe(true); // upstream gap
    expect(s.update(10, 50)).toBe(true); // truncated downstream
  });

  it('queues immediate syncs and promotes the delayed latest one', () => {
    const q = new OffsetSyncQueue(100);
    q.acked('t', 0, 0, 0, 50);
    expect(q.drain()).toEqual([{ topic: 't', partition: 0, upstreamOffset: 0, downstreamOffset: 0 }]);
    expect(q.drain()).toEqual([]);
    q.promoteDelayed();
    expect(q.drain()).toEqual([{ topic: 't', partition: 0, upstreamOffset: 49, downstreamOffset: 49 }]);
  });

  it('keeps every immediate sync of one large acknowledged batch', () => {
    const q = new OffsetSyncQueue(100);
    q.acked('t', 1, 1000, 5000, 250);
    expect(q.drain().map((s) => [s.upstreamOffset, s.downstreamOffset])).toEqual([
      [1000, 5000],
      [1101, 5101],
      [1202, 5202],
    ]);
  });
});

describe('mirror offset index duplicate runs', () => {
  it('keeps duplicate runs apart from translation, counts them in the remote end, and prunes them with retention', async () => {
    const { index, reopen } = tempIndex();
    await index.record('east', 't', 0, { edgeStart: 0, remoteStart: 0, count: 150 });
    await index.recordDuplicates('east', 't', 0, { edgeStart: 0, remoteStart: 150, count: 100 });
    expect(index.remoteEnd('east', 't', 0)).toBe(250);
    await index.record('east', 't', 0, { edgeStart: 150, remoteStart: 250, count: 50 });
    const again = reopen();
    expect(again.remoteEnd('east', 't', 0)).toBe(300);
    expect(again.duplicates('east', 't', 0)).toEqual([{ edgeStart: 0, remoteStart: 150, count: 100 }]);
    expect(again.edgeToRemote('east', 't', 0, 10)).toBe(10); // the first copy
    expect(again.remoteToEdge('east', 't', 0, 160)).toBeUndefined(); // a duplicate copy
    expect(again.remotePositionToEdge('east', 't', 0, 160)).toBe(150); // past it: the next first copy
    expect(again.edgeToRemote('east', 't', 0, 160)).toBe(260);
    expect(again.remoteEnd('west', 't', 0)).toBe(0);
    // Retention moved the edge start past edge 100: the duplicate run (edge 0..99) goes.
    await again.prune('east', 't', 0, 100);
    expect(again.duplicates('east', 't', 0)).toEqual([]);
    expect(again.remoteEnd('east', 't', 0)).toBe(300);
  });
});
