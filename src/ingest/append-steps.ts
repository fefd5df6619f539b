/**
 * Steps around the append: counting what was appended, and the FIFO entries of refusals (a refused
 * connection's close, a refused MQTT 5 PUBLISH, an MQTT 5 PUBLISH over the device rate).
 */
import { isOutpostError, OutpostError } from '../errors.ts';
import type { IngestMetrics } from './metrics.ts';
import type { Admitted, AedesClientLike, ClientState } from './types.ts';

const QOS_LABEL = ['0', '1', '2'];

/** Counts durably appended messages and bytes per (log topic, QoS), in metrics and in status(). */
export function countAppended(
  batch: readonly Admitted[],
  metrics: IngestMetrics,
  byTopic: Map<string, { messages: number; bytes: number }>,
): void {
  // Aggregate per (topic, qos) first: one prom-client label lookup per batch, not per message.
  const sums = new Map<string, Array<{ messages: number; bytes: number } | undefined>>();
  for (const p of batch) {
    let byQos = sums.get(p.topic);
    if (byQos === undefined) {
      byQos = [];
      sums.set(p.topic, byQos);
    }
    const sum = byQos[p.qos];
    if (sum) {
      sum.messages++;
      sum.bytes += p.bytes;
    } else byQos[p.qos] = { messages: 1, bytes: p.bytes };
  }
  for (const [topic, byQos] of sums) {
    for (let qos = 0; qos < byQos.length; qos++) {
      const sum = byQos[qos];
      if (sum === undefined) continue;
      const { messages, bytes } = sum;
      metrics.messages.inc({ topic, qos: QOS_LABEL[qos] as string }, messages);
      metrics.bytes.inc({ topic, qos: QOS_LABEL[qos] as string }, bytes);
      const t = byTopic.get(topic);
      if (t) {
        t.messages += messages;
        t.bytes += bytes;
      } else byTopic.set(topic, { messages, bytes });
    }
  }
}

/** Failures of the log as a whole (every record of the batch fails, whoever sent it). */
export function isSharedFailure(err: unknown): boolean {
  return (
    isOutpostError(err, 'LOG_FULL') ||
    isOutpostError(err, 'LOG_CLOSED') ||
    isOutpostError(err, 'LOG_READ_ONLY') ||
    isOutpostError(err, 'LOG_WRITE_FAILED')
  );
}

export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

const NO_BYTES = Buffer.alloc(0);

/**
 * Runs `fn` once the acknowledgements already written to `conn` have left it: closing destroys the
 * socket, and a destroyed socket drops what it still buffers. Bounded: a peer that does not read gets
 * closed after a second anyway (it would hit mqtt.drainTimeoutMs otherwise).
 */
export function afterWrites(conn: AedesClientLike['conn'], fn: () => void): void {
  setImmediate(() => {
    if (!((conn.writableLength ?? 0) > 0) || conn.once === undefined) {
      fn();
      return;
    }
    let done = false;
    const go = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(go, 1000);
    timer.unref();
    conn.once('drain', go);
    conn.once('close', go);
  });
}

/** The FIFO entry that closes a refused connection once everything before it is acknowledged. */
export function refusalEntry(state: ClientState, close: () => void): Admitted {
  return {
    topic: '',
    key: null,
    value: NO_BYTES,
    headers: {},
    qos: 0,
    bytes: 0,
    received: performance.now(),
    cb: close,
    done: false,
    err: REFUSED,
    skip: false,
    refusal: true,
    rejected: false,
    clientId: state.client.id,
    state,
  };
}

/** The FIFO entry of a refused PUBLISH on an MQTT 5 connection: `cb(err)` runs in its turn. */
export function rejectedEntry(state: ClientState, cb: (err: Error) => void, err: Error): Admitted {
  const entry = refusalEntry(state, () => cb(err));
  entry.refusal = false;
  entry.rejected = true;
  entry.err = err;
  entry.cb = () => cb(err);
  return entry;
}

export const REFUSED = new OutpostError('INGEST_REFUSED', 'connection refused');

/**
 * A PUBLISH over its device's rate on an MQTT 5 connection with publishRate.overLimitMqtt5 "refuse":
 * the entry, done with its error (0x97 in its FIFO turn), and the fields of its refusal's log line.
 */
export function rateRefusal(
  state: ClientState,
  entry: Admitted,
): { entry: Admitted; fields: Record<string, unknown> } {
  state.rateRefused++;
  const mqttTopic = entry.headers['mqtt.topic']?.toString();
  entry.done = true;
  entry.err = new OutpostError('INGEST_REFUSED', 'over the device publish rate', {
    reason: 'rate-limited',
    ...(mqttTopic === undefined ? {} : { topic: mqttTopic }),
    clientId: state.client.id,
  });
  const fields = {
    clientId: state.client.id,
    deviceId: state.identity.deviceId ?? undefined,
    topic: mqttTopic,
    qos: entry.qos,
    note: 'further rate-limited publishes on this connection are counted, not logged',
  };
  return { entry, fields };
}
