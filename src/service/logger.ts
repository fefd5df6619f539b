import { createRequire } from 'node:module';
import { type Logger, pino } from 'pino';
import type PinoPretty from 'pino-pretty';
import type { Config } from '../config/index.ts';

/** How log lines are written: `json` (journald, pipes), `pretty` (people), `auto` (pretty on a TTY). */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const DEFAULT_LOG_FORMAT: LogFormat = 'auto';

/** This module, for the mirror's thread: it builds its logger with createLogger too (same fields, same stdout). */
export const LOGGER_MODULE = import.meta.url;

/** `auto` → pretty only when stdout is a terminal; journald and pipes get JSON. */
export function resolveLogFormat(
  format: LogFormat,
  stdoutIsTty = process.stdout.isTTY === true,
): 'json' | 'pretty' {
  if (format === 'auto') return stdoutIsTty ? 'pretty' : 'json';
  return format;
}

/**
 * Structured JSON lines to stdout (journald collects them). Stable field names across modules:
 * deviceId, topic, partition, offset, cluster, reason, code. `edgeId` is on every line.
 *
 * `pretty` writes one readable line per entry instead (`12:00:01.234 INFO  log open path=…`), via
 * pino-pretty in-process and synchronously, so no line is lost at exit; the fields are the same.
 */
export function createLogger(
  config: Pick<Config, 'edgeId' | 'logging'>,
  format: LogFormat,
  /** JSON lines written synchronously: the mirror's thread, whose last lines must survive its end. */
  opts: { sync?: boolean } = {},
): Logger {
  const options = {
    level: config.logging.level,
    base: { service: 'outpost', edgeId: config.edgeId, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (resolveLogFormat(format) === 'json') {
    return opts.sync ? pino(options, pino.destination({ fd: 1, sync: true })) : pino(options);
  }
  // Required only here (CommonJS, synchronous), so JSON runs and every other CLI command never load it.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  return pino(
    options,
    pretty({
      sync: true,
      destination: 1,
      singleLine: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'service,edgeId,pid,hostname',
      // colorette decides: colours on a terminal, none in a pipe or with NO_COLOR. An `err` field
      // goes on its own indented line below the message.
    }),
  );
}
