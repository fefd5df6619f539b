import { resolve } from 'node:path';
import { requiredString } from '../args.ts';
import type { Command } from '../command.ts';

export const runCommand: Command = {
  name: 'run',
  summary: 'Run the Outpost service (MQTT ingest, log, mirror, admin HTTP) in the foreground.',
  usage: '--config FILE',
  help: [
    'Options:',
    '  -c, --config FILE  Configuration file (JSON). See config/default.json.',
    '',
    'Stops cleanly on SIGINT (Ctrl-C) and SIGTERM. A relative dataDir in the config is resolved',
    'against the current working directory. Under systemd, readiness is reported with sd_notify.',
  ].join('\n'),
  options: { config: { type: 'string', short: 'c' } },
  async run(args) {
    const configPath = resolve(requiredString(args, 'config'));
    // Loaded lazily: `outpost --help` and the read-only commands need none of the service's deps.
    const { runService } = await import('../../service/index.ts');
    return runService({ configPath });
  },
};
