#!/usr/bin/env node
import { VERSION } from '../service/index.ts';
// The `outpost` command line. Dispatch lives in dispatch.ts; commands in commands/index.ts.
import { commands } from './commands/index.ts';
import { runCli } from './dispatch.ts';

// `outpost log read … | head` closes stdout early: stop quietly, like other Unix tools.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
process.exitCode = await runCli(commands, process.argv.slice(2), io, {
  debug: process.env['OUTPOST_DEBUG'] === '1',
  version: VERSION,
});
