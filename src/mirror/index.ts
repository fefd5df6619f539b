/**
 * Public face of the mirror: exactly-once, in-order mirroring of every selected log topic to each
 * configured central Kafka cluster, with an exact offset index and MM2-compatible internal records.
 */

export { emitCheckpoints } from './checkpoints.ts';
export { commandClusters, startCommands } from './commands/consumer.ts';
export { commandMetrics } from './commands/metrics.ts';
export type {
  CommandConsumer,
  CommandRecord,
  CommandsDeps,
  CommandsStatus,
  DeliverOptions,
  DeliveryOutcome,
  DeviceLookup,
  Downlink,
  OutcomeKind,
  OutcomeRecord,
  RejectReason,
} from './commands/types.ts';
export { type FailoverResult, failover } from './failover.ts';
export { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from './formats/checkpoint.ts';
export { decodeHeartbeat, encodeHeartbeat, type Heartbeat } from './formats/heartbeat.ts';
export { decodeOffsetSync, encodeOffsetSync, type OffsetSync } from './formats/offset-sync.ts';
export { INDEX_STORE, openOffsetIndex, startMirror } from './mirror.ts';
export {
  checkpointsTopic,
  HEADER_EDGE_ID,
  HEADER_EDGE_OFFSET,
  offsetSyncsTopic,
  remoteHeartbeatsTopic,
  remoteTopic,
} from './naming.ts';
export type { IndexRange } from './offsets/offset-index.ts';
export { OffsetTranslator } from './offsets/translate.ts';
export type { LinkState } from './session/link-state.ts';
export type { ClusterStatus, Mirror, MirrorHooks, MirrorStatus, PartitionStatus } from './types.ts';
export { type MirrorThreadDeps, startMirrorThread } from './worker/proxy.ts';
