/**
 * One error base class for all of Outpost, with a closed set of codes.
 *
 * Add a code by appending to ERROR_CODES (edit in place; never rewrite this file wholesale:
 * several modules add codes). `retriable` tells callers whether the same call can succeed later
 * without operator action. Domain fields (topic, partition, offset, deviceId, cluster, path) travel
 * with the error so a log line says what happened and where.
 */
export const ERROR_CODES = [
  // config
  'CONFIG_INVALID',
  'CONFIG_UNREADABLE',
  // log
  'LOG_FULL',
  'LOG_CLOSED',
  'LOG_READ_ONLY',
  'PARTITION_SHRINK',
  'UNKNOWN_TOPIC',
  'UNKNOWN_PARTITION',
  'RECORD_CORRUPT',
  'RECORD_TOO_LARGE',
  'RECORD_INVALID',
  'FORMAT_UNSUPPORTED',
  'LOG_WRITE_FAILED',
  'STORE_NAME_RESERVED',
  // service
  'DATA_DIR_LOCKED',
  'DATA_DIR_NOT_WRITABLE',
  'PORT_IN_USE',
  'SYSCALL_FAILED',
  'SHUTDOWN_INCOMPLETE',
  'STOPPED_DURING_STARTUP',
  // cli
  'USAGE',
  // sim / audit
  'AUDIT_SOURCE_FAILED',
  'SIM_SERVICE_FAILED',
  'SIM_PRODUCE_FAILED',
  // mirror
  'MIRROR_STATE',
  'MIRROR_REMOTE_PARTITIONS',
  'MIRROR_PRODUCE_FAILED',
  'MIRROR_FETCH_FAILED',
  'MIRROR_NO_PROGRESS',
  'MIRROR_NOT_TRANSLATABLE',
  'MIRROR_UNKNOWN_CLUSTER',
  'MIRROR_DUPLICATE',
  'MIRROR_THREAD_EXITED',
  'MIRROR_METRIC_UNBRIDGED',
  'MIRROR_STOPPED',
  'DATA_DIR_MISSING',
  // devices
  'DEVICE_INVALID',
  'DEVICE_EXISTS',
  'DEVICE_UNKNOWN',
  'DEVICE_NO_CREDENTIAL',
  // ingest
  'INGEST_REFUSED',
  'ROUTE_INVALID',
  'LISTENER_FAILED',
  'DOWNLINK_INVALID',
  'DOWNLINK_STOPPED',
  // commands (src/mirror/commands)
  'COMMANDS_NO_DOWNLINK',
  'COMMANDS_NO_CLUSTER',
  'COMMANDS_FETCH_FAILED',
  'COMMANDS_DELIVER_FAILED',
  'COMMANDS_POSITION_GAP',
  'COMMANDS_OUTCOME_FAILED',
  'COMMANDS_GROUP_COMMIT_FAILED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorFields {
  topic?: string;
  partition?: number;
  offset?: number;
  deviceId?: string;
  clientId?: string;
  cluster?: string;
  path?: string;
  reason?: string;
}

export interface OutpostErrorOptions extends ErrorFields {
  cause?: unknown;
  retriable?: boolean;
}

export class OutpostError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly fields: ErrorFields;

  constructor(code: ErrorCode, message: string, options: OutpostErrorOptions = {}) {
    const { cause, retriable = false, ...fields } = options;
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'OutpostError';
    this.code = code;
    this.retriable = retriable;
    this.fields = fields;
  }

  /** Fields for a structured (pino) log line: stable names, no stack. */
  toLog(): Record<string, unknown> {
    return { code: this.code, ...this.fields, err: this.message };
  }
}

export function isOutpostError(err: unknown, code?: ErrorCode): err is OutpostError {
  return err instanceof OutpostError && (code === undefined || err.code === code);
}
