import { writeFile } from 'node:fs/promises';
import { configReferenceMarkdown } from '../../config/index.ts';
import { optionalString } from '../args.ts';
import type { Command } from '../command.ts';

export const configDocsCommand: Command = {
  name: 'config docs',
  summary: 'Print the configuration reference (markdown table rendered from the schema).',
  usage: '[--out FILE]',
  help: [
    'Options:',
    '  -o, --out FILE  Write to FILE instead of stdout (npm run config:docs writes config/reference.md).',
    '',
    "Every key with its type and constraints, default, and meaning, from the zod schema's .describe() texts.",
  ].join('\n'),
  options: { out: { type: 'string', short: 'o' } },
  async run(args, io) {
    const out = optionalString(args, 'out');
    const text = configReferenceMarkdown();
    if (out === undefined) io.stdout.write(text);
    else await writeFile(out, text);
    return 0;
  },
};
