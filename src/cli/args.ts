import { OutpostError } from '../errors.ts';
import type { CommandArgs } from './command.ts';

/** Helpers for commands: typed access to parsed options, with USAGE errors (exit 2) on bad input. */

export function requiredString(args: CommandArgs, name: string): string {
  const v = args.values[name];
  if (typeof v !== 'string' || v === '') {
    throw new OutpostError('USAGE', `missing required option --${name}`, { reason: name });
  }
  return v;
}

export function optionalString(args: CommandArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flag(args: CommandArgs, name: string): boolean {
  return args.values[name] === true;
}

/** A non-negative decimal integer option (no signs, no exponents, no hex). */
export function optionalCount(
  args: CommandArgs,
  name: string,
  opts: { min?: number } = {},
): number | undefined {
  const v = args.values[name];
  if (v === undefined) return undefined;
  const min = opts.min ?? 0;
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min) {
    const what = min > 0 ? `an integer >= ${min}` : 'a non-negative integer';
    throw new OutpostError('USAGE', `--${name} must be ${what}, got "${String(v)}"`, { reason: name });
  }
  return Number(v);
}

export function requiredCount(args: CommandArgs, name: string): number {
  const n = optionalCount(args, name);
  if (n === undefined) throw new OutpostError('USAGE', `missing required option --${name}`, { reason: name });
  return n;
}

/** The --config option every config-reading command takes. */
export const configOption = {
  config: { type: 'string', short: 'c' },
} as const;
