/**
 * The aedes broker of ingest (options, hooks, the publish short-cut, error events), and the
 * device-change follower that revokes or refreshes live connections.
 */
import { Aedes, type Client as AedesClient } from 'aedes';
import type { Config } from '../config/index.ts';
import type { Devices } from '../devices/index.ts';
import type { connectHooks } from './connect.ts';
import type { ConnectionRegistry } from './connections.ts';
import type { RefusalReason } from './metrics.ts';
import type { PublishPipeline } from './pipeline.ts';
import type { Sessions } from './sessions/sessions.ts';
import type { AedesClientLike, Callback, ClientState, PublishPacketLike } from './types.ts';

export interface BrokerDeps {
  config: Config;
  hooks: ReturnType<typeof connectHooks>;
  authorizePublish: (client: AedesClientLike | null, packet: PublishPacketLike, cb: Callback) => void;
  onError: (client: AedesClient, err: Error) => void;
  /** mqtt.sessions on: the LMDB persistence and the subscription ACL. Null: ingest only. */
  sessions: Sessions | null;
}

export async function createBroker(deps: BrokerDeps): Promise<Aedes> {
  const { config, hooks, sessions } = deps;
  const broker = new Aedes({
    id: 'outpost',
    concurrency: 1000,
    connectTimeout: config.mqtt.connectTimeoutMs,
    drainTimeout: config.mqtt.drainTimeoutMs,
    heartbeatInterval: 60_000,
    maxClientsIdLength: config.mqtt.limits.maxClientIdLength,
    // Our own level check (counted) runs in authorizePublish; aedes' hard ceiling stays at 100.
    maxTopicLevels: 100,
    preConnect: hooks.preConnect as never,
    authenticate: hooks.authenticate,
    authorizeSubscribe: (sessions?.authorizeSubscribe ?? hooks.authorizeSubscribe) as never,
    authorizePublish: (client, packet, callback) =>
      deps.authorizePublish(client as never, packet as never, callback),
    ...(sessions === null
      ? {
          // Nothing subscribes, so nothing is forwarded; keep it that way even if a hook changes.
          authorizeForward: () => null as never,
        }
      : { persistence: sessions.persistence as never }),
  });
  await broker.listen();
  // Device publishes and wills are in the log by the time aedes forwards them (authorizePublish
  // calls back after the append). Sessions off, or sessions.forwardDevicePublishes off: they go no
  // further (nothing subscribes, or subscribers get only broker messages), so aedes' forwarding
  // pipeline (retained store, offline queues, mqemitter) has nothing to do for them.
  // Broker-internal publishes ($SYS, the downlink), which carry no client, go through it.
  // aedes' runtime signature is publish(packet, client?, done); its typings only know (packet, done).
  const forward = sessions !== null && config.mqtt.sessions.forwardDevicePublishes;
  const brokerPublish = broker.publish.bind(broker) as unknown as (
    p: unknown,
    c: unknown,
    d: unknown,
  ) => void;
  broker.publish = ((packet: unknown, client: unknown, done?: (err?: Error | null) => void) => {
    if (forward || client === null || client === undefined || typeof client === 'function') {
      brokerPublish(packet, client, done);
      return;
    }
    done?.(null);
  }) as unknown as typeof broker.publish;
  broker.on('clientError', (client: AedesClient, err: Error) => deps.onError(client, err));
  broker.on('connectionError', (client: AedesClient, err: Error) => deps.onError(client, err));
  return broker;
}

/**
 * Revokes (disabled, removed) or refreshes (overrides) a device's live connections on every change.
 * `revoke` closes one connection (counted here): MQTT 3.1.1 at once, MQTT 5 with DISCONNECT 0x98.
 */
export function followDeviceChanges(
  devices: Devices,
  connections: ConnectionRegistry,
  pipeline: PublishPipeline,
  refuse: (reason: RefusalReason, fields: Record<string, unknown>) => void,
  revoke: (state: ClientState) => void,
): () => void {
  return devices.onChange((deviceId) => {
    const live = connections.ofDevice(deviceId);
    if (live.length === 0) return;
    const info = devices.get(deviceId);
    for (const state of live) {
      if (!info?.enabled) {
        refuse('device-revoked', { deviceId, clientId: state.client.id });
        revoke(state);
      } else {
        // The stored overrides replace the old ones, also when there are none now (a device removed
        // and re-added by another process between two polls must not keep its old topics or rate).
        pipeline.setIdentity(state, {
          deviceId,
          anonymous: false,
          ...(info.overrides === undefined ? {} : { overrides: info.overrides }),
        });
      }
    }
  });
}
