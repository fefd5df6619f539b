/**
 * bench:e2e's device→dc-east latency consumer, in a worker thread of its own. It decodes every
 * mirrored record (fetch parsing, zstd, JSON) while the fleet runs; on the fleet's event loop that
 * work delayed PUBACK callbacks, so the device-side PUBACK percentiles of the Outpost step carried
 * the consumer's CPU and the peer's step (nothing to consume) did not. Here the fleet's thread only
 * sends and receives MQTT.
 *
 * Main thread: `startLatencyConsumer()`; `begin(run)` before a step, `summary(run)` after it,
 * `close()` at the end. The worker is this same file, started with workerData.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Consumer } from '@platformatic/kafka';
import { decodeEnvelope, LatencySamples } from '../../src/sim/index.ts';

interface Start {
  bootstrap: string;
  groupId: string;
  topics: string[];
}
type ToWorker = { type: 'begin'; run: string } | { type: 'summary'; run: string } | { type: 'close' };
type Summary = ReturnType<LatencySamples['summary']>;
type FromWorker =
  | { type: 'ready' }
  | { type: 'summary'; run: string; summary: Summary }
  | { type: 'closed' }
  | { type: 'error'; message: string };

export interface LatencyConsumer {
  begin(run: string): void;
  summary(run: string): Promise<Summary>;
  close(): Promise<void>;
}

export async function startLatencyConsumer(start: Start): Promise<LatencyConsumer> {
  const worker = new Worker(new URL(import.meta.url), { workerData: start, name: 'e2e-latency' });
  const waiting: Array<(m: FromWorker) => boolean> = [];
  let failure: Error | null = null;
  const next = <T extends FromWorker>(match: (m: FromWorker) => m is T): Promise<T> =>
    new Promise((resolve, reject) => {
      if (failure) return reject(failure);
      waiting.push((m) => {
        if (m.type === 'error') {
          reject(new Error(`latency consumer: ${m.message}`));
          return true;
        }
        if (!match(m)) return false;
        resolve(m);
        return true;
      });
    });
  worker.on('message', (m: FromWorker) => {
    const i = waiting.findIndex((w) => w(m));
    if (i >= 0) waiting.splice(i, 1);
  });
  worker.on('error', (err) => {
    failure = err;
    for (const w of waiting.splice(0)) w({ type: 'error', message: err.message });
  });
  await next((m): m is { type: 'ready' } => m.type === 'ready');
  const post = (m: ToWorker) => worker.postMessage(m);
  return {
    begin: (run) => post({ type: 'begin', run }),
    summary: async (run) => {
      const reply = next(
        (m): m is Extract<FromWorker, { type: 'summary' }> => m.type === 'summary' && m.run === run,
      );
      post({ type: 'summary', run });
      return (await reply).summary;
    },
    close: async () => {
      const closed = next((m): m is { type: 'closed' } => m.type === 'closed').catch(() => {});
      post({ type: 'close' });
      await closed;
      await worker.terminate();
    },
  };
}

async function runWorker(start: Start): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const say = (m: FromWorker) => port.postMessage(m);
  const samples = new Map<string, LatencySamples>();
  const consumer = new Consumer({
    clientId: 'bench-e2e',
    groupId: start.groupId,
    bootstrapBrokers: [start.bootstrap],
    isolationLevel: 1,
  });
  try {
    const stream = await consumer.consume({
      topics: start.topics,
      mode: 'latest',
      isolationLevel: 1,
      autocommit: false,
      maxWaitTime: 100,
    });
    stream.on('data', (m) => {
      const e = decodeEnvelope(m.value);
      if (!e) return;
      const ts = (JSON.parse(m.value.toString()) as { ts: number }).ts;
      samples.get(e.run)?.add(Date.now() - ts);
    });
    port.on('message', (m: ToWorker) => {
      if (m.type === 'begin') samples.set(m.run, new LatencySamples());
      else if (m.type === 'summary') {
        say({ type: 'summary', run: m.run, summary: samples.get(m.run)?.summary() ?? null });
        samples.delete(m.run);
      } else {
        void (async () => {
          await stream.close().catch(() => {});
          await consumer.close(true).catch(() => {});
          say({ type: 'closed' });
        })();
      }
    });
    say({ type: 'ready' });
  } catch (err) {
    await consumer.close(true).catch(() => {});
    say({ type: 'error', message: (err as Error).message });
  }
}

if (!isMainThread && (workerData as Start | null)?.bootstrap) await runWorker(workerData as Start);
