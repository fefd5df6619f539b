import type { ParseArgsConfig } from 'node:util';

/**
 * One CLI command. Each lives in its own file under src/cli/commands/ and is listed in
 * src/cli/commands/index.ts. `name` may have two words for groups ("log read", "devices add").
 */
export interface Command {
  name: string;
  summary: string;
  /** Shown by --help after "Usage: outpost <name> ". */
  usage: string;
  /** Extra help text (options explained, examples). */
  help?: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Allow positional arguments (e.g. "devices add ID"). */
  allowPositionals?: boolean;
  /** Returns the process exit code. Throw OutpostError for user-facing failures (printed without stack). */
  run(args: CommandArgs, io: CommandIO): Promise<number>;
}

export interface CommandArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

export interface CommandIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
}
