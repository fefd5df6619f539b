#!/usr/bin/env node
// The `outpost` command line. Dispatch lives in dispatch.ts; commands in commands/index.ts.
import { readFileSync } from 'node:fs';
import { commands } from './commands/index.ts';
import { runCli } from './dispatch.ts';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

// `outpost log read … | head` closes stdout early: stop quietly, like other Unix tools.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
process.exitCode = await runCli(commands, process.argv.slice(2), io, {
  debug: process.env['OUTPOST_DEBUG'] === '1',
  version: version(),
});
