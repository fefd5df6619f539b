/**
 * MQTT 5 wills (§3.1.2.5, §3.1.3.2.2), kept from CONNECT until the connection closes, then:
 *   DISCONNECT 0x00, revocation  discarded [MQTT-3.14.4-3]
 *   closed                       published once min(Will Delay Interval, Session Expiry Interval)
 *                                has passed: at once when either is 0 [MQTT-3.1.2-8]
 *   a new connection for its     before that: not published [MQTT-3.1.3-9], unless the new one
 *   client id                    starts clean (Clean Start 1, 3.1.1 CleanSession 1), which ends the
 *                                session: published at once. A connection taken over while open
 *                                is decided the same way as it closes (the non-normative text of
 *                                §3.1.3.2.2): a will with no delay is published either way.
 * A will whose device was disabled or removed meanwhile is discarded when its turn comes.
 *
 * Stored (mqtt.sessions on): every will is put in sessions.wills5 (store.ts) before CONNACK, so a
 * will whose connection dies with the process, or that waits on its delay across a restart, is not
 * lost: `start` publishes the ones due (a connection open at the crash counts as closed at this
 * start) and waits for the others, which a reconnect after the restart still cancels. The
 * connections Outpost itself closes on stop are kept the same way, not published at stop. Without
 * sessions, wills live in memory and Session Expiry is always 0: published as the connection closes.
 *
 * Publishing: appended like a PUBLISH on the will topic (route, ACL, headers), forwarded if
 * configured, then removed from the store. A will the log refuses is counted there and removed, not
 * retried; a crash between the append and the removal publishes it again (at least once).
 */
import type { IConnectPacket } from 'mqtt-packet';
import type { Logger } from 'pino';
import type { Counter, Gauge } from 'prom-client';
import type { SessionDbs, Will5Value } from '../sessions/store.ts';
import { toBuffer } from '../sessions/store.ts';
import type { ClientState, PublishPacketLike } from '../types.ts';
import { willPacket } from './properties.ts';

export type Will = NonNullable<IConnectPacket['will']>;
type Key = [string, string];
export type WillOutcome = 'published' | 'cancelled' | 'discarded';

/** The connection a will came from, while this process still has it (null: a stored will at start). */
export type WillSource = { state: ClientState | undefined; client: object } | null;

export interface WillsDeps {
  /** The sessions' store; null (mqtt.sessions off): wills in memory only. */
  dbs: SessionDbs | null;
  /** Appends the will (and forwards it): resolves once appended, rejects if refused. */
  publish: (packet: PublishPacketLike, clientId: string, from: WillSource) => Promise<void>;
  deviceEnabled: (deviceId: string) => boolean;
  outcomes: Counter<'outcome'>;
  waiting: Gauge;
  logger: Logger;
}

export interface ConnectedAt {
  /** The new connection ends the session (Clean Start 1, or no sessions): earlier wills go at once. */
  sessionEnds: boolean;
  /** Its Session Expiry Interval, clamped (s). */
  expiry: number;
  deviceId: string | undefined;
}

interface Held {
  key: Key;
  will: Will;
  delay: number;
  expiry: number;
  deviceId: string | undefined;
  /** A newer connection for the client id came while this one was open. */
  successor?: 'continues' | 'ends';
}

interface Waiting {
  key: Key;
  will: Will;
  deviceId: string | undefined;
  from: WillSource;
  due: number;
  timer: NodeJS.Timeout | null;
}

