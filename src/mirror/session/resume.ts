/**
 * Where a partition link resumes, decided on every (re)start of a session, before anything is sent:
 *
 * 1. read the remote partition's [start, end) (ListOffsets);
 * 2. scan the remote records the index does not know yet (from the index's last remote end, or the
 *    remote start) up to the end, take each one's `outpost.edge.offset` header and index it: these
 *    landed but their ack never reached us (crash, timeout, broken connection);
 * 3. resume right after the edge offset of the last record we wrote there; when the remote partition
 *    holds nothing of ours, resume from the local cursor (the records below it were acknowledged
 *    earlier and may since have been deleted remotely by retention).
 *
 * Records without our provenance headers (another writer) are skipped and counted. Records of ours
 * whose edge offset already landed earlier on the remote are DUPLICATE copies (landed.ts): they are
 * returned (the caller counts and logs them), recorded apart in the index, and never resent.
 */

import { HEADER_EDGE_ID, HEADER_EDGE_OFFSET } from '../naming.ts';
import { classifyLanded, type LandedRecord } from '../offsets/landed.ts';
import type { IndexRange, OffsetIndex } from '../offsets/offset-index.ts';
import type { RemoteRecord, RemoteSession } from './remote.ts';

/** Remote records scanned at the end of a partition the index knows nothing about. */
export const NO_INDEX_SCAN = 10_000;

export interface ResumePoint {
  /** Next edge offset to send. */
  edgeNext: number | undefined;
  remoteStart: number;
  remoteEnd: number;
  /** Remote records written by us that the index did not have (acked to Kafka, not to us). */
  recovered: number;
  /** Remote records without our headers. */
  foreign: number;
  /** Duplicate copies found on the tail (edge offsets that had already landed), recorded in the index. */
  duplicates: IndexRange[];
  /** Highest edge offset landed on the remote partition as far as we know (-1 when none). */
  maxEdge: number;
}

export function edgeOffsetOf(r: RemoteRecord, edgeId: string): number | undefined {
  let id: string | undefined;
  let off: string | undefined;
  for (const [k, v] of r.headers) {
    if (k === HEADER_EDGE_ID) id = v.toString('utf8');
    else if (k === HEADER_EDGE_OFFSET) off = v.toString('utf8');
  }
  if (id !== edgeId || off === undefined || !/^\d+$/.test(off)) return undefined;
  return Number(off);
}

export async function discoverResume(opts: {
  session: RemoteSession;
  index: OffsetIndex;
  cluster: string;
  edgeId: string;
  topic: string;
  remoteTopic: string;
  partition: number;
}): Promise<ResumePoint> {
  const { session, index, cluster, edgeId, topic, remoteTopic, partition } = opts;
  const offs = (await session.offsets(remoteTopic, [partition])).get(partition) ?? { start: 0, end: 0 };
  const last = index.last(cluster, topic, partition);
  const lastRemoteEnd = index.remoteEnd(cluster, topic, partition);
  // With an index, scan only what it lacks (at most the batches that were in flight). Without one
  // (a new data dir against an old remote topic), a bounded window at the end is enough to resume.
  let from = last ? Math.max(offs.start, lastRemoteEnd) : Math.max(offs.start, offs.end - NO_INDEX_SCAN);
  let recovered = 0;
  let foreign = 0;
  const duplicates: IndexRange[] = [];
  let maxEdge = last && lastRemoteEnd <= offs.end ? last.edgeStart + last.count - 1 : -1;
  if (lastRemoteEnd > offs.end) {
    // The remote partition is shorter than what it acknowledged (topic recreated, unclean election):
    // trust the remote, rescan what is there.
    from = Math.max(offs.start, offs.end - NO_INDEX_SCAN);
  }
  for await (const records of session.read(remoteTopic, partition, from, offs.end)) {
    const landed: LandedRecord[] = records.map((r) => ({ remote: r.offset, edge: edgeOffsetOf(r, edgeId) }));
    const c = classifyLanded(landed, maxEdge);
    maxEdge = c.maxEdge;
    foreign += c.foreign;
    for (const run of c.first) {
      if (await index.record(cluster, topic, partition, run)) recovered += run.count;
    }
    for (const run of c.duplicates) {
      await index.recordDuplicates(cluster, topic, partition, run);
      duplicates.push(run);
    }
  }
  return {
    edgeNext: maxEdge < 0 ? undefined : maxEdge + 1,
    remoteStart: offs.start,
    remoteEnd: offs.end,
    recovered,
    foreign,
    duplicates,
    maxEdge,
  };
}
