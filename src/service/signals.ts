/**
 * The service's signals: SIGTERM/SIGINT ask for a drain (a second one forces the exit), SIGHUP
 * reloads (one reload at a time, in signal order), and a crash still gets one structured line.
 * Installed first, so a SIGTERM during startup stops cleanly instead of killing us mid-open.
 */
import type { Logger } from 'pino';

export interface StopSignals {
  /** The first stop signal received, or null. */
  readonly signal: NodeJS.Signals | null;
  /** Resolves at the first stop signal (at once if one came already). */
  requested(): Promise<void>;
  /** Resolves at a second stop signal. */
  readonly forced: Promise<void>;
  /** Acts as SIGTERM. */
  stop(): void;
  /** Removes every listener installed here. */
  remove(): void;
}

export function installSignals(logger: Logger, onHup: () => void): StopSignals {
  let signal: NodeJS.Signals | null = null;
  let wake: (() => void) | null = null;
  const forced = Promise.withResolvers<void>();
  const onStop = (s: NodeJS.Signals) => {
    if (signal) {
      logger.warn({ signal: s }, 'second stop signal: exiting now (acknowledged data is already on disk)');
      forced.resolve();
      return;
    }
    signal = s;
    logger.info({ signal: s }, 'stop requested: draining');
    wake?.();
  };
  const onCrash = (err: Error, origin: string) =>
    logger.fatal({ err: err.message, stack: err.stack, origin }, `crashed: ${err.message}`);
  process.on('uncaughtExceptionMonitor', onCrash);
  process.on('SIGINT', onStop);
  process.on('SIGTERM', onStop);
  process.on('SIGHUP', onHup);
  return {
    get signal() {
      return signal;
    },
    requested: () =>
      signal
        ? Promise.resolve()
        : new Promise<void>((r) => {
            wake = r;
          }),
    forced: forced.promise,
    stop: () => onStop('SIGTERM'),
    remove: () => {
      process.off('SIGINT', onStop);
      process.off('SIGTERM', onStop);
      process.off('SIGHUP', onHup);
      process.off('uncaughtExceptionMonitor', onCrash);
    },
  };
}

/** SIGHUP's handler: one reload at a time, in signal order, never while starting or stopping. */
export function serialReloads(
  logger: Logger,
  running: () => boolean,
  reload: () => Promise<unknown>,
): () => void {
  let reloading: Promise<void> = Promise.resolve();
  return () => {
    if (!running()) {
      logger.warn('SIGHUP ignored: the service is not running yet (or is stopping)');
      return;
    }
    reloading = reloading.then(reload).then(
      () => {},
      (err: unknown) =>
        logger.error({ err: String(err) }, 'reload failed unexpectedly; the old config stays in force'),
    );
  };
}
