import { resolve } from 'node:path';
import { OutpostError } from '../../errors.ts';
import { DEFAULT_LOG_FORMAT, LOG_FORMATS } from '../../service/index.ts';
import { optionalString, requiredString } from '../args.ts';
import type { Command } from '../command.ts';

export const runCommand: Command = {
  name: 'run',
  summary: 'Run the Outpost service (MQTT ingest, log, mirror, admin HTTP) in the foreground.',
  usage: `--config FILE [--log-format ${LOG_FORMATS.join('|')}]`,
  help: [
    'Options:',
    '  -c, --config FILE        Configuration file (JSON). See config/default.json.',
    `      --log-format FORMAT  ${LOG_FORMATS.join(', ')} (default ${DEFAULT_LOG_FORMAT}). auto: readable lines when`,
    '                           stdout is a terminal, JSON lines otherwise (journald, pipes); json: always',
    '                           JSON lines; pretty: always readable lines (time, level, message, fields).',
    '',
    'Stops cleanly on SIGINT (Ctrl-C) and SIGTERM. A relative dataDir in the config is resolved',
    'against the current working directory. Under systemd, readiness is reported with sd_notify.',
  ].join('\n'),
  options: { config: { type: 'string', short: 'c' }, 'log-format': { type: 'string' } },
  async run(args) {
    const configPath = resolve(requiredString(args, 'config'));
    const format = optionalString(args, 'log-format') ?? DEFAULT_LOG_FORMAT;
    const logFormat = LOG_FORMATS.find((f) => f === format);
    if (logFormat === undefined) {
      throw new OutpostError(
        'USAGE',
        `--log-format must be one of ${LOG_FORMATS.join(', ')}, got "${format}"`,
        {
          reason: 'log-format',
        },
      );
    }
    const { runService } = await import('../../service/index.ts');
    return runService({ configPath, logFormat });
  },
};
