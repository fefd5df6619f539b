/**
 * The publish pipeline: aedes `authorizePublish` → validate → route → ACL → admit (rate, in-flight)
 * → append (durable) → acknowledge.
 *
 * Why authorizePublish: aedes writes the QoS 1 PUBACK, and the QoS 2 PUBREC, only after this hook
 * calls back (node_modules/aedes/lib/handlers/publish.js: publishActions = [authorizePublish,
 * enqueuePublish]). Calling back after `log.append` resolves therefore makes the acknowledgement
 * mean "durable" [MQTT-4.3.2-2, MQTT-4.3.3-2]. Calling back with an error makes aedes destroy the
 * connection without acknowledging, which is how MQTT 3.1.1 refuses a PUBLISH [MQTT-3.3.5-2]. The
 * MQTT 5 handler (src/ingest/mqtt5/) calls `authorize` the same way; its connections have
 * `negativeAcks`, so a refusal becomes a reason code in FIFO order and the connection goes on.
 *
 * Ordering: aedes parses one socket read at a time and dispatches every packet of that read
 * synchronously, in wire order, then waits for all of their callbacks before reading the socket
 * again (lib/client.js: enqueue/nextBatch). The MQTT 5 handler dispatches in wire order too, and
 * reads ahead while fewer than a bounded number of packets wait. We admit packets into a
 * per-client FIFO in that order and append in FIFO order; the log assigns offsets in call order, so
 * a device's records keep their order whatever the commit latency. Acknowledgements are released strictly in FIFO order as well
 * (MQTT 3.1.1 §4.6 [MQTT-4.6.0-2]: PUBACKs in the order the PUBLISHes were received).
 *
 * Backpressure: while a client's FIFO waits (rate bucket empty, or maxInflightPerClient reached, or
 * the disk is slow), its callbacks are pending, so aedes does not read that socket: TCP flow
 * control pushes back on the device. Nothing is dropped. (MQTT 5 with publishRate.overLimitMqtt5
 * "refuse": a PUBLISH over the rate is answered 0x97 in its turn instead of waiting.) We refresh aedes' keepalive timer while we
 * hold a client's packets, so a stall on our side never looks like a silent client [MQTT-3.1.2-24].
 */
import type { Logger } from 'pino';
import type { DeviceIdentity } from '../devices/index.ts';
import { isOutpostError, OutpostError } from '../errors.ts';
import type { PartitionedLog } from '../log/index.ts';
import { afterWrites, countAppended, rateRefusal, refusalEntry, rejectedEntry } from './append-steps.ts';
import { DeviceRateBuckets } from './device-rate.ts';
import { GroupAppender } from './group-append.ts';
import type { IngestMetrics, RateWindow, RefusalReason } from './metrics.ts';
import { admittedRecord, REFUSAL_TEXT, refreshKeepalive, resolveTopic } from './resolve.ts';
import { compileFilters } from './routing.ts';
import type {
  Admitted,
  AedesClientLike,
  Callback,
  ClientState,
  PipelineSettings,
  PublishPacketLike,
} from './types.ts';

export interface PipelineDeps {
  log: PartitionedLog;
  logger: Logger;
  metrics: IngestMetrics;
  rate: RateWindow;
  /** Called once per refusal: counts and (unless `log` is false) logs it. */
  refuse: (reason: RefusalReason, fields: Record<string, unknown>, log?: boolean) => void;
  byTopic: Map<string, { messages: number; bytes: number }>;
  /**
   * Sessions on: this QoS 2 id of this client was appended and answered PUBREC by an earlier
   * connection (or process), awaiting PUBREL: a resend is acknowledged, not appended [MQTT-4.3.3-2].
   */
  qos2Held?: (client: AedesClientLike, messageId: number) => boolean;
}

