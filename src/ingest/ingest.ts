/**
 * startIngest: aedes broker + listeners + the publish pipeline, as one lifecycle. Each connection's
 * CONNECT protocol level (sniff.ts) hands it to aedes (3.1, 3.1.1) or to the MQTT 5 handler
 * (mqtt5/); both run the same connect hooks and the same PublishPipeline.
 *
 * Startup steps: compile routes → create broker (hooks) → open listeners → ready.
 * Shutdown steps (stop): stop accepting → refuse new CONNECTs → hold new publishes → wait for
 * in-flight appends to be durable and acknowledged (bounded by timeoutMs) → close clients → close broker.
 */
import type { Client as AedesClient } from 'aedes';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config, ListenerConfig } from '../config/index.ts';
import type { Devices } from '../devices/index.ts';
import type { PartitionedLog } from '../log/index.ts';
import { createBroker, followDeviceChanges } from './broker.ts';
import { connectHooks } from './connect.ts';
import { ConnectionRegistry } from './connections.ts';
import type { Accept, Listener } from './listeners/common.ts';
import { listenTcp } from './listeners/tcp.ts';
import { type HandshakeError, listenTls } from './listeners/tls.ts';
import { listenWs } from './listeners/ws.ts';
import { createMetrics, RateWindow, type RefusalReason } from './metrics.ts';
import { Mqtt5Front } from './mqtt5/front.ts';
import { PublishPipeline } from './pipeline.ts';
import { compileRoutes } from './routing.ts';
import { sniffProtocol } from './sniff.ts';
import type { PipelineSettings } from './types.ts';
import { guardParser, sortErrorReason, violationReason } from './wire.ts';

export interface IngestDeps {
  config: Config;
  log: PartitionedLog;
  devices: Devices;
  logger: Logger;
  metrics: Registry;
}

export interface IngestStatus {
  ready: boolean;
  stopping: boolean;
  listeners: Array<{ type: 'tcp' | 'tls' | 'ws'; host: string; port: number }>;
  connections: number;
  connectedDevices: number;
  /** Durably appended, by log topic, since start. */
  topics: Record<string, { messages: number; bytes: number }>;
  refusals: Partial<Record<RefusalReason, number>>;
  /** Appended messages per second over the last 10 s. */
  msgsPerSecond: number;
  logFull: boolean;
}

export interface Ingest {
  addresses(): Array<{ type: 'tcp' | 'tls' | 'ws'; host: string; port: number }>;
  ready(): boolean;
  status(): IngestStatus;
  reload(config: Config): void;
  stop(opts: { timeoutMs: number }): Promise<void>;
}

const LOG_FULL_RECHECK_MS = 1000;

function settingsOf(config: Config): PipelineSettings {
  return { routes: compileRoutes(config.routes), unrouted: config.unrouted, limits: config.mqtt.limits };
}

