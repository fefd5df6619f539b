/**
 * Ctrl-C or SIGTERM during a benchmark: stop every broker and load process it started (each with
 * its own clean stop, newest first), then exit 130. Benchmarks register what they start and
 * unregister it once stopped, so a signal never leaves a JVM, a Mosquitto or an `outpost run`
 * behind.
 */
import type { ChildProcess } from 'node:child_process';
import { killAndWait } from './proc.ts';

const running = new Map<number, { name: string; stop: () => Promise<void> }>();
let next = 0;
let stopRequested = false;

function onSignal(signal: NodeJS.Signals): void {
  if (stopRequested) return;
  stopRequested = true;
  const names = [...running.values()].map((r) => r.name);
  process.stdout.write(`\n${signal}: stopping ${names.join(', ') || 'nothing'}\n`);
  // Newest first: load generators before the broker they load, the broker before its directory.
  void (async () => {
    for (const r of [...running.values()].reverse()) await r.stop().catch(() => {});
  })().finally(() => process.exit(130));
}

/** True once a signal is stopping everything: what fails from then on is the stop, not the bench. */
export const stopping = (): boolean => stopRequested;

/** Registers `stop` to run on SIGINT/SIGTERM; returns the function that unregisters it. */
export function stopOnSignal(name: string, stop: () => Promise<void>): () => void {
  if (running.size === 0 && next === 0) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  const id = next++;
  running.set(id, { name, stop });
  return () => {
    running.delete(id);
  };
}

/**
 * The stop function of a child process the benchmark just spawned: `signal`, then SIGKILL after
 * the grace period. Registered for Ctrl-C/SIGTERM at once, unregistered when it has run.
 */
export function managedStop(
  name: string,
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): () => Promise<void> {
  let done: Promise<void> | null = null;
  const off = stopOnSignal(name, () => stop());
  const stop = (): Promise<void> => (done ??= killAndWait(child, signal).finally(off));
  return stop;
}
