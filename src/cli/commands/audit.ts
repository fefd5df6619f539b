import { loadConfig } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import {
  type AuditRun,
  auditCluster,
  auditCommands,
  auditEdge,
  type DownlinkReport,
  formatDownlinkReport,
  formatReport,
  readAckedFile,
  readCommandsFile,
} from '../../sim/index.ts';
import { flag, optionalCount, optionalString, requiredString } from '../args.ts';
import type { Command } from '../command.ts';
import { openLogReader } from '../open-log.ts';

/** The defaults of `outpost audit`, written once: the help text and the option parsing both read them. */
const AUDIT_DEFAULTS = { idleTimeoutSeconds: 10, maxExamples: 5 } as const;

export const auditCommand: Command = {
  name: 'audit',
  summary: 'Check delivery per device: gaps, duplicates, reordering; every acknowledged message present.',
  usage:
    '--config FILE [--edge | --cluster ALIAS [--bootstrap HOST:PORT]] [--acked FILE] [--topics T,…] [--commands FILE] [--json]',
  help: [
    'Options:',
    '  -c, --config FILE       Configuration file: edgeId, log topics, data dir, mirror clusters.',
    '      --edge              Audit the edge log (opened as a reader: safe while the service runs).',
    '      --cluster ALIAS     Audit the topics mirrored to this cluster ("<edgeId>.<topic>"), read with a',
    '                          read_committed consumer.',
    "      --bootstrap H:P     Bootstrap server(s), comma-separated (default: the cluster's in --config).",
    "      --acked FILE        The simulator's --acked-out file: every acknowledged message must be",
    '                          present; re-sent ones may appear twice (expected duplicates).',
    '      --topics T,…        Log topics to audit (default: every topic of the config).',
    "      --run ID            Only this simulator run (default: the acked file's run, else all).",
    `      --idle-timeout SEC  Cluster reads: give up after SEC without a new record (default ${AUDIT_DEFAULTS.idleTimeoutSeconds}).`,
    `      --max-examples N    Offenders listed per kind (default ${AUDIT_DEFAULTS.maxExamples}).`,
    "      --commands FILE     Also audit the downlink: the simulator's --commands-out file. Every command",
    '                          produced must have reached its device once, in order, or be reported',
    '                          expired in commands.outcomesTopic (read on every commands cluster).',
    '                          Alone (without --edge/--cluster) it audits only the downlink.',
    '      --json              Print the report as JSON.',
    '',
    'Exit code 0 when every verdict is PASS; 1 on loss, gaps (without --acked), out-of-order delivery or',
    'unexpected duplicates (uplink), or missing, out-of-order or duplicated commands (downlink). Sequence numbers are per device across all of its topics, so audit every',
    'topic a device publishes to.',
  ].join('\n'),
  options: {
    config: { type: 'string', short: 'c' },
    edge: { type: 'boolean' },
    cluster: { type: 'string' },
    bootstrap: { type: 'string' },
    acked: { type: 'string' },
    topics: { type: 'string' },
    run: { type: 'string' },
    'idle-timeout': { type: 'string' },
    'max-examples': { type: 'string' },
    json: { type: 'boolean' },
    commands: { type: 'string' },
  },
  async run(args, io) {
    const path = requiredString(args, 'config');
    const config = await loadConfig(path);
    const edge = flag(args, 'edge');
    const cluster = optionalString(args, 'cluster');
    const commandsPath = optionalString(args, 'commands');
    if (edge && cluster !== undefined) {
      throw new OutpostError('USAGE', 'give one of --edge or --cluster ALIAS', { reason: 'edge' });
    }
    if (!edge && cluster === undefined && commandsPath === undefined) {
      throw new OutpostError('USAGE', 'give --edge, --cluster ALIAS or --commands FILE', { reason: 'edge' });
    }
    const maxExamples = optionalCount(args, 'max-examples', { min: 1 }) ?? AUDIT_DEFAULTS.maxExamples;
    const idleMs =
      (optionalCount(args, 'idle-timeout', { min: 1 }) ?? AUDIT_DEFAULTS.idleTimeoutSeconds) * 1000;
    let downlink: { source: string; report: DownlinkReport } | undefined;
    if (commandsPath !== undefined) {
      downlink = await auditCommands(config, await readCommandsFile(commandsPath), { idleMs, maxExamples });
    }
    if (!edge && cluster === undefined) {
      const d = downlink as { source: string; report: DownlinkReport };
      io.stdout.write(
        flag(args, 'json')
          ? `${JSON.stringify({ downlink: { source: d.source, ...d.report } }, null, 2)}\n`
          : `${formatDownlinkReport(d.report, d.source)}\n`,
      );
      return d.report.verdict === 'pass' ? 0 : 1;
    }
    const ackedPath = optionalString(args, 'acked');
    const run = optionalString(args, 'run');
    const topics = optionalString(args, 'topics')
      ?.split(',')
      .filter((t) => t !== '');
    const opts = {
      ...(ackedPath !== undefined ? { acked: await readAckedFile(ackedPath) } : {}),
      ...(run !== undefined ? { run } : {}),
      ...(topics !== undefined ? { topics } : {}),
      maxExamples,
    };
    let result: AuditRun;
    if (edge) {
      // openLogReader gives the operator-facing error for a missing data dir; the audit reopens it.
      await (await openLogReader(config, path)).close();
      result = await auditEdge(config, opts);
    } else {
      const bootstrap = optionalString(args, 'bootstrap')?.split(',');
      result = await auditCluster(config, cluster as string, {
        ...opts,
        ...(bootstrap !== undefined ? { bootstrap } : {}),
        idleMs,
      });
    }
    const down = downlink ? { downlink: { source: downlink.source, ...downlink.report } } : {};
    if (flag(args, 'json')) {
      io.stdout.write(
        `${JSON.stringify({ source: result.source, ...result.report, read: result.read, ...down }, null, 2)}\n`,
      );
    } else {
      io.stdout.write(`${formatReport(result.report, result.source)}\n`);
      if (downlink) io.stdout.write(`${formatDownlinkReport(downlink.report, downlink.source)}\n`);
    }
    const pass = result.report.verdict === 'pass' && (downlink?.report.verdict ?? 'pass') === 'pass';
    return pass ? 0 : 1;
  },
};
