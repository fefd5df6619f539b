/**
 * startIngest: aedes broker + listeners + the publish pipeline, as one lifecycle. Each connection's
 * CONNECT protocol level (sniff.ts) hands it to aedes (3.1, 3.1.1) or to the MQTT 5 handler
 * (mqtt5/); both run the same connect hooks and the same PublishPipeline.
 *
 * Startup steps: compile routes → create broker (hooks) → open listeners → ready.
 * Shutdown steps (stop, lifecycle.ts): stop accepting → refuse new CONNECTs → hold new publishes →
 * wait for in-flight appends to be durable and acknowledged (bounded by timeoutMs) → close clients →
 * close broker.
 */
import type { Aedes, Client as AedesClient } from 'aedes';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/index.ts';
import type { Devices } from '../devices/index.ts';
import type { PartitionedLog } from '../log/index.ts';
import { acceptor } from './accept.ts';
import { createBroker, followDeviceChanges } from './broker.ts';
import { connectHooks } from './connect.ts';
import { ConnectionRegistry } from './connections.ts';
import { openListeners, refusalBook, stopSequence } from './lifecycle.ts';
import type { Listener } from './listeners/common.ts';
import type { HandshakeError } from './listeners/tls.ts';
import { createMetrics, RateWindow, type RefusalReason } from './metrics.ts';
import { Mqtt5Front } from './mqtt5/front.ts';
import { PublishPipeline } from './pipeline.ts';
import { compileRoutes } from './routing.ts';
import type { Downlink } from './sessions/downlink.ts';
import { Sessions } from './sessions/sessions.ts';
import type { PipelineSettings } from './types.ts';
import { sortErrorReason } from './wire.ts';
import {
  type Core,
  countWill311,
  mqtt5Front,
  mqtt5Sessions,
  mqtt5Wills,
  replayWill,
  watchWills311,
} from './wiring.ts';

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
  /** Broker-to-device messages (mqtt.sessions on); null when sessions are off. */
  downlink(): Downlink | null;
}

function settingsOf(config: Config): PipelineSettings {
  const { sessions } = config.mqtt;
  return {
    routes: compileRoutes(config.routes),
    unrouted: config.unrouted,
    limits: config.mqtt.limits,
    keepRetained: sessions.enabled && sessions.forwardDevicePublishes,
  };
}

/** Step 1: metrics, refusal book, sessions (if on), routes and the pipeline. */
function newCore(deps: IngestDeps): Core {
  const logger = deps.logger.child({ module: 'ingest' });
  const metrics = createMetrics(deps.metrics);
  const refusals = refusalBook(deps.log, metrics, logger);
  const byTopic = new Map<string, { messages: number; bytes: number }>();
  const rate = new RateWindow();
  const sessions = deps.config.mqtt.sessions.enabled
    ? new Sessions({
        config: deps.config.mqtt.sessions,
        host: deps.log,
        logger,
        metrics,
        refuse: refusals.refuse,
        identityOf: (client) => core.connections.stateOf(client as AedesClient)?.identity,
      })
    : null;
  const pipeline = new PublishPipeline(
    {
      log: deps.log,
      logger,
      metrics,
      rate,
      refuse: refusals.refuse,
      byTopic,
      // MQTT 5 connections keep their own QoS 2 state (mqtt5/), never aedes'.
      qos2Held: (client, id) =>
        !Mqtt5Front.isMqtt5(client as never) && sessions?.holdsIncoming(client.id, id) === true,
    },
    settingsOf(deps.config),
  );
  const core: Core = {
    logger,
    metrics,
    devices: deps.devices,
    config: deps.config,
    refusals,
    pipeline,
    connections: new ConnectionRegistry(pipeline, metrics),
    byTopic,
    rate,
    stopping: false,
    isReady: false,
    mqtt5: null,
    sessions,
    sessions5: null,
    wills5: null,
  };
  return core;
}

export async function startIngest(deps: IngestDeps): Promise<Ingest> {
  const core = newCore(deps);
  const { pipeline, refusals, logger, sessions } = core;
  // Step 2: the broker and its hooks, and the MQTT 5 front that runs the same hooks.
  const hooks = brokerHooks(core);
  const broker = await createBroker({
    config: core.config,
    hooks,
    authorizePublish: (client, packet, callback) => {
      countWill311(core, client, packet);
      pipeline.authorize(
        client ? (core.connections.stateOf(client as unknown as AedesClient) ?? null) : null,
        client,
        packet,
        callback,
      );
    },
    onError: (client, err) => onBrokerError(core, client, err),
    sessions,
  });
  watchWills311(core, broker);
  sessions?.attach(broker);
  if (sessions) await sessions.replayWills((will, clientId) => replayWill(core, broker, will, clientId));
  core.sessions5 = sessions ? await mqtt5Sessions(core, sessions, broker) : null;
  const wills5 = mqtt5Wills(core, broker);
  core.wills5 = wills5;
  await wills5.start();
  const mqtt5 = mqtt5Front(core, hooks, broker, wills5);
  core.mqtt5 = mqtt5;
  const onHandshakeError: HandshakeError = (err, remoteAddress) => {
    refusals.refuse('tls-handshake', { listener: 'tls', remoteAddress, err: err.message });
  };
  const accept = acceptor({
    config: () => core.config,
    broker,
    mqtt5,
    connections: core.connections,
    pipeline,
    refuse: refusals.refuse,
  });
  // Step 3: listeners.
  const listeners = await openListeners(core.config.mqtt.listeners, accept, onHandshakeError, async () => {
    pipeline.close();
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  });
  logger.info(
    { listeners: listeners.map(({ type, host, port }) => ({ type, host, port })) },
    'MQTT ingest listening',
  );
  core.isReady = true;
  // Device changes (also from the CLI in another process): revoke or refresh live connections.
  // MQTT 5 gets DISCONNECT 0x98 once what it sent before is acknowledged; 3.1.1 has no such packet.
  // Either way the will is discarded: it would speak for a device that may no longer speak.
  const offChange = followDeviceChanges(
    core.devices,
    core.connections,
    pipeline,
    refusals.refuse,
    (state) => {
      const client = state.client as unknown as AedesClient;
      if (Mqtt5Front.isMqtt5(client)) client.revoke();
      else {
        (client as unknown as { will: unknown }).will = null; // aedes publishes `will` on close
        void sessions?.persistence.delWill({ id: client.id }).catch(() => {});
        state.client.conn.destroy();
      }
    },
  );
  return ingestFace(core, listeners, broker, offChange);
}

