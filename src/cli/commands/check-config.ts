import { resolve } from 'node:path';
import { checkConfigFiles, loadConfig } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import { requiredString } from '../args.ts';
import type { Command } from '../command.ts';

export const checkConfigCommand: Command = {
  name: 'check-config',
  summary: 'Validate a configuration file, including the files it names (TLS certificates and keys).',
  usage: '--config FILE',
  help: [
    'Options:',
    '  -c, --config FILE  Configuration file (JSON).',
    '',
    'Prints a summary and exits 0 when the file is valid. Otherwise prints one "path: reason" line',
    'per problem and exits 1. Relative paths (dataDir, certificates) resolve against the current',
    'working directory.',
  ].join('\n'),
  options: { config: { type: 'string', short: 'c' } },
  async run(args, io) {
    const path = requiredString(args, 'config');
    const config = await loadConfig(path);
    const problems = await checkConfigFiles(config);
    if (problems.length > 0) {
      throw new OutpostError('CONFIG_INVALID', `${path} is invalid:\n  ${problems.join('\n  ')}`, {
        path,
        reason: problems.join('; '),
      });
    }
    const topics = Object.entries(config.log.topics);
    const partitions = topics.reduce((n, [, t]) => n + t.partitions, 0);
    const listeners = config.mqtt.listeners.map((l) => `${l.type}://${l.host}:${l.port}`);
    const clusters = Object.entries(config.mirror.clusters).map(
      ([alias, c]) => `${alias}${c.required ? '' : ' (optional)'}`,
    );
    io.stdout.write(
      [
        `${path}: OK`,
        `  edgeId     ${config.edgeId}`,
        `  dataDir    ${resolve(config.dataDir)}`,
        `  topics     ${topics.length} (${partitions} partitions): ${topics.map(([n]) => n).join(', ')}`,
        `  listeners  ${listeners.join(', ')}`,
        `  anonymous  ${String(config.mqtt.allowAnonymous)}`,
        `  routes     ${config.routes.length}`,
        `  http       ${config.http.host}:${config.http.port}`,
        `  clusters   ${clusters.length === 0 ? 'none (mirroring off)' : clusters.join(', ')}`,
        '',
      ].join('\n'),
    );
    return 0;
  },
};
