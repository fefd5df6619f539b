import { parseArgs } from 'node:util';
import { isOutpostError } from '../errors.ts';
import type { Command, CommandArgs, CommandIO } from './command.ts';

/**
 * Command-line dispatch: resolve the command (one or two words), handle --help, parse options
 * strictly, run, and map failures to exit codes:
 *   0 success · 1 operational failure (OutpostError, printed as one "outpost: …" message) ·
 *   2 usage error (unknown command/option, missing or malformed option).
 * Stack traces are printed only with OUTPOST_DEBUG=1.
 */

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const HELP_FLAGS = new Set(['--help', '-h']);

function write(stream: NodeJS.WritableStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** True when --help/-h appears before a "--" terminator. */
function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (HELP_FLAGS.has(a)) return true;
  }
  return false;
}

function table(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(0, ...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}`).join('\n');
}

export function topUsage(commands: readonly Command[]): string {
  return [
    'Usage: outpost <command> [options]',
    '',
    'Commands:',
    table(commands.map((c) => [c.name, c.summary] as const)),
    '',
    'Run "outpost <command> --help" for the options of a command.',
    'Exit codes: 0 ok, 1 failure, 2 usage error. OUTPOST_DEBUG=1 prints stack traces.',
  ].join('\n');
}

export function groupUsage(group: string, members: readonly Command[]): string {
  return [
    `Usage: outpost ${group} <command> [options]`,
    '',
    'Commands:',
    table(members.map((c) => [c.name, c.summary] as const)),
    '',
    `Run "outpost ${group} <command> --help" for the options of a command.`,
  ].join('\n');
}

/** The short form printed after a usage error: the synopsis and where to find more. */
export function commandSynopsis(cmd: Command): string {
  return (
    `Usage: outpost ${cmd.name} ${cmd.usage}`.trimEnd() + `\nRun "outpost ${cmd.name} --help" for details.`
  );
}

export function commandUsage(cmd: Command): string {
  const lines = [`Usage: outpost ${cmd.name} ${cmd.usage}`.trimEnd(), '', cmd.summary];
  if (cmd.help) lines.push('', cmd.help.trimEnd());
  lines.push('', '  -h, --help  Show this help.');
  return lines.join('\n');
}

type Resolved =
  | { kind: 'command'; cmd: Command; rest: string[] }
  | { kind: 'group'; group: string; members: Command[]; rest: string[] }
  | { kind: 'top'; rest: string[] }
  | { kind: 'unknown'; name: string; group?: { group: string; members: Command[] } };

function resolve(commands: readonly Command[], argv: readonly string[]): Resolved {
  const [first, second] = argv;
  if (first === undefined || first.startsWith('-')) return { kind: 'top', rest: [...argv] };
  if (second !== undefined) {
    const two = commands.find((c) => c.name === `${first} ${second}`);
    if (two) return { kind: 'command', cmd: two, rest: argv.slice(2) };
  }
  const one = commands.find((c) => c.name === first);
  if (one) return { kind: 'command', cmd: one, rest: argv.slice(1) };
  const members = commands.filter((c) => c.name.startsWith(`${first} `));
  if (members.length === 0) return { kind: 'unknown', name: first };
  if (second === undefined || second.startsWith('-')) {
    return { kind: 'group', group: first, members, rest: argv.slice(1) };
  }
  return { kind: 'unknown', name: `${first} ${second}`, group: { group: first, members } };
}

function usageError(io: CommandIO, message: string, usage: string): number {
  write(io.stderr, `outpost: ${message}`);
  write(io.stderr, usage);
  return EXIT_USAGE;
}

/** Print an error thrown by a command; returns the exit code. */
export function reportError(err: unknown, io: CommandIO, cmd: Command, debug: boolean): number {
  if (isOutpostError(err)) {
    if (err.code === 'USAGE') return usageError(io, `${cmd.name}: ${err.message}`, commandSynopsis(cmd));
    write(io.stderr, `outpost: ${err.message}`);
    if (debug && err.stack) write(io.stderr, err.stack);
    return EXIT_FAILURE;
  }
  const message = err instanceof Error ? err.message : String(err);
  write(io.stderr, `outpost: ${cmd.name} failed unexpectedly: ${message}`);
  if (debug) write(io.stderr, err instanceof Error && err.stack ? err.stack : String(err));
  else write(io.stderr, 'outpost: set OUTPOST_DEBUG=1 for the stack trace');
  return EXIT_FAILURE;
}

export interface RunCliOptions {
  /** Print stack traces (OUTPOST_DEBUG=1). */
  debug?: boolean;
  version?: string;
}

/** Runs one command line (argv without "node main.ts") and returns the exit code. */
export async function runCli(
  commands: readonly Command[],
  argv: readonly string[],
  io: CommandIO,
  opts: RunCliOptions = {},
): Promise<number> {
  const r = resolve(commands, argv);
  switch (r.kind) {
    case 'top': {
      if (r.rest[0] === '--version' || r.rest[0] === '-v') {
        write(io.stdout, opts.version ?? 'unknown');
        return EXIT_OK;
      }
      if (wantsHelp(r.rest)) {
        write(io.stdout, topUsage(commands));
        return EXIT_OK;
      }
      const what = r.rest[0] === undefined ? 'missing command' : `unknown option "${r.rest[0]}"`;
      return usageError(io, what, topUsage(commands));
    }
    case 'group': {
      if (wantsHelp(r.rest)) {
        write(io.stdout, groupUsage(r.group, r.members));
        return EXIT_OK;
      }
      const what = r.rest[0] === undefined ? 'missing command' : `unknown option "${r.rest[0]}"`;
      return usageError(io, `${r.group}: ${what}`, groupUsage(r.group, r.members));
    }
    case 'unknown':
      return usageError(
        io,
        `unknown command "${r.name}"`,
        r.group ? groupUsage(r.group.group, r.group.members) : topUsage(commands),
      );
    case 'command':
      return runCommand(r.cmd, r.rest, io, opts.debug ?? false);
  }
}

async function runCommand(cmd: Command, rest: string[], io: CommandIO, debug: boolean): Promise<number> {
  if (wantsHelp(rest)) {
    write(io.stdout, commandUsage(cmd));
    return EXIT_OK;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: cmd.options,
      strict: true,
      allowPositionals: cmd.allowPositionals ?? false,
    });
  } catch (err) {
    // node:util parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes. Keep their first sentence
    // ("Unknown option '--x'"); the hint about "--" that follows is noise for our commands.
    const first = (err as Error).message.split('\n')[0] ?? String(err);
    const message = first.replace(/\. To specify a positional argument.*$/, '');
    return usageError(io, `${cmd.name}: ${message}`, commandSynopsis(cmd));
  }
  try {
    return await cmd.run(
      { values: parsed.values as CommandArgs['values'], positionals: parsed.positionals },
      io,
    );
  } catch (err) {
    return reportError(err, io, cmd, debug);
  }
}
