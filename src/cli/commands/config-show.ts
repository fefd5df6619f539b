import { type Config, loadConfig } from '../../config/index.ts';
import { flag, requiredString } from '../args.ts';
import type { Command } from '../command.ts';

const MASK = '********';

/** A copy with secrets replaced (never mutates the loaded config). */
export function maskSecrets(config: Config): Config {
  const out = structuredClone(config);
  if (out.http.token !== undefined) out.http.token = MASK;
  for (const c of Object.values(out.mirror.clusters)) {
    if (c.sasl) c.sasl.password = MASK;
  }
  return out;
}

export const configShowCommand: Command = {
  name: 'config show',
  summary: 'Print the effective configuration: the file with every default filled in (secrets masked).',
  usage: '--config FILE [--show-secrets]',
  help: [
    'Options:',
    '  -c, --config FILE   Configuration file (JSON).',
    '      --show-secrets  Print http.token and SASL passwords instead of ********.',
    '',
    'Without masked secrets (none set, or --show-secrets) the output is itself a valid configuration file.',
  ].join('\n'),
  options: { config: { type: 'string', short: 'c' }, 'show-secrets': { type: 'boolean' } },
  async run(args, io) {
    const config = await loadConfig(requiredString(args, 'config'));
    const shown = flag(args, 'show-secrets') ? config : maskSecrets(config);
    io.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    return 0;
  },
};
