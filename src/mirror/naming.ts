/**
 * Names, as MirrorMaker 2's DefaultReplicationPolicy spells them (separator "."), and the provenance
 * headers Outpost adds to every mirrored record.
 */
import { STAMP_ID_HEADER, STAMP_OFFSET_HEADER } from '../log/index.ts';

export const SEPARATOR = '.';

/** Remote name of an edge topic: `<edgeId>.<topic>` (DefaultReplicationPolicy.formatRemoteTopic). */
export function remoteTopic(edgeId: string, topic: string): string {
  return `${edgeId}${SEPARATOR}${topic}`;
}

/** MM2 heartbeats topic on every target cluster. */
export const HEARTBEATS_TOPIC = 'heartbeats';

/** The edge's heartbeat stream as a mirrored topic; MirrorClient.upstreamClusters finds `<alias>.heartbeats`. */
export function remoteHeartbeatsTopic(edgeId: string): string {
  return remoteTopic(edgeId, HEARTBEATS_TOPIC);
}

/** DefaultReplicationPolicy.checkpointsTopic(sourceAlias). */
export function checkpointsTopic(sourceAlias: string): string {
  return `${sourceAlias}${SEPARATOR}checkpoints.internal`;
}

/** MM2 offset-syncs topic with offset-syncs.topic.location=target: named after the source alias. */
export function offsetSyncsTopic(sourceAlias: string): string {
  return `mm2-offset-syncs${SEPARATOR}${sourceAlias}${SEPARATOR}internal`;
}

/** Names that look internal are never mirrored (DefaultReplicationPolicy.isInternalTopic + "__"/"." prefixes). */
export function isInternalTopic(topic: string): boolean {
  return (
    topic.endsWith('.internal') ||
    topic.endsWith('-internal') ||
    topic.startsWith('__') ||
    topic.startsWith('.')
  );
}

/** Glob with `*` (any run of characters) and `?` (one character); everything else literal. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** True when the edge topic goes to a cluster: matches an include glob, no exclude glob, and is not internal. */
export function topicSelected(
  topic: string,
  filter: { include: readonly string[]; exclude: readonly string[] },
): boolean {
  if (isInternalTopic(topic)) return false;
  if (!filter.include.some((g) => globToRegExp(g).test(topic))) return false;
  return !filter.exclude.some((g) => globToRegExp(g).test(topic));
}

/**
 * Provenance headers added to every mirrored record (values are ASCII):
 * - `outpost.edge.id`: the gateway's edgeId;
 * - `outpost.edge.offset`: the record's offset in the edge partition (decimal). Edge partition p is
 *   remote partition p, so (edge id, topic, partition, offset) names the edge record exactly. The link
 *   reads this header back from the remote tail to resume without duplicates.
 * The log seals both into every stored record (its stamp), so stored batches go out as they are.
 */
export const HEADER_EDGE_ID: string = STAMP_ID_HEADER;
export const HEADER_EDGE_OFFSET: string = STAMP_OFFSET_HEADER;
