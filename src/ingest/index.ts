// Public face of MQTT ingest: the broker lifecycle, the downlink (broker-to-device messages, with
// mqtt.sessions on), and the route parser (for check-config and tools).
export { type Ingest, type IngestDeps, type IngestStatus, startIngest } from './ingest.ts';
export type { RefusalReason } from './metrics.ts';
export {
  type CompiledRoute,
  compileRoutes,
  matchRoute,
  parsePattern,
  type RouteMatch,
  renderKey,
} from './routing.ts';
export type { DeliverOptions, DeliveryOutcome, Downlink, DownlinkMessage } from './sessions/downlink.ts';