export class PublishPipeline {
  #deps: PipelineDeps;
  #settings: PipelineSettings;
  #buckets = new DeviceRateBuckets();
  #appender: GroupAppender;
  /** Clients with packets held or in flight (keepalive refresh, drain). */
  #busy = new Set<ClientState>();
  #keepaliveTimer: NodeJS.Timeout;
  #holding = false;
  /** Bumped on reload: invalidates every connection's route cache. */
  #generation = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(deps: PipelineDeps, settings: PipelineSettings) {
    this.#deps = deps;
    this.#settings = settings;
    this.#appender = new GroupAppender(deps.log, (batch, err, reason) => this.#complete(batch, err, reason));
    this.#keepaliveTimer = setInterval(() => {
      for (const s of this.#busy) refreshKeepalive(s.client);
    }, 1000);
    this.#keepaliveTimer.unref();
  }

  /** New routes/limits. The caller re-applies identities of live connections (rates) afterwards. */
  configure(settings: PipelineSettings): void {
    this.#settings = settings;
    this.#generation++;
  }

  newState(client: AedesClientLike, identity: DeviceIdentity): ClientState {
    const bucketKey = identity.deviceId === null ? `anon:${client.id}` : `dev:${identity.deviceId}`;
    const state: ClientState = {
      client,
      identity,
      bucketKey,
      overrides: [],
      clientIdBuf: Buffer.from(client.id),
      deviceIdBuf: identity.deviceId === null ? null : Buffer.from(identity.deviceId),
      queue: [],
      acks: [],
      inflight: 0,
      closed: false,
      doomed: false,
      negativeAcks: false,
      rateRefused: 0,
      timer: null,
      routeCache: new Map(),
      routeGeneration: -1,
      bucket: this.#buckets.get(bucketKey, this.#settings.limits.publishRate),
    };
    this.setIdentity(state, identity);
    return state;
  }

  /** Applies (possibly changed) per-device overrides: extra topic filters and rate. */
  setIdentity(state: ClientState, identity: DeviceIdentity): void {
    state.identity = identity;
    state.routeGeneration = -1;
    const { patterns, invalid } = compileFilters(identity.overrides?.topics ?? []);
    state.overrides = patterns;
    if (invalid.length > 0) {
      this.#deps.logger.warn(
        { deviceId: identity.deviceId, invalid },
        'ignoring invalid device topic overrides',
      );
    }
    state.bucket.setSpec(identity.overrides?.rate ?? this.#settings.limits.publishRate);
  }

  /** The authorizePublish body. `state` is null for a will published after its client is gone. */
  authorize(
    state: ClientState | null,
    client: AedesClientLike | null,
    packet: PublishPacketLike,
    cb: Callback,
  ): void {
    // A refused connection closes once what came before the refusal is acknowledged: packets after
    // it (same socket read) are never appended and never acknowledged.
    // A will (MQTT 5 marks it; aedes publishes it once the client is closed) still goes on: a
    // connection the server closes for a refusal publishes its will [MQTT-3.1.2-8].
    if (state?.doomed && packet.isWill !== true && client?.closed !== true) return;
    const received = performance.now();
    const topic = packet.topic;
    // Steps 1-3 depend only on (topic, settings, identity): resolved once per topic and connection.
    const resolved = resolveTopic(state, topic, this.#settings, this.#generation);
    if (typeof resolved === 'string') {
      this.#refuse(state, client, packet, cb, resolved, REFUSAL_TEXT[resolved] ?? resolved);
      return;
    }
    if (packet.invalid !== undefined) {
      this.#refuse(state, client, packet, cb, packet.invalid, REFUSAL_TEXT[packet.invalid] ?? packet.invalid);
      return;
    }
    // The payload is aedes' own Buffer (a slice of the read): kept as is, copied once, by the encoder.
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (payload.length > this.#settings.limits.maxPayloadBytes) {
      this.#refuse(state, client, packet, cb, 'too-large', 'payload too large');
      return;
    }
    // Step 4: the record (it is the Admitted itself; headers come precomputed per connection and topic).
    const pending = admittedRecord(resolved, state, client, packet, payload, received, cb);
    if (!pending.skip && packet.qos === 2 && packet.messageId !== undefined && client !== null) {
      pending.skip = this.#deps.qos2Held?.(client, packet.messageId) === true;
    }
    // Retained messages are recorded (mqtt.retain header). Unless sessions forward device publishes
    // they are not kept by the broker: nobody would get them. Clearing the flag stops aedes'
    // retained store from growing.
    if (!this.#settings.keepRetained) packet.retain = false;
    // Isolation: a record the log would refuse is refused here, for this connection alone, before it
    // can join (and fail) a group commit shared with other devices.
    const invalid = this.#deps.log.validate(pending);
    if (invalid !== null) {
      this.#refuse(state, client, packet, cb, 'record-invalid', invalid.message);
      return;
    }
    if (state === null || state.closed || client?.closed) {
      // A will, published by aedes after its connection closed: nothing left to order against.
      this.#appender.add(pending);
      return;
    }
    pending.state = state;
    // Step 5: admit in arrival order.
    this.#enqueue(state, pending);
  }

  /**
   * Why a will (checked at CONNECT, published when the connection dies) could not be appended, as a
   * PUBLISH on its topic would be refused: route, ACL, topic limits, size. Null when it can.
   */
  willRefusal(state: ClientState, will: { topic: string; payload: Buffer | string }): RefusalReason | null {
    const resolved = resolveTopic(state, will.topic, this.#settings, this.#generation);
    if (typeof resolved === 'string') return resolved;
    if (Buffer.byteLength(will.payload) > this.#settings.limits.maxPayloadBytes) return 'too-large';
    return null;
  }

  #refuse(
    state: ClientState | null,
    client: AedesClientLike | null,
    packet: PublishPacketLike,
    cb: Callback,
    reason: RefusalReason,
    message: string,
  ): void {
    const clientId = client?.id;
    const topic = packet.topic;
    this.#deps.refuse(reason, {
      clientId,
      deviceId: state?.identity.deviceId ?? undefined,
      topic,
      qos: packet.qos,
    });
    const err = new OutpostError('INGEST_REFUSED', message, {
      reason,
      topic,
      ...(clientId ? { clientId } : {}),
    });
    if (state === null || state.closed || client?.closed) cb(err);
    else if (state.negativeAcks) this.#enqueue(state, rejectedEntry(state, cb, err));
    else this.closeAfterAcks(state, () => cb(err));
  }

  #enqueue(state: ClientState, entry: Admitted): void {
    state.queue.push(entry);
    this.#busy.add(state);
    this.#pump(state);
  }

  /**
   * Closes a connection (through `close`) once every packet it sent before now is acknowledged, in
   * FIFO order [MQTT-4.6.0-2]. Nothing it sends from now on is appended. Used for every refusal of a
   * live connection: a refused packet must not take down the acknowledgements of the packets before it.
   */
  closeAfterAcks(state: ClientState, close: () => void): void {
    if (state.doomed || state.closed) {
      if (!state.doomed) close();
      return;
    }
    state.doomed = true;
    this.#enqueue(
      state,
      refusalEntry(state, () => afterWrites(state.client.conn, close)),
    );
  }

  /** The client's connection is gone: drop held (never appended, never acknowledged) packets. */
  closeState(state: ClientState): void {
    state.closed = true;
    state.queue.length = 0;
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
    if (state.inflight === 0) this.#idle(state);
  }

  /** Stop appending: held packets stay held (unacknowledged) until their clients close. */
  hold(): void {
    this.#holding = true;
  }

  /** Resolves when nothing is in flight (held packets do not count). */
  drained(): Promise<void> {
    if (this.#inflightTotal() === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  close(): void {
    clearInterval(this.#keepaliveTimer);
    for (const s of this.#busy) if (s.timer) clearTimeout(s.timer);
  }

  #inflightTotal(): number {
    let n = this.#appender.waiting();
    for (const s of this.#busy) n += s.inflight;
    return n;
  }

  #pump(state: ClientState): void {
    // aedes marks a client closed synchronously (e.g. taken over by a new connection with the same
    // client id) before its socket's close event: never append for it after that, or its held
    // packets could land after the new connection's and reorder the device.
    if (state.closed || state.client.closed || this.#holding) return;
    const max = this.#settings.limits.maxInflightPerClient;
    while (state.queue.length > 0) {
      if ((state.queue[0] as Admitted).refusal) {
        const refusal = state.queue[0] as Admitted;
        state.queue.length = 0; // nothing queued behind a refusal is appended
        refusal.done = true;
        state.acks.push(refusal);
        this.#releaseAcks(state, performance.now());
        return;
      }
      if (state.inflight >= max) {
        this.#deps.metrics.paused.inc();
        return; // a completion pumps again
      }
      if ((state.queue[0] as Admitted).skip || (state.queue[0] as Admitted).rejected) {
        const dup = state.queue.shift() as Admitted;
        dup.done = true;
        state.acks.push(dup);
        this.#releaseAcks(state, performance.now());
        continue;
      }
      const bucket = state.bucket;
      if (!bucket.tryTake()) {
        if (state.negativeAcks && this.#settings.limits.publishRate.overLimitMqtt5 === 'refuse') {
          // MQTT 5: answered 0x97 in its FIFO turn, never appended; counted each, logged once per connection.
          const refused = rateRefusal(state, state.queue.shift() as Admitted);
          this.#deps.refuse('rate-limited', refused.fields, state.rateRefused === 1);
          state.acks.push(refused.entry);
          this.#releaseAcks(state, performance.now());
          continue;
        }
        if (state.timer === null) {
          this.#deps.metrics.paused.inc();
          state.timer = setTimeout(
            () => {
              state.timer = null;
              refreshKeepalive(state.client);
              this.#pump(state);
            },
            Math.max(1, bucket.waitMs()),
          );
        }
        return;
      }
      const p = state.queue.shift() as Admitted;
      state.inflight++;
      state.acks.push(p);
      this.#appender.add(p);
    }
  }

  /** Release acknowledgements strictly in arrival order [MQTT-4.6.0-2]. */
  #releaseAcks(state: ClientState, now: number): void {
    while (state.acks.length > 0 && (state.acks[0] as Admitted).done) {
      const p = state.acks.shift() as Admitted;
      if (p.err === null && p.qos > 0) this.#deps.metrics.puback.observe((now - p.received) / 1000);
      p.cb(p.err);
    }
  }

  /**
   * An append finished. `reason` is the refusal to count and log for a failed one (null: already
   * counted, for records behind a connection's failed record).
   */
  #complete(batch: Admitted[], err: Error | null, reason?: RefusalReason | null): void {
    const now = performance.now();
    const { metrics, rate, byTopic } = this.#deps;
    if (err === null) {
      rate.add(batch.length);
      countAppended(batch, metrics, byTopic);
    } else if (reason !== null) {
      const why: RefusalReason = reason ?? (isOutpostError(err, 'LOG_FULL') ? 'log-full' : 'append-failed');
      const logFields = isOutpostError(err) ? err.toLog() : { err: err.message };
      // The connections whose records failed, so each victim has a log line that names it.
      const clients = [...new Set(batch.map((p) => p.state?.client.id ?? p.clientId))].slice(0, 20);
      this.#deps.refuse(why, { ...logFields, records: batch.length, clientIds: clients });
    }
    const touched = new Set<ClientState>();
    for (const p of batch) {
      p.done = true;
      p.err = err;
      const state = p.state;
      if (state === null) {
        p.cb(err);
        continue;
      }
      state.inflight--;
      touched.add(state);
    }
    for (const state of touched) {
      // aedes writes each PUBACK synchronously in the callback: cork so a batch leaves in one write.
      state.client.conn.cork?.();
      this.#releaseAcks(state, now);
      state.client.conn.uncork?.();
      refreshKeepalive(state.client);
      if (err !== null && !state.negativeAcks) {
        // The connection closes without acknowledging what it still holds [MQTT-3.3.5-2]. (MQTT 5
        // connections get a reason code for the failed records and go on with the queued ones.)
        state.queue.length = 0;
      }
      if (state.queue.length > 0) this.#pump(state);
      if (state.inflight === 0 && (state.queue.length === 0 || state.closed)) this.#idle(state);
    }
    if (this.#idleWaiters.length > 0 && this.#inflightTotal() === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  #idle(state: ClientState): void {
    this.#busy.delete(state);
    if (state.closed) this.#buckets.release(state.bucketKey, state.bucket);
  }
}
