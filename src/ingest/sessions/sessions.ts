/**
 * Durable sessions (mqtt.sessions): the subscription ACL behind aedes' authorizeSubscribe (and the
 * MQTT 5 front's SUBSCRIBE, src/ingest/mqtt5/session.ts), the LMDB persistence (persistence.ts), the
 * downlink (downlink.ts), and the startup replay of 3.1.1 wills whose connections died with the
 * previous process.
 *
 * ACL: an authenticated device may subscribe to a filter within one of mqtt.sessions.deviceFilters
 * with `{deviceId}` replaced by its id (default devices/{deviceId}/commands/#); an anonymous client
 * (mqtt.allowAnonymous) to one within mqtt.sessions.anonymousFilters. Anything else is answered
 * 0x80 in the SUBACK [MQTT-3.9.3-2] and counted as subscribe-denied, for that client alone.
 */
import type { Aedes, Client as AedesClient } from 'aedes';
import type { Logger } from 'pino';
import type { SessionsConfig } from '../../config/index.ts';
import type { DeviceIdentity } from '../../devices/index.ts';
import type { Refuse } from '../lifecycle.ts';
import type { IngestMetrics } from '../metrics.ts';
import type { PublishPacketLike } from '../types.ts';
import { BrokerDownlink } from './downlink.ts';
import { filterWithin, renderFilter } from './filters.ts';
import { type DropReason, LmdbPersistence } from './persistence.ts';

const DROP_TEXT: Record<DropReason, string> = {
  'queue-full': 'session queue full: message not queued',
  'retained-full': 'retained store full: message not kept',
  expired: 'message expired before it was sent: not sent',
  'too-large': "message over the client's Maximum Packet Size: not sent",
};

import type { StoreHost } from './store.ts';

export interface SessionsDeps {
  config: SessionsConfig;
  host: StoreHost;
  logger: Logger;
  metrics: IngestMetrics;
  refuse: Refuse;
  /** The identity a connection authenticated with (undefined before authentication). */
  identityOf: (client: object) => DeviceIdentity | undefined;
}

/** Queue-full drops of one session are logged once until its queue has room again. */
type DropLog = Set<string>;

export class Sessions {
  readonly persistence: LmdbPersistence;
  readonly #deps: SessionsDeps;
  readonly #logger: Logger;
  readonly #dropLogged: DropLog = new Set();
  #downlink: BrokerDownlink | null = null;

  constructor(deps: SessionsDeps) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ part: 'sessions' });
    this.persistence = new LmdbPersistence(deps.host, {
      allowed: (client, filter) => this.allowed(this.#deps.identityOf(client), filter),
      maxQueued: () => this.#deps.config.maxQueuedPerSession,
      maxRetained: () => this.#deps.config.maxRetained,
      dropped: (reason, clientId, topic) => this.#dropped(reason, clientId, topic),
      inTransaction: (counter, stored) => this.#downlink?.inTransaction(counter, stored),
      enqueued: (counter, stored, dropped) => this.#downlink?.enqueued(counter, stored, dropped),
      acked: (client, messageId) => {
        this.#dropLogged.delete(client.id);
        this.#downlink?.acked(client, messageId);
      },
      deviceOf: (client) => this.#deps.identityOf(client)?.deviceId ?? undefined,
    });
    deps.metrics.sessionStats.source = () => this.persistence.stats();
  }

  /** Once the broker exists: the downlink publishes through it. */
  attach(broker: Aedes): BrokerDownlink {
    this.#downlink = new BrokerDownlink(broker, this.persistence);
    return this.#downlink;
  }

  downlink(): BrokerDownlink | null {
    return this.#downlink;
  }

  /** The identity a connection authenticated with (MQTT 5 connections too). */
  identityOf(client: object): DeviceIdentity | undefined {
    return this.#deps.identityOf(client);
  }

  /** A copy not queued for a session (MQTT 5 clean sessions beyond their bound too): counted, logged. */
  dropped(reason: DropReason, clientId: string | null, topic: string): void {
    this.#dropped(reason, clientId, topic);
  }

  /** The subscription ACL (no counting). */
  allowed(identity: DeviceIdentity | undefined, filter: string): boolean {
    if (identity === undefined) return false;
    const { deviceFilters, anonymousFilters } = this.#deps.config;
    if (identity.anonymous || identity.deviceId === null) {
      return anonymousFilters.some((a) => filterWithin(filter, a));
    }
    const id = identity.deviceId;
    return deviceFilters.some((t) => filterWithin(filter, renderFilter(t, id)));
  }

  /** aedes authorizeSubscribe: granted as asked, or 0x80 (counted and logged for this client). */
  authorizeSubscribe = (
    client: AedesClient | null,
    sub: { topic: string; qos: number },
    callback: (err: Error | null, sub: { topic: string; qos: number } | null) => void,
  ): void => {
    const identity = client ? this.#deps.identityOf(client) : undefined;
    if (this.allowed(identity, sub.topic)) {
      callback(null, sub);
      return;
    }
    this.#deps.refuse('subscribe-denied', {
      clientId: client?.id,
      deviceId: identity?.deviceId ?? undefined,
      filter: sub.topic,
    });
    callback(null, null);
  };

  /** An aedes connection authenticated: downlink copies to it are accounted for. */
  onAuthenticated(client: object): void {
    this.#downlink?.watch(client);
  }

  /** A QoS 2 PUBLISH id this client had appended and answered PUBREC, awaiting PUBREL [MQTT-4.3.3-2]. */
  holdsIncoming(clientId: string, messageId: number): boolean {
    return this.persistence.holdsIncoming(clientId, messageId);
  }

  /**
   * Before the listeners open: every stored will belongs to a connection that died with the previous
   * process, so each is published now (appended like a will, then forwarded) and deleted. A crash
   * between the append and the delete publishes it again at the next start (at least once).
   */
  async replayWills(publish: (will: PublishPacketLike, clientId: string) => Promise<void>): Promise<number> {
    const wills = this.persistence.wills();
    for (const will of wills) {
      const packet: PublishPacketLike = {
        topic: will.topic,
        payload: will.payload,
        qos: will.qos as 0 | 1 | 2,
        retain: will.retain,
        isWill: true,
        ...(will.deviceId === undefined ? {} : { willDeviceId: will.deviceId }),
      };
      try {
        await publish(packet, will.clientId);
      } catch (err) {
        // Refused (route, log full, …): counted and logged by the pipeline; not retried.
        this.#logger.warn(
          { clientId: will.clientId, topic: will.topic, err: String(err) },
          'stored will not published',
        );
      }
      await this.persistence.delWill({ id: will.clientId });
    }
    if (wills.length > 0)
      this.#logger.info({ wills: wills.length }, 'wills of connections lost in a crash published');
    return wills.length;
  }

  stop(): void {
    this.#downlink?.stop();
    this.#deps.metrics.sessionStats.source = null;
  }

  #dropped(reason: DropReason, clientId: string | null, topic: string): void {
    this.#deps.metrics.sessionDropped.inc({ reason });
    if (clientId !== null && this.#dropLogged.has(clientId)) return;
    if (clientId !== null) this.#dropLogged.add(clientId);
    this.#logger.warn(
      {
        reason,
        clientId: clientId ?? undefined,
        topic,
        note: 'further drops for this session are counted, logged again once it acknowledges',
      },
      DROP_TEXT[reason],
    );
  }
}
