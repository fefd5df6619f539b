/**
 * What the named parts of startIngest (ingest.ts) share, and the MQTT 5 parts built on it: the
 * front, its sessions, its wills, and the forwarding of appended publishes to subscribers.
 */
import type { Aedes, Client as AedesClient } from 'aedes';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { Devices } from '../devices/index.ts';
import { OutpostError } from '../errors.ts';
import type { connectHooks } from './connect.ts';
import type { ConnectionRegistry } from './connections.ts';
import type { Refusals } from './lifecycle.ts';
import type { createMetrics, RateWindow } from './metrics.ts';
import { Mqtt5Front } from './mqtt5/front.ts';
import { Mqtt5Sessions } from './mqtt5/session-manager.ts';
import { Mqtt5Wills } from './mqtt5/wills.ts';
import type { PublishPipeline } from './pipeline.ts';
import type { Sessions } from './sessions/sessions.ts';
import type { PublishPacketLike } from './types.ts';

/** What the named parts of startIngest share. */
export interface Core {
  logger: Logger;
  metrics: ReturnType<typeof createMetrics>;
  devices: Devices;
  config: Config;
  refusals: Refusals;
  pipeline: PublishPipeline;
  connections: ConnectionRegistry;
  byTopic: Map<string, { messages: number; bytes: number }>;
  rate: RateWindow;
  stopping: boolean;
  isReady: boolean;
  /** Set once the MQTT 5 front exists (the hooks it runs are built before it). */
  mqtt5: Mqtt5Front | null;
  /** mqtt.sessions on (read at start; changes need a restart). */
  sessions: Sessions | null;
  /** MQTT 5 sessions (mqtt.sessions on), once the broker exists. */
  sessions5: Mqtt5Sessions | null;
  wills5: Mqtt5Wills | null;
}

export function mqtt5Front(
  core: Core,
  hooks: ReturnType<typeof connectHooks>,
  broker: Aedes,
  wills: Mqtt5Wills,
): Mqtt5Front {
  return new Mqtt5Front({
    hooks,
    wills,
    pipeline: core.pipeline,
    stateOf: (conn) => core.connections.stateOf(conn as never),
    refuse: core.refusals.refuse,
    limits: () => core.config.mqtt.limits,
    connectTimeoutMs: core.config.mqtt.connectTimeoutMs,
    sessions: core.sessions5,
    forward:
      core.sessions5 !== null && core.config.mqtt.sessions.forwardDevicePublishes
        ? (packet, conn) => forward5(broker, packet, conn.id)
        : null,
    closeAedesClient: (clientId) =>
      (broker as unknown as { clients: Record<string, AedesClient | undefined> }).clients[clientId]?.close(),
    dropState: (conn) => core.connections.dropState(conn as never),
  });
}

export async function mqtt5Sessions(core: Core, sessions: Sessions, broker: Aedes): Promise<Mqtt5Sessions> {
  const clients = (broker as unknown as { clients: Record<string, AedesClient | undefined> }).clients;
  const manager = new Mqtt5Sessions({
    sessions,
    broker,
    config: () => core.config.mqtt.sessions,
    metrics: core.metrics,
    logger: core.logger,
    refuse: core.refusals.refuse,
    online311: (clientId) => clients[clientId] !== undefined,
  });
  await manager.start();
  return manager;
}

/** MQTT 5 wills: appended with their connection's state while this process has it, then forwarded. */
export function mqtt5Wills(core: Core, broker: Aedes): Mqtt5Wills {
  const forward = core.sessions5 !== null && core.config.mqtt.sessions.forwardDevicePublishes;
  return new Mqtt5Wills({
    dbs: core.sessions?.persistence.dbs ?? null,
    publish: (packet, clientId, from) =>
      new Promise((resolve, reject) => {
        const client = from?.client ?? { id: clientId, closed: true, conn: { destroy() {} } };
        core.pipeline.authorize(from?.state ?? null, client as never, packet, (err) => {
          if (err) return reject(err); // a refusal is counted there
          if (forward) forward5(broker, packet, clientId);
          resolve();
        });
      }),
    deviceEnabled: (deviceId) => core.devices.get(deviceId)?.enabled === true,
    outcomes: core.metrics.willOutcomes,
    waiting: core.metrics.willsWaiting,
    logger: core.logger.child({ part: 'mqtt5-wills' }),
  });
}

/** An MQTT 5 PUBLISH (or will), appended: on to subscribers, its publisher named for No Local. */
function forward5(broker: Aedes, packet: PublishPacketLike, clientId: string): void {
  const props = (packet as { properties?: Record<string, unknown> }).properties;
  const out = {
    cmd: 'publish',
    topic: packet.topic,
    payload: packet.payload,
    qos: packet.qos,
    retain: packet.retain,
    dup: false,
    clientId,
    ...(props === undefined ? {} : { properties: props }),
  };
  const publish = broker.publish as unknown as (p: unknown, c: unknown, d: () => void) => void;
  publish.call(broker, out, { id: clientId }, () => {});
}

/** aedes asks to publish `packet` for `client`: if it is the client's will, it is counted as published. */
export function countWill311(core: Core, client: unknown, packet: unknown): void {
  if (client !== null && (client as { will?: unknown }).will === packet) {
    core.metrics.willOutcomes.inc({ outcome: 'published' });
  }
}

/** 3.1.1 wills that a DISCONNECT discards [MQTT-3.14.4-3] are counted as discarded. */
export function watchWills311(core: Core, broker: Aedes): void {
  const withWill = new WeakSet<object>();
  broker.on('client', (client) => {
    if ((client as { will?: unknown }).will) withWill.add(client);
  });
  broker.on('clientDisconnect', (client) => {
    if ((client as { _disconnected?: boolean })._disconnected === true && withWill.has(client)) {
      core.metrics.willOutcomes.inc({ outcome: 'discarded' });
    }
  });
}

/**
 * A 3.1.1 will stored by a connection the previous process lost: appended, then forwarded if
 * configured. The will of a device disabled or removed meanwhile is discarded (as MQTT 5 ones are).
 */
export function replayWill(
  core: Core,
  broker: Aedes,
  will: PublishPacketLike,
  clientId: string,
): Promise<void> {
  const deviceId = will.willDeviceId;
  if (deviceId !== undefined && core.devices.get(deviceId)?.enabled !== true) {
    core.metrics.willOutcomes.inc({ outcome: 'discarded' });
    return Promise.reject(
      new OutpostError('DEVICE_UNKNOWN', `will discarded: device ${deviceId} is disabled or removed`),
    );
  }
  core.metrics.willOutcomes.inc({ outcome: 'published' });
  const client = { id: clientId, closed: true, conn: { destroy() {} } };
  return new Promise((resolve, reject) => {
    core.pipeline.authorize(null, client, will, (err) => {
      if (err) return reject(err);
      if (!core.config.mqtt.sessions.forwardDevicePublishes) return resolve();
      broker.publish(will as never, (e?: Error | null) => (e ? reject(e) : resolve()));
    });
  });
}