/** The CONNECT hooks, wired to the connection registry and the pipeline. */
function brokerHooks(core: Core): ReturnType<typeof connectHooks> {
  const { connections, pipeline } = core;
  return connectHooks({
    devices: core.devices,
    metaOf: (client) => connections.metaOf(client.conn),
    refuse: core.refusals.refuse,
    onAuthenticated: (client, identity) => {
      // A 3.1.1 connection takes over an MQTT 5 one with its client id (MQTT 5 takes over in mqtt5/).
      if (!Mqtt5Front.isMqtt5(client)) {
        core.mqtt5?.takeOver(client.id);
        core.wills5?.reconnected(client.id, core.sessions === null || client.clean !== false);
        core.sessions5?.claimedBy311(client.id);
      }
      connections.authenticated(client, identity);
      if (!Mqtt5Front.isMqtt5(client)) core.sessions?.onAuthenticated(client);
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
      stopping: core.stopping,
      openConnections: connections.openSockets(),
      logFull: core.refusals.logFull,
      allowAnonymous: core.config.mqtt.allowAnonymous,
      limits: core.config.mqtt.limits,
    }),
  });
}

function onBrokerError(core: Core, client: AedesClient, err: Error): void {
  const sorted = sortErrorReason(err);
  if (sorted === 'counted') return; // our own refusal, counted where it happened
  const meta = core.connections.metaOf(client.conn);
  if (sorted === 'noise') {
    core.logger.debug(
      { clientId: client.id, remoteAddress: meta?.remoteAddress, err: err.message },
      'connection ended',
    );
    return;
  }
  core.refusals.refuse(sorted, { clientId: client.id, remoteAddress: meta?.remoteAddress, err: err.message });
}

/** The Ingest the service sees: status, reload and the stop sequence. */
function ingestFace(core: Core, listeners: Listener[], broker: Aedes, offChange: () => void): Ingest {
  const { connections, pipeline, logger } = core;
  const addresses = () => listeners.map(({ type, host, port }) => ({ type, host, port }));
  return {
    addresses,
    downlink: () => core.sessions?.downlink() ?? null,
    ready: () => core.isReady && !core.stopping,
    status: () => ({
      ready: core.isReady && !core.stopping,
      stopping: core.stopping,
      listeners: addresses(),
      connections: connections.counts().connections,
      connectedDevices: connections.counts().devices,
      topics: Object.fromEntries([...core.byTopic].map(([t, v]) => [t, { ...v }])),
      refusals: { ...core.refusals.counts },
      msgsPerSecond: core.rate.perSecond(),
      logFull: core.refusals.logFull(),
    }),
    reload(next: Config) {
      const settings = settingsOf(next); // throws on a bad route before anything changes
      if (JSON.stringify(next.mqtt.listeners) !== JSON.stringify(core.config.mqtt.listeners)) {
        logger.warn(
          { listeners: next.mqtt.listeners },
          'MQTT listener changes need a restart; keeping the current ones',
        );
      }
      core.config = next;
      pipeline.configure(settings);
      for (const state of connections.live()) pipeline.setIdentity(state, state.identity);
      logger.info({ routes: next.routes.length, unrouted: next.unrouted }, 'ingest configuration reloaded');
    },
    async stop({ timeoutMs }) {
      if (core.stopping) return;
      core.stopping = true;
      core.isReady = false;
      offChange();
      await stopSequence(
        {
          logger,
          listeners,
          hold: () => pipeline.hold(),
          drained: () => pipeline.drained(),
          liveStreams: () => connections.live().map((s) => s.client.conn as never),
          closeClients: async () => {
            const wills = core.wills5?.stop(); // their connections close now: kept for the next start
            core.mqtt5?.closeAll();
            await new Promise<void>((resolve) => broker.close(() => resolve()));
            await core.sessions5?.stop();
            await wills;
          },
          closeRest: () => {
            core.sessions?.stop();
            pipeline.close();
          },
        },
        timeoutMs,
      );
      logger.info({ refusals: core.refusals.counts }, 'MQTT ingest stopped');
    },
  };
}