/** setTimeout's longest delay (about 24.8 days); a later will is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
let counter = 0;

export class Mqtt5Wills {
  readonly #deps: WillsDeps;
  readonly #held = new Map<object, Held>();
  /** The newest open connection with a will, by client id. */
  readonly #open = new Map<string, Held>();
  readonly #waiting = new Map<string, Waiting[]>();
  readonly #writes = new Set<Promise<unknown>>();
  #stopping = false;

  constructor(deps: WillsDeps) {
    this.#deps = deps;
  }

  /**
   * A connection for `clientId` was accepted (either protocol), before it opens its session: a will
   * waiting on its delay is cancelled, or published if the session ends; an open one is marked.
   */
  reconnected(clientId: string, sessionEnds: boolean): void {
    const open = this.#open.get(clientId);
    if (open !== undefined) open.successor = sessionEnds ? 'ends' : 'continues';
    const waiting = this.#waiting.get(clientId);
    if (waiting === undefined) return;
    this.#waiting.delete(clientId);
    for (const w of waiting) {
      if (w.timer) clearTimeout(w.timer);
      if (sessionEnds) void this.#publish(w.key, w.will, w.deviceId, w.from);
      else this.#drop(w.key, 'cancelled');
    }
    this.#gauge();
  }

  /**
   * CONNECT accepted for `conn` (either protocol; before its session opens): earlier wills of its
   * client id are decided (reconnected), and its own will, if any, is kept until it closes: stored
   * (durable) before CONNACK when sessions are on.
   */
  async connected(conn: { id: string }, will: Will | undefined, at: ConnectedAt): Promise<void> {
    this.reconnected(conn.id, at.sessionEnds);
    if (will == null) return;
    const { expiry, deviceId } = at;
    const key: Key = [conn.id, `${process.pid}.${Date.now().toString(36)}.${(counter++).toString(36)}`];
    const held: Held = { key, will, delay: will.properties?.willDelayInterval ?? 0, expiry, deviceId };
    this.#held.set(conn, held);
    this.#open.set(conn.id, held);
    const { dbs } = this.#deps;
    if (dbs === null) return;
    try {
      await dbs.wills5.put(key, storedWill(held, 0));
      await dbs.durable();
    } catch (err) {
      this.#deps.logger.error(
        { clientId: conn.id, err: String(err) },
        'MQTT 5 will not stored: kept in memory',
      );
    }
  }

  /** DISCONNECT 0x00 or a revocation: the will goes unpublished. */
  discard(conn: object): void {
    const held = this.#forget(conn);
    if (held !== undefined) this.#drop(held.key, 'discarded');
  }

  /** The connection closed with `expiry` in force (CONNECT's, or DISCONNECT's): see the file comment. */
  closed(conn: object, state: ClientState | undefined, expiry: number): void {
    const held = this.#forget(conn);
    if (held === undefined || this.#stopping) return; // on stop: stays stored for the next start
    const from: WillSource = { state, client: conn };
    if (held.successor === 'continues' && held.delay > 0) {
      this.#drop(held.key, 'cancelled');
      return;
    }
    const wait = held.successor === 'ends' ? 0 : Math.min(held.delay, expiry);
    if (wait === 0) {
      void this.#publish(held.key, held.will, held.deviceId, from);
      return;
    }
    const endedAt = Date.now();
    this.#write(this.#deps.dbs?.wills5.put(held.key, storedWill({ ...held, expiry }, endedAt)));
    this.#wait({
      key: held.key,
      will: held.will,
      deviceId: held.deviceId,
      from,
      due: endedAt + wait * 1000,
      timer: null,
    });
  }

  /** Startup, before the listeners open: stored wills are published when due, or wait. Returns how many were due. */
  async start(): Promise<number> {
    const { dbs } = this.#deps;
    if (dbs === null) return 0;
    const now = Date.now();
    const due: Array<Promise<void>> = [];
    for (const { key, value } of [...dbs.wills5.getRange()]) {
      // Its connection was open when the previous process died: it closed at this start.
      const endedAt = value.endedAt === 0 ? now : value.endedAt;
      if (value.endedAt === 0) this.#write(dbs.wills5.put(key, { ...value, endedAt }));
      const will = willOf(value);
      const at = endedAt + Math.min(value.delay, value.expiry) * 1000;
      if (at <= now) due.push(this.#publish(key, will, value.deviceId, null));
      else this.#wait({ key, will, deviceId: value.deviceId, from: null, due: at, timer: null });
    }
    await Promise.all(due);
    if (due.length > 0)
      this.#deps.logger.info({ wills: due.length }, 'stored MQTT 5 wills published at start');
    return due.length;
  }

  /** Stop: timers end and open connections' wills stay stored as closed now; the writes settle. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const list of this.#waiting.values()) for (const w of list) if (w.timer) clearTimeout(w.timer);
    this.#waiting.clear();
    const endedAt = Date.now();
    if (this.#deps.dbs === null && this.#held.size > 0) {
      this.#deps.logger.warn(
        { wills: this.#held.size },
        'MQTT 5 wills of connections closed by stop not published (mqtt.sessions off: wills are not stored)',
      );
    }
    for (const held of this.#held.values())
      this.#write(this.#deps.dbs?.wills5.put(held.key, storedWill(held, endedAt)));
    this.#held.clear();
    this.#open.clear();
    this.#gauge();
    await Promise.allSettled([...this.#writes]);
  }

  #forget(conn: object): Held | undefined {
    const held = this.#held.get(conn);
    if (held === undefined) return undefined;
    this.#held.delete(conn);
    if (this.#open.get(held.key[0]) === held) this.#open.delete(held.key[0]);
    return held;
  }

  #wait(w: Waiting): void {
    const list = this.#waiting.get(w.key[0]) ?? [];
    list.push(w);
    this.#waiting.set(w.key[0], list);
    this.#arm(w);
    this.#gauge();
  }

  #arm(w: Waiting): void {
    w.timer = setTimeout(
      () => {
        if (Date.now() < w.due) return this.#arm(w);
        const list = (this.#waiting.get(w.key[0]) ?? []).filter((x) => x !== w);
        if (list.length === 0) this.#waiting.delete(w.key[0]);
        else this.#waiting.set(w.key[0], list);
        this.#gauge();
        void this.#publish(w.key, w.will, w.deviceId, w.from);
      },
      Math.min(Math.max(0, w.due - Date.now()), MAX_TIMER_MS),
    );
    w.timer.unref();
  }

  /** Appends the will, then removes it from the store. */
  #publish(key: Key, will: Will, deviceId: string | undefined, from: WillSource): Promise<void> {
    const clientId = key[0];
    if (deviceId !== undefined && !this.#deps.deviceEnabled(deviceId)) {
      this.#deps.logger.info(
        { clientId, deviceId, topic: will.topic },
        'will discarded: its device is disabled or removed',
      );
      this.#drop(key, 'discarded');
      return Promise.resolve();
    }
    this.#deps.outcomes.inc({ outcome: 'published' });
    const packet = willPacket(will);
    if (deviceId !== undefined) packet.willDeviceId = deviceId; // used where no connection state is left
    return this.#deps.publish(packet, clientId, from).then(
      () => this.#remove(key),
      (err: unknown) => {
        // Refused (route, log full, …): counted and logged by the pipeline; not retried.
        this.#deps.logger.warn({ clientId, topic: will.topic, err: String(err) }, 'will not published');
        this.#remove(key);
      },
    );
  }

  #drop(key: Key, outcome: WillOutcome): void {
    this.#deps.outcomes.inc({ outcome });
    this.#remove(key);
  }

  #remove(key: Key): void {
    const { dbs } = this.#deps;
    if (dbs !== null && !this.#stopping) this.#write(dbs.wills5.remove(key));
  }

  #write(p: Promise<unknown> | undefined): void {
    if (p === undefined) return;
    const tracked = p.catch((err: unknown) =>
      this.#deps.logger.error({ err: String(err) }, 'MQTT 5 will store write failed'),
    );
    this.#writes.add(tracked);
    void tracked.finally(() => this.#writes.delete(tracked));
  }

  #gauge(): void {
    let n = 0;
    for (const list of this.#waiting.values()) n += list.length;
    this.#deps.waiting.set(n);
  }
}

function storedWill(held: Pick<Held, 'will' | 'delay' | 'expiry' | 'deviceId'>, endedAt: number): Will5Value {
  const { willDelayInterval: _, ...props } = held.will.properties ?? {};
  return {
    v: 1,
    topic: held.will.topic,
    payload: toBuffer(held.will.payload),
    qos: held.will.qos ?? 0,
    retain: held.will.retain ?? false,
    ...(Object.keys(props).length === 0 ? {} : { props }),
    delay: held.delay,
    expiry: held.expiry,
    endedAt,
    ...(held.deviceId === undefined ? {} : { deviceId: held.deviceId }),
  };
}

function willOf(value: Will5Value): Will {
  return {
    topic: value.topic,
    payload: value.payload,
    qos: value.qos as 0 | 1 | 2,
    retain: value.retain,
    ...(value.props === undefined ? {} : { properties: value.props as NonNullable<Will['properties']> }),
  };
}
