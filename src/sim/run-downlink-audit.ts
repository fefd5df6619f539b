import type { Config } from '../config/index.ts';
import { OutpostError } from '../errors.ts';
import { commandClusters } from '../mirror/index.ts';
import type { CommandsRecord } from './commands.ts';
import { auditDownlink, type CommandOutcome, type DownlinkReport } from './downlink-audit.ts';
import { readTopics } from './sources.ts';

const OUTCOMES = new Set<string>(['delivered', 'queued', 'expired', 'rejected']);

/** The gateway's command topic and outcomes topic, with {edgeId} filled in. */
export function commandTopics(config: Config): { topic: string; outcomes: string | null } {
  const fill = (t: string) => t.replaceAll('{edgeId}', config.edgeId);
  const o = config.commands.outcomesTopic;
  return { topic: fill(config.commands.topic), outcomes: o === null ? null : fill(o) };
}

/**
 * Reads the outcomes topic on every command cluster (the consumer writes outcomes to the cluster it
 * reads, so after a failover they are spread over both). Key = command id; a record produced twice
 * (the outbox is at least once) carries the same outcome.
 */
export async function readOutcomes(
  config: Config,
  opts: { idleMs?: number } = {},
): Promise<{ outcomes: Map<string, CommandOutcome>; read: string[] } | null> {
  const { outcomes: topic } = commandTopics(config);
  if (topic === null) return null;
  const outcomes = new Map<string, CommandOutcome>();
  const read: string[] = [];
  for (const [alias, c] of commandClusters({ config })) {
    await readTopics(
      {
        bootstrap: c.bootstrap,
        topics: [topic],
        idleMs: opts.idleMs ?? 10_000,
        clientId: `outpost-audit-${config.edgeId}`,
      },
      (m) => {
        const id = m.key?.toString('utf8');
        if (!id || !m.value) return;
        try {
          const o = (JSON.parse(m.value.toString('utf8')) as { outcome?: unknown }).outcome;
          if (typeof o === 'string' && OUTCOMES.has(o)) outcomes.set(id, o as CommandOutcome);
        } catch {
          // not an outcome record: ignored
        }
      },
    );
    read.push(alias);
  }
  return { outcomes, read };
}

/** The downlink audit of a simulator run (`outpost sim --commands-out`) against the gateway's outcome records. */
export async function auditCommands(
  config: Config,
  record: CommandsRecord,
  opts: { idleMs?: number; maxExamples?: number } = {},
): Promise<{ source: string; report: DownlinkReport }> {
  if (!config.commands.enabled) {
    throw new OutpostError('USAGE', 'the config does not enable commands (commands.enabled)', {
      reason: 'commands',
    });
  }
  const o = await readOutcomes(config, opts);
  const { topic, outcomes } = commandTopics(config);
  const source =
    o === null
      ? `${topic}; no outcomes topic configured`
      : `${topic}; outcomes ${outcomes} on ${o.read.join(', ')}`;
  return { source, report: auditDownlink(record, o?.outcomes ?? null, opts.maxExamples) };
}
