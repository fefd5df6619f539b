/**
 * MQTT 5 sessions across connections (mqtt.sessions on), in the store the 3.1.1 side uses
 * (src/ingest/sessions/store.ts, sessions.expiry for the intervals):
 *
 *   CONNECT   Session Expiry Interval asked, clamped to mqtt.sessions.maxSessionExpirySeconds and
 *             said in CONNACK when it differs (§3.2.2.3.2). An expired stored session is removed
 *             first (counted). Clean Start 1 discards the stored one [MQTT-3.1.2-4]; Clean Start 0
 *             resumes it [MQTT-3.1.2-5]. Session Present 1 only when one was resumed [MQTT-3.2.2-2,
 *             MQTT-3.2.2-3]. An open connection with the client id (either protocol) was closed
 *             already (takeover); its session stops delivering before this one starts.
 *   close     expiry > 0: the session stays stored with the time it ended [MQTT-3.1.2-23];
 *             expiry 0: a stored one is removed now (the session ends with its connection).
 *   sweep     at start and every SWEEP_MS: a stored session whose interval passed with no
 *             connection open is removed (subscriptions, queue), counted in
 *             outpost_mqtt_sessions_expired_total. Sessions whose connection was open when the
 *             previous process died count as ended at this start.
 *   3.1.1     a 3.1.1 connection with the client id takes the session over: its expiry entry goes
 *             (3.1.1 sessions never expire; CleanSession 1 removes everything, persistence.ts).
 */
import type { Aedes } from 'aedes';
import type { IConnackPacket, IConnectPacket, Packet } from 'mqtt-packet';
import type { Logger } from 'pino';
import type { SessionsConfig } from '../../config/index.ts';
import type { Refuse } from '../lifecycle.ts';
import type { IngestMetrics } from '../metrics.ts';
import type { DownlinkPeers } from '../sessions/downlink.ts';
import type { Sessions } from '../sessions/sessions.ts';
import { ofClient } from '../sessions/store.ts';
import { Mqtt5Session } from './session.ts';

/** Never expires (§3.1.2.11.2). */
export const NEVER = 0xffffffff;
export const SWEEP_MS = 60_000;
/** The client's Receive Maximum when it sends none (§3.1.2.11.3). */
const DEFAULT_RECEIVE_MAXIMUM = 65535;

export interface Mqtt5SessionsDeps {
  sessions: Sessions;
  broker: Aedes;
  config: () => SessionsConfig;
  metrics: IngestMetrics;
  logger: Logger;
  refuse: Refuse;
  /** A 3.1.1 connection with this client id is open (its session is not to be swept). */
  online311: (clientId: string) => boolean;
}

export interface OpenRequest {
  client: { id: string };
  packet: IConnectPacket;
  write: (p: Packet) => void;
  where: () => Record<string, unknown>;
}

export interface OpenedSession {
  session: Mqtt5Session;
  sessionPresent: boolean;
  /** The Session Expiry Interval in use (seconds). */
  expiry: number;
}

export class Mqtt5Sessions implements DownlinkPeers {
  readonly #deps: Mqtt5SessionsDeps;
  readonly #logger: Logger;
  readonly #live = new Map<string, Mqtt5Session>();
  readonly #pending = new Set<Promise<unknown>>();
  #timer: NodeJS.Timeout | null = null;

