import { writeFile } from 'node:fs/promises';
import { optionalString } from '../args.ts';
import type { Command } from '../command.ts';

export const metricsDocsCommand: Command = {
  name: 'metrics docs',
  summary: 'Print the metrics reference (markdown tables read from the registry of a running service).',
  usage: '[--out FILE]',
  help: [
    'Options:',
    '  -o, --out FILE  Write to FILE instead of stdout (npm run metrics:docs writes docs/metrics.md).',
    '',
    'Starts a throwaway service (temp data dir, loopback ports chosen by the kernel, no mirror clusters),',
    'reads every registered metric (name, type, labels, help) and stops it again.',
  ].join('\n'),
  options: { out: { type: 'string', short: 'o' } },
  async run(args, io) {
    const out = optionalString(args, 'out');
    const { renderMetricsReference } = await import('../../service/index.ts');
    const text = await renderMetricsReference();
    if (out === undefined) io.stdout.write(text);
    else await writeFile(out, text);
    return 0;
  },
};
