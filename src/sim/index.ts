// Public face of the fleet simulator and the delivery audit.
export {
  ACKED_FORMAT,
  ACKED_VERSION,
  type AckedRecord,
  type DeviceAcks,
  decodeAcked,
  encodeAcked,
  readAckedFile,
  writeAckedFile,
} from './acked-file.ts';
export {
  type AuditOptions,
  Auditor,
  type AuditRecord,
  type AuditReport,
  audit,
  formatReport,
} from './audit.ts';
export {
  type CommandPayload,
  type CommandReceipt,
  type CommandsRecord,
  decodeCommand,
  mergeProduced,
  type ProduceCommandsOptions,
  type ProducedCommand,
  produceCommands,
  readCommandsFile,
  writeCommandsFile,
} from './commands.ts';
export { type DeviceCommands, type DeviceConnection, type QoS, SimDevice } from './device.ts';
export {
  auditDownlink,
  type CommandOutcome,
  type DownlinkReport,
  formatDownlinkReport,
} from './downlink-audit.ts';
export {
  type FleetOptions,
  type FleetProgress,
  type FleetResult,
  type FleetSummary,
  formatProgress,
  parseQosMix,
  type QosWeight,
  runFleet,
} from './fleet.ts';
export {
  DEFAULT_COMMAND_FILTER,
  type FleetCommands,
  type FleetCommandsSummary,
} from './fleet-commands.ts';
export { fleetConfig } from './fleet-config.ts';
export { LatencySamples } from './latency.ts';
export { mqttTcp, type OutpostProcess, startOutpost } from './outpost-process.ts';
export {
  createGenerator,
  type DeviceGenerator,
  type DeviceKind,
  envelopeSchema,
  fleetIds,
  type SimMessage,
  stbPayloadSchema,
  vehiclePayloadSchema,
} from './payloads/index.ts';
export { deriveSeed, mulberry32, type Rng } from './prng.ts';
export { RangeSet } from './ranges.ts';
export { openEdgeLogReader, type RegisterResult, registerFleet, registerFleetInDataDir } from './register.ts';
export {
  type AuditRun,
  type AuditRunOptions,
  auditCluster,
  auditEdge,
  remoteTopicName,
} from './run-audit.ts';
export { auditCommands, commandTopics, readOutcomes } from './run-downlink-audit.ts';
export {
  type ClusterSourceOptions,
  decodeEnvelope,
  readCluster,
  readEdgeLog,
  type SourceStats,
} from './sources.ts';
export { fetchStatus, mirrorLag, type StatusSnapshot, waitForMirror } from './status.ts';
