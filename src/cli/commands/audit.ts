import { loadConfig } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import { type AuditRun, auditCluster, auditEdge, formatReport, readAckedFile } from '../../sim/index.ts';
import { flag, optionalCount, optionalString, requiredString } from '../args.ts';
import type { Command } from '../command.ts';
import { openLogReader } from '../open-log.ts';

/** The defaults of `outpost audit`, written once: the help text and the option parsing both read them. */
const AUDIT_DEFAULTS = { idleTimeoutSeconds: 10, maxExamples: 5 } as const;

export const auditCommand: Command = {
  name: 'audit',
  summary: 'Check delivery per device: gaps, duplicates, reordering; every acknowledged message present.',
  usage:
    '--config FILE (--edge | --cluster ALIAS [--bootstrap HOST:PORT]) [--acked FILE] [--topics T,…] [--json]',
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
    '      --json              Print the report as JSON.',
    '',
    'Exit code 0 when the verdict is PASS; 1 on loss, gaps (without --acked), out-of-order delivery or',
    'unexpected duplicates. Sequence numbers are per device across all of its topics, so audit every',
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
  },
  async run(args, io) {
    const path = requiredString(args, 'config');
    const config = await loadConfig(path);
    const edge = flag(args, 'edge');
    const cluster = optionalString(args, 'cluster');
    if (edge === (cluster !== undefined)) {
      throw new OutpostError('USAGE', 'give exactly one of --edge or --cluster ALIAS', { reason: 'edge' });
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
      maxExamples: optionalCount(args, 'max-examples', { min: 1 }) ?? AUDIT_DEFAULTS.maxExamples,
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
        idleMs: (optionalCount(args, 'idle-timeout', { min: 1 }) ?? AUDIT_DEFAULTS.idleTimeoutSeconds) * 1000,
      });
    }
    if (flag(args, 'json')) {
      io.stdout.write(
        `${JSON.stringify({ source: result.source, ...result.report, read: result.read }, null, 2)}\n`,
      );
    } else {
      io.stdout.write(`${formatReport(result.report, result.source)}\n`);
    }
    return result.report.verdict === 'pass' ? 0 : 1;
  },
};