  constructor(deps: Mqtt5SessionsDeps) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ part: 'mqtt5-sessions' });
    deps.sessions.downlink()?.setPeers(this);
  }

  /** Sessions open when the previous process died ended now; then the first sweep, and the timer. */
  async start(): Promise<void> {
    const db = this.#dbs().expiry;
    const now = Date.now();
    for (const { key, value } of db.getRange()) {
      if (value.endedAt === 0) await db.put(key, { ...value, endedAt: now });
    }
    await this.sweep();
    this.#timer = setInterval(() => this.#track(this.sweep()), SWEEP_MS);
    this.#timer.unref();
  }

  /** The interval in use for an asked one. */
  clamp(asked: number): number {
    return Math.min(asked, this.#deps.config().maxSessionExpirySeconds);
  }

  async open(req: OpenRequest): Promise<OpenedSession> {
    const { packet } = req;
    const id = req.client.id;
    const expiry = this.clamp(packet.properties?.sessionExpiryInterval ?? 0);
    this.#live.get(id)?.close(); // taken over: it sends nothing more
    this.#live.delete(id);
    const db = this.#dbs().expiry;
    const record = db.get(id);
    if (record !== undefined && expired(record, Date.now())) await this.#expire(id);
    if (packet.clean) await this.#discard(id);
    const sessionPresent = !packet.clean && this.#held(id);
    if (expiry > 0) await db.put(id, { v: 1, expiry, endedAt: 0 });
    else if (db.doesExist(id)) await db.remove(id);
    const { sessions } = this.#deps;
    const session = new Mqtt5Session({
      client: req.client,
      stored: expiry > 0 || sessionPresent,
      store: sessions.persistence,
      broker: this.#deps.broker,
      downlink: sessions.downlink(),
      allowed: (filter) => sessions.allowed(this.#identityOf(req.client), filter),
      refuse: this.#deps.refuse,
      where: req.where,
      write: req.write,
      receiveMaximum: packet.properties?.receiveMaximum ?? DEFAULT_RECEIVE_MAXIMUM,
      maximumPacketSize: packet.properties?.maximumPacketSize,
      maxQueued: this.#deps.config().maxQueuedPerSession,
      dropped: (reason, clientId, topic) => sessions.dropped(reason, clientId, topic),
      failed: (err) =>
        this.#logger.error({ clientId: id, err: String(err) }, 'MQTT 5 session store write failed'),
    });
    if (sessionPresent) await session.restore();
    this.#live.set(id, session);
    return { session, sessionPresent, expiry };
  }

  /** The connection of `session` closed with `expiry` in force (CONNECT's, or DISCONNECT's). */
  ended(clientId: string, session: Mqtt5Session, expiry: number): void {
    session.close();
    if (this.#live.get(clientId) !== session) return; // taken over: the new owner decides
    this.#live.delete(clientId);
    this.#track(
      (async () => {
        await session.settled();
        const db = this.#dbs().expiry;
        if (expiry > 0) await db.put(clientId, { v: 1, expiry, endedAt: Date.now() });
        else if (session.stored) await this.#discard(clientId);
      })(),
    );
  }

  /** A 3.1.1 connection authenticated with this client id: the session is its now. */
  claimedBy311(clientId: string): void {
    this.#live.get(clientId)?.close();
    this.#live.delete(clientId);
    const db = this.#dbs().expiry;
    if (db.doesExist(clientId)) this.#track(db.remove(clientId));
  }

  /** DownlinkPeers: open clean sessions whose subscriptions match. */
  *cleanMatching(topic: string): Iterable<string> {
    for (const [id, session] of this.#live) if (!session.stored && session.matches(topic)) yield id;
  }

  /** Removes every stored session whose interval passed with no connection open; returns how many. */
  async sweep(): Promise<number> {
    const now = Date.now();
    let removed = 0;
    for (const { key, value } of this.#dbs().expiry.getRange()) {
      if (this.#live.has(key) || this.#deps.online311(key) || !expired(value, now)) continue;
      await this.#expire(key);
      removed++;
    }
    return removed;
  }

  /** Stop: every open session ends now (their connections are closing); then the writes settle. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    const live = [...this.#live];
    this.#live.clear();
    for (const [id, session] of live) {
      session.close();
      const db = this.#dbs().expiry;
      const record = db.get(id);
      if (record !== undefined) this.#track(db.put(id, { ...record, endedAt: Date.now() }));
    }
    await Promise.allSettled([...this.#pending]);
  }

  #dbs() {
    return this.#deps.sessions.persistence.dbs;
  }

  #identityOf(client: object) {
    return this.#deps.sessions.identityOf(client);
  }

  /** Subscriptions, queued or in-flight copies, or an expiry entry: a session to resume. */
  #held(id: string): boolean {
    const dbs = this.#dbs();
    return (
      dbs.expiry.doesExist(id) ||
      !ofClient(dbs.subs, id).next().done ||
      !ofClient(dbs.outgoing, id).next().done
    );
  }

  async #expire(id: string): Promise<void> {
    await this.#discard(id);
    this.#deps.metrics.sessionExpired.inc();
    this.#logger.info({ clientId: id }, 'MQTT 5 session expired: subscriptions and queued messages removed');
  }

  async #discard(id: string): Promise<void> {
    const { persistence } = this.#deps.sessions;
    await persistence.cleanSubscriptions({ id }); // also its queue and its expiry entry
    await persistence.cleanIncoming({ id });
  }

  #track(p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) =>
      this.#logger.error({ err: String(err) }, 'MQTT 5 session store write failed'),
    );
    this.#pending.add(tracked);
    void tracked.finally(() => this.#pending.delete(tracked));
  }
}

function expired(value: { expiry: number; endedAt: number }, now: number): boolean {
  if (value.endedAt === 0 || value.expiry === NEVER) return false;
  return now >= value.endedAt + value.expiry * 1000;
}

/** CONNACK with the session's outcome: Session Present, and the interval when it is not the one asked. */
export function sessionConnack(connack: IConnackPacket, asked: number, opened: OpenedSession): void {
  connack.sessionPresent = opened.sessionPresent;
  const properties = connack.properties ?? {};
  delete properties.sessionExpiryInterval;
  if (opened.expiry !== asked) properties.sessionExpiryInterval = opened.expiry;
  connack.properties = properties;
}
