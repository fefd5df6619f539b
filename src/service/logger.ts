import { type Logger, pino } from 'pino';
import type { Config } from '../config/index.ts';

/**
 * Structured JSON lines to stdout (journald collects them). Stable field names across modules:
 * deviceId, topic, partition, offset, cluster, reason, code. `edgeId` is on every line.
 */
export function createLogger(config: Pick<Config, 'edgeId' | 'logging'>): Logger {
  return pino({
    level: config.logging.level,
    base: { service: 'outpost', edgeId: config.edgeId, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
