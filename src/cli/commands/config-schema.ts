import { writeFile } from 'node:fs/promises';
import { configJsonSchemaText } from '../../config/index.ts';
import { optionalString } from '../args.ts';
import type { Command } from '../command.ts';

export const configSchemaCommand: Command = {
  name: 'config schema',
  summary: 'Print the JSON Schema of the configuration file (generated from the zod schema).',
  usage: '[--out FILE]',
  help: [
    'Options:',
    '  -o, --out FILE  Write to FILE instead of stdout (npm run config:schema writes',
    '                  config/outpost.schema.json).',
    '',
    'Point "$schema" in a config file at it for editor completion and validation.',
  ].join('\n'),
  options: { out: { type: 'string', short: 'o' } },
  async run(args, io) {
    const out = optionalString(args, 'out');
    const text = configJsonSchemaText();
    if (out === undefined) io.stdout.write(text);
    else await writeFile(out, text);
    return 0;
  },
};
