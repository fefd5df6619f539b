/** The command consumer's `outpost_commands_*` metrics, registered once on the service's Registry. */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface CommandMetrics {
  outcomes: Counter<'outcome' | 'reason'>;
  duplicates: Counter<'cluster'>;
  uncertain: Counter<'action'>;
  atomic: Counter;
  skipped: Counter<'cluster'>;
  failovers: Counter<'from' | 'to'>;
  errors: Counter<'cluster' | 'code'>;
  gaps: Counter<'cluster'>;
  outcomesPublished: Counter<'cluster'>;
  up: Gauge<'cluster'>;
  outbox: Gauge;
}

const registered = new WeakMap<Registry, CommandMetrics>();

/** Idempotent per registry (the service registers them even when commands are off, for /metrics and the docs). */
export function commandMetrics(registry: Registry): CommandMetrics {
  const have = registered.get(registry);
  if (have) return have;
  const registers = [registry];
  const m: CommandMetrics = {
    outcomes: new Counter({
      name: 'outpost_commands_total',
      help: 'Commands handled, by outcome (delivered: every matching subscriber acknowledged; queued: stored in an offline session; expired: older than its TTL, not delivered; rejected) and reason (rejected: no-device, bad-topic, bad-qos, bad-ttl, unknown-device, disabled-device, no-subscriber; else "").',
      labelNames: ['outcome', 'reason'] as const,
      registers,
    }),
    duplicates: new Counter({
      name: 'outpost_commands_duplicates_total',
      help: 'Command records skipped because their id was already handled (the copy on another cluster after a failover, or a re-produced command).',
      labelNames: ['cluster'] as const,
      registers,
    }),
    uncertain: new Counter({
      name: 'outpost_commands_uncertain_total',
      help: 'Commands whose delivery began but whose result was not recorded (the process died in between), by what was done (commands.onUncertain: redeliver or skip). Never one a persistent session stored (recorded with its copy); a redelivered one may reach a clean-session or QoS 0 subscriber twice. Each is logged as a warning.',
      labelNames: ['action'] as const,
      registers,
    }),
    atomic: new Counter({
      name: 'outpost_commands_atomic_total',
      help: 'Commands recorded as handled in the same LMDB transaction that stored their copies in persistent sessions (no crash window: never uncertain, never handed over twice).',
      registers,
    }),
    skipped: new Counter({
      name: 'outpost_commands_skipped_total',
      help: 'Records of a shared command topic addressed to another gateway (commands.gatewayHeader).',
      labelNames: ['cluster'] as const,
      registers,
    }),
    failovers: new Counter({
      name: 'outpost_commands_failovers_total',
      help: 'Switches of the command consumer from one cluster to another.',
      labelNames: ['from', 'to'] as const,
      registers,
    }),
    errors: new Counter({
      name: 'outpost_commands_errors_total',
      help: 'Command consumer failures (fetch, metadata, downlink, outcome produce), by cluster and error code; each is retried.',
      labelNames: ['cluster', 'code'] as const,
      registers,
    }),
    gaps: new Counter({
      name: 'outpost_commands_gap_records_total',
      help: 'Command records deleted by the cluster before the gateway read them (its position fell below the log start offset); logged as an error.',
      labelNames: ['cluster'] as const,
      registers,
    }),
    outcomesPublished: new Counter({
      name: 'outpost_commands_outcome_records_total',
      help: 'Outcome records produced to commands.outcomesTopic.',
      labelNames: ['cluster'] as const,
      registers,
    }),
    up: new Gauge({
      name: 'outpost_commands_consuming',
      help: '1 for the cluster the command consumer reads now, 0 for the others.',
      labelNames: ['cluster'] as const,
      registers,
    }),
    outbox: new Gauge({
      name: 'outpost_commands_outbox_records',
      help: 'Outcome records stored in the outbox, not yet produced.',
      registers,
    }),
  };
  registered.set(registry, m);
  return m;
}