export async function startIngest(deps: IngestDeps): Promise<Ingest> {
  const { log, devices } = deps;
  const logger = deps.logger.child({ module: 'ingest' });
  let config = deps.config;
  const metrics = createMetrics(deps.metrics);
  const refusals: Partial<Record<RefusalReason, number>> = {};
  const byTopic = new Map<string, { messages: number; bytes: number }>();
  const rate = new RateWindow();

  /** Every refusal: counted by reason and logged once with its context (unless `log` is false). */
  const refuse = (reason: RefusalReason, fields: Record<string, unknown>, log = true): void => {
    metrics.refusals.inc({ reason });
    refusals[reason] = (refusals[reason] ?? 0) + 1;
    if (reason === 'log-full') fullCache = { full: true, at: Date.now() };
    if (log) logger.warn({ reason, ...fields }, `refused: ${reason}`);
  };

  let fullCache = { full: false, at: 0 };
  const logFull = (): boolean => {
    const now = Date.now();
    if (now - fullCache.at >= LOG_FULL_RECHECK_MS) {
      fullCache = { full: log.stats().full, at: now };
    }
    return fullCache.full;
  };

  // Step 1: routes and the pipeline.
  const pipeline = new PublishPipeline({ log, logger, metrics, rate, refuse, byTopic }, settingsOf(config));
  const connections = new ConnectionRegistry(pipeline, metrics);
  let stopping = false;
  let isReady = false;

  // Step 2: the broker and its hooks.
  const hooks = connectHooks({
    devices,
    metaOf: (client) => connections.metaOf(client.conn),
    refuse,
    onAuthenticated: (client, identity) => {
      // A 3.1.1 connection takes over an MQTT 5 one with its client id (MQTT 5 takes over in mqtt5/).
      if (!Mqtt5Front.isMqtt5(client)) mqtt5.takeOver(client.id);
      connections.authenticated(client, identity);
      if (Mqtt5Front.isMqtt5(client)) {
        const state = connections.stateOf(client);
        if (state) state.negativeAcks = true;
      }
    },
    willRefusal: (client) => {
      const state = connections.stateOf(client);
      const will = (client as unknown as { _will?: { topic: string; payload: Buffer | string } })._will;
      return state === undefined || will == null ? null : pipeline.willRefusal(state, will);
    },
    admission: () => ({
      stopping,
      openConnections: connections.openSockets(),
      logFull,
      allowAnonymous: config.mqtt.allowAnonymous,
      limits: config.mqtt.limits,
    }),
  });
  const broker = await createBroker({
    config,
    hooks,
    authorizePublish: (client, packet, callback) =>
      pipeline.authorize(
        client ? (connections.stateOf(client as unknown as AedesClient) ?? null) : null,
        client,
        packet,
        callback,
      ),
    onError: (client, err) => onBrokerError(client, err),
  });
  function onBrokerError(client: AedesClient, err: Error): void {
    const sorted = sortErrorReason(err);
    if (sorted === 'counted') return; // our own refusal, counted where it happened
    const meta = connections.metaOf(client.conn);
    if (sorted === 'noise') {
      logger.debug(
        { clientId: client.id, remoteAddress: meta?.remoteAddress, err: err.message },
        'connection ended',
      );
      return;
    }
    refuse(sorted, { clientId: client.id, remoteAddress: meta?.remoteAddress, err: err.message });
  }

  const mqtt5 = new Mqtt5Front({
    hooks,
    pipeline,
    stateOf: (conn) => connections.stateOf(conn as never),
    refuse,
    limits: () => config.mqtt.limits,
    connectTimeoutMs: config.mqtt.connectTimeoutMs,
    closeAedesClient: (clientId) =>
      (broker as unknown as { clients: Record<string, AedesClient | undefined> }).clients[clientId]?.close(),
    dropState: (conn) => connections.dropState(conn as never),
  });

  const onHandshakeError: HandshakeError = (err, remoteAddress) => {
    refuse('tls-handshake', { listener: 'tls', remoteAddress, err: err.message });
  };

  /** Every connection: its protocol level decides who speaks to it (MQTT 5: mqtt5/; else aedes). */
  const accept: Accept = (stream, meta, req) => {
    connections.accepted(stream, meta);
    const closedEarly = (): void => connections.socketClosed(stream as never);
    stream.once('close', closedEarly);
    sniffProtocol(
      stream,
      config.mqtt.connectTimeoutMs,
      (protocol) => {
        stream.removeListener('close', closedEarly);
        const owner = protocol === 'mqtt5' ? mqtt5.accept(stream, meta) : acceptAedes(stream, meta, req);
        stream.once('close', () => {
          connections.socketClosed(owner as never);
          if (Mqtt5Front.isMqtt5(owner)) owner.publishWill(connections.stateOf(owner as never));
        });
      },
      () => {
        refuse('connect-timeout', { remoteAddress: meta.remoteAddress, listener: meta.listener });
        stream.destroy();
      },
    );
  };

  const acceptAedes = (
    stream: Parameters<Accept>[0],
    meta: Parameters<Accept>[1],
    req: Parameters<Accept>[2],
  ) => {
    const client = broker.handle(stream as never, req as never) as unknown as AedesClient;
    guardParser(
      client,
      () => config.mqtt.limits,
      (err, close) => {
        // Counted and logged once here; aedes reports the error again when `close` hands it over.
        (err as { outpostCounted?: boolean }).outpostCounted = true;
        refuse(violationReason(err), {
          clientId: client.id ?? undefined,
          remoteAddress: meta.remoteAddress,
          listener: meta.listener,
          err: err.message,
        });
        const state = connections.stateOf(client);
        if (state === undefined || state.closed) close();
        else pipeline.closeAfterAcks(state, close);
      },
    );
    return client;
  };

  // Step 3: listeners.
  const listeners: Listener[] = [];
  try {
    for (const l of config.mqtt.listeners) listeners.push(await openListener(l, accept, onHandshakeError));
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    pipeline.close();
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw err;
  }
  logger.info(
    { listeners: listeners.map(({ type, host, port }) => ({ type, host, port })) },
    'MQTT ingest listening',
  );
  isReady = true;

  // Device changes (also from the CLI in another process): revoke or refresh live connections.
  // MQTT 5 gets DISCONNECT 0x98 once what it sent before is acknowledged; 3.1.1 has no such packet.
  const offChange = followDeviceChanges(devices, connections, pipeline, refuse, (state) => {
    const client = state.client as unknown as AedesClient;
    if (Mqtt5Front.isMqtt5(client)) client.revoke();
    else state.client.conn.destroy();
  });

  const addresses = () => listeners.map(({ type, host, port }) => ({ type, host, port }));

  return {
    addresses,
    ready: () => isReady && !stopping,
    status: () => ({
      ready: isReady && !stopping,
      stopping,
      listeners: addresses(),
      connections: connections.counts().connections,
      connectedDevices: connections.counts().devices,
      topics: Object.fromEntries([...byTopic].map(([t, v]) => [t, { ...v }])),
      refusals: { ...refusals },
      msgsPerSecond: rate.perSecond(),
      logFull: logFull(),
    }),
    reload(next: Config) {
      const settings = settingsOf(next); // throws on a bad route before anything changes
      const before = JSON.stringify(config.mqtt.listeners);
      if (JSON.stringify(next.mqtt.listeners) !== before) {
        logger.warn(
          { listeners: next.mqtt.listeners },
          'MQTT listener changes need a restart; keeping the current ones',
        );
      }
      config = next;
      pipeline.configure(settings);
      for (const state of connections.live()) pipeline.setIdentity(state, state.identity);
      logger.info({ routes: next.routes.length, unrouted: next.unrouted }, 'ingest configuration reloaded');
    },
    async stop({ timeoutMs }) {
      if (stopping) return;
      stopping = true;
      isReady = false;
      offChange();
      // Stop accepting; new CONNECTs on already-accepted sockets get CONNACK 3.
      await Promise.all(listeners.map((l) => l.close()));
      // Hold new publishes (never acknowledged; devices resend after reconnecting elsewhere or later).
      pipeline.hold();
      const timedOut = await Promise.race([
        pipeline.drained().then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), timeoutMs).unref()),
      ]);
      if (timedOut)
        logger.warn({ timeoutMs }, 'ingest stop: in-flight appends did not finish in time; closing anyway');
      // Let the last acknowledgements reach the sockets before closing them (destroy drops buffered bytes).
      await new Promise((resolve) => setImmediate(resolve));
      await flushWrites(
        connections.live().map((s) => s.client.conn as never),
        1000,
      );
      mqtt5.closeAll();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      pipeline.close();
      logger.info({ refusals }, 'MQTT ingest stopped');
    },
  };
}

async function flushWrites(
  streams: Array<{ writableLength?: number; once(e: 'drain' | 'close', f: () => void): void }>,
  timeoutMs: number,
): Promise<void> {
  const pending = streams.filter((s) => (s.writableLength ?? 0) > 0);
  if (pending.length === 0) return;
  await Promise.race([
    Promise.all(
      pending.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.once('drain', resolve);
            s.once('close', resolve);
          }),
      ),
    ),
    new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
  ]);
}

function openListener(
  l: ListenerConfig,
  accept: Accept,
  onHandshakeError: HandshakeError,
): Promise<Listener> {
  switch (l.type) {
    case 'tcp':
      return listenTcp(l, accept);
    case 'tls':
      return listenTls(l, accept, onHandshakeError);
    case 'ws':
      return listenWs(l, accept);
  }
}
