/**
 * One MQTT 5 connection: mqtt-packet parses and writes (protocolVersion 5), the wire guard of
 * src/ingest/wire.ts checks what it parses, and every PUBLISH goes through the same PublishPipeline
 * as 3.1.1 (validation, routes, ACL, rate, per-client FIFO, group commit, acknowledgement after fsync,
 * acknowledgements in order [MQTT-4.6.0-2]).
 *
 * Reading: packets are dispatched in wire order as they are parsed. The next socket read waits while
 * READ_AHEAD or more of them have not called back yet (a PUBLISH calls back once its
 * acknowledgement is written), so a held FIFO stops reading the socket: TCP pushes back. Reading
 * ahead lets a client's next PUBLISHes join the group commit while the earlier ones are fsynced
 * (waiting for every callback before each read halved a busy client's pipelining). A SUBSCRIBE or
 * UNSUBSCRIBE is handled only once every packet before it has called back.
 *
 * Refusals: a refused PUBLISH gets its PUBACK/PUBREC reason code in its FIFO turn and the connection
 * goes on [MQTT-3.4.2-1, MQTT-3.5.2-1]; QoS 0 is only counted. A protocol violation closes with a
 * DISCONNECT reason code (§4.13) once what came before it is acknowledged (closeAfterAcks); so does
 * a revocation of the device (0x98), which also discards the will: a revoked device no longer
 * speaks through Outpost. Refusals carry a Reason String where the client allows it
 * (./reason-string.ts).
 *
 * Sessions (mqtt.sessions on): SUBSCRIBE, UNSUBSCRIBE and what the server sends go to the
 * connection's Mqtt5Session (./session.ts), opened at CONNECT by Mqtt5Sessions
 * (./session-manager.ts); off, every filter is refused (./subscribe5.ts).
 */
import type { Duplex } from 'node:stream';
import mqttPacket, {
  type IConnectPacket,
  type IPublishPacket,
  type ISubscribePacket,
  type IUnsubscribePacket,
  type Packet,
} from 'mqtt-packet';
import type { ConnectionMeta } from '../listeners/common.ts';
import type { RefusalReason } from '../metrics.ts';
import type { ClientState, PublishPacketLike } from '../types.ts';
import { guardParser, violationReason } from '../wire.ts';
import { connackCode, RC, violationCode } from './codes.ts';
import { connect5 } from './connect5.ts';
import { Inbound } from './inbound.ts';
import { preparePublish } from './properties.ts';
import { DEFAULT_POLICY, encodeForClient, type ProblemPolicy, reasonText } from './reason-string.ts';
import type { Mqtt5Session } from './session.ts';
import { sessionConnack } from './session-manager.ts';
import { refuseSubscriptions } from './subscribe5.ts';
import type { Mqtt5Deps } from './types.ts';

type Will = NonNullable<IConnectPacket['will']>;
const GENERATE = { protocolVersion: 5 } as const;
/** Packets not yet called back from which the socket is not read: bounds what a held client buffers. */
const READ_AHEAD = 64;
/** The queue entry of a parser violation (not an MQTT packet). */
const VIOLATION = 'outpost-violation';

export class Mqtt5Connection {
  id = '';
  closed = false;
  readonly conn: Duplex;
  _keepaliveTimer: NodeJS.Timeout | null = null;
  _keepaliveInterval = 0;
  readonly #inbound = new Inbound();
  /** QoS 2 packet ids acknowledged with PUBREC, awaiting PUBREL (the pipeline reads it). */
  readonly _inboundInflight = this.#inbound.held;
  _will?: Will;
  #deps: Mqtt5Deps;
  #meta: ConnectionMeta;
  #parser = mqttPacket.parser(GENERATE);
  #queue: Packet[] = [];
  #pending = 0;
  #pumping = false;
  #connecting = false;
  #connected = false;
  #aliases = new Map<number, string>();
  #connectTimer: NodeJS.Timeout;
  /** What the client's CONNECT allows us to send: Reason Strings, packet size. */
  #policy: ProblemPolicy = DEFAULT_POLICY;
  #session: Mqtt5Session | null = null;
  /** Session Expiry Interval in force (CONNECT's, clamped; DISCONNECT may change it). */
  #expiry = 0;

  constructor(stream: Duplex, meta: ConnectionMeta, deps: Mqtt5Deps) {
    this.conn = stream;
    this.#meta = meta;
    this.#deps = deps;
    // A violation takes its place in the queue: the packets parsed before it are handled first.
    guardParser({ _parser: this.#parser }, deps.limits, (err) =>
      this.#queue.push({ cmd: VIOLATION, err } as unknown as Packet),
    );
    this.#parser.on('packet', (p: Packet) => this.#queue.push(p));
    this.#parser.on('error', () => {}); // reported once through the guard
    this.#connectTimer = setTimeout(() => this.#connectTimedOut(), deps.connectTimeoutMs);
    this.#connectTimer.unref();
    stream.on('readable', () => this.#pump());
    stream.on('error', () => {});
    stream.once('close', () => this.#onClose());
    this.#pump();
  }

  /** Server DISCONNECT with a reason code (§3.14) and a Reason String, then the socket closes. */
  disconnect(reasonCode: number, reasonString?: string): void {
    if (this.conn.destroyed) return;
    this.closed = true;
    this.#write({ cmd: 'disconnect', reasonCode, ...(reasonString ? { properties: { reasonString } } : {}) });
    this.#end();
  }

  /** The device was disabled or removed: DISCONNECT 0x98 once what it sent before is acknowledged. */
  revoke(): void {
    delete this._will; // the will speaks for the device: revoked, it no longer may
    this.#deps.wills.discard(this);
    if (!this.#connected) {
      this.conn.destroy(); // no CONNACK yet: nothing may come before it
      return;
    }
    this.#closeAfterAcks(RC.administrativeAction, reasonText('device-revoked'));
  }

  #where(): Record<string, unknown> {
    return {
      clientId: this.id || undefined,
      remoteAddress: this.#meta.remoteAddress,
      listener: this.#meta.listener,
    };
  }

  #write(packet: Packet): void {
    if (!this.conn.destroyed && this.conn.writable) this.conn.write(encodeForClient(packet, this.#policy));
  }

  /** Ends the socket once written bytes left (bounded: a peer that does not read is destroyed). */
  #end(): void {
    this.closed = true;
    this.conn.end();
    setTimeout(() => this.conn.destroy(), 1000).unref();
  }

  /** Reads the socket and dispatches its packets in wire order, within READ_AHEAD (see the file comment). */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (!this.closed) {
        while (this.#queue.length > 0 && !this.#connecting && !this.closed) {
          // A (UN)SUBSCRIBE waits for everything before it: a retained PUBLISH it follows is kept first.
          const cmd = (this.#queue[0] as Packet).cmd;
          if (this.#pending > 0 && (cmd === 'subscribe' || cmd === 'unsubscribe')) return;
          this.#pending++;
          this.#handle(this.#queue.shift() as Packet);
        }
        if (this.#pending >= READ_AHEAD || this.#queue.length > 0 || this.closed) return;
        const buf = this.conn.read() as Buffer | null;
        if (buf === null) return;
        this._keepaliveTimer?.refresh(); // any packet from the client counts [MQTT-3.1.2-22]
        this.#parser.parse(buf);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #done = (): void => {
    this.#pending--;
    this.#pump();
  };

  #handle(p: Packet): void {
    if ((p.cmd as string) === VIOLATION) {
      const { err } = p as unknown as { err: Error };
      this.#violation(violationReason(err), err);
      return;
    }
    switch (p.cmd) {
      case 'connect':
        void this.#connect(p);
        return;
      case 'publish':
        this.#publish(p);
        return;
      case 'pubrel': {
        const { pubcomp, before } = this.#inbound.pubrel(p.messageId as number);
        this.#sendAck(pubcomp, before);
        this.#done();
        return;
      }
      case 'pingreq':
        this.#write({ cmd: 'pingresp' });
        this.#done();
        return;
      case 'subscribe':
      case 'unsubscribe':
        this.#subscriptions(p);
        return;
      case 'puback':
      case 'pubrec':
      case 'pubcomp':
        this.#session?.acked(p);
        this.#done();
        return;
      case 'disconnect':
        this.#clientDisconnect(p.reasonCode ?? RC.success, p.properties?.sessionExpiryInterval);
        return;
      case 'auth':
        // Enhanced authentication is refused at CONNECT, so an AUTH packet is a protocol error [MQTT-4.12.0-1].
        this.#violation('protocol-error', new Error('AUTH without an Authentication Method [MQTT-4.12.0-1]'));
        return;
      default:
        this.#done();
        return;
    }
  }

  async #connect(packet: IConnectPacket): Promise<void> {
    this.#connecting = true;
    const props = packet.properties;
    this.#policy = {
      requestProblemInformation: props?.requestProblemInformation !== false, // absent: 1 (§3.1.2.11.7)
      maximumPacketSize: props?.maximumPacketSize,
    };
    const limits = this.#deps.limits();
    const outcome = await connect5(this, packet, {
      hooks: this.#deps.hooks,
      limits,
      refuse: this.#deps.refuse,
      where: this.#where(),
      sessions: this.#deps.sessions !== null,
    });
    clearTimeout(this.#connectTimer);
    if (this.conn.destroyed) {
      if (outcome.ok) this.#deps.lateClose(this);
      return;
    }
    if (!outcome.ok) {
      this.#write(outcome.connack);
      this.#end();
      return;
    } // [MQTT-3.2.2-7]
    this.#connected = true;
    this.#deps.takeOver(this.id, this);
    const stored = this.#deps.wills.connected(this, packet.will, {
      // Without sessions no session outlives its connection: a new one always ends the old.
      sessionEnds: packet.clean || this.#deps.sessions === null,
      expiry: this.#deps.sessions?.clamp(packet.properties?.sessionExpiryInterval ?? 0) ?? 0,
      deviceId: this.#deps.stateOf(this)?.identity.deviceId ?? undefined,
    });
    const opened = await this.#openSession(packet, outcome.connack);
    await stored;
    if (!opened) return;
    this.#write(outcome.connack);
    this.#session?.start(); // after CONNACK: resends and the stored queue
    if (outcome.keepaliveSeconds > 0) this.#startKeepalive(outcome.keepaliveSeconds);
    this.#connecting = false;
    this.#done();
  }

  /** Opens (or resumes) the session and fills CONNACK's part of it; false if the socket closed meanwhile. */
  async #openSession(packet: IConnectPacket, connack: Packet & { cmd: 'connack' }): Promise<boolean> {
    const sessions = this.#deps.sessions;
    if (sessions === null) return true;
    const opened = await sessions.open({
      client: this,
      packet,
      write: (p) => this.#write(p),
      where: () => this.#where(),
    });
    this.#session = opened.session;
    this.#expiry = opened.expiry;
    const incoming = opened.session.incoming();
    if (incoming !== null) this.#inbound.persist(incoming);
    sessionConnack(connack, packet.properties?.sessionExpiryInterval ?? 0, opened);
    if (!this.conn.destroyed) return true;
    sessions.ended(this.id, opened.session, this.#expiry);
    return false;
  }

  #startKeepalive(seconds: number): void {
    this._keepaliveInterval = seconds * 1000;
    // [MQTT-3.1.2-22]: silent for one and a half keepalive periods.
    this._keepaliveTimer = setTimeout(() => {
      this.#deps.refuse('keepalive-timeout', this.#where());
      this.disconnect(RC.keepAliveTimeout, reasonText('keepalive-timeout'));
    }, seconds * 1500);
    this._keepaliveTimer.unref();
  }

  #connectTimedOut(): void {
    if (this.#connected || this.conn.destroyed) return;
    this.#deps.refuse('connect-timeout', this.#where());
    this.conn.destroy();
  }

  #publish(packet: IPublishPacket & PublishPacketLike): void {
    const state = this.#deps.stateOf(this);
    if (state === undefined) {
      this.#done();
      return;
    }
    const dupOfHeld = this.#inbound.isHeldDup(packet);
    if (!this.#inbound.admit(packet, this.#deps.limits().maxInflightPerClient)) {
      this.#violation(
        'receive-maximum',
        new Error('more unacknowledged PUBLISHes than Receive Maximum [MQTT-3.3.4-7]'),
      );
      return;
    }
    const bad = preparePublish(this.#aliases, packet);
    if (bad !== null) {
      const err = new Error(`topic alias ${packet.properties?.topicAlias} [MQTT-3.3.2-8, MQTT-3.3.2-9]`);
      this.#violation(bad, err);
      return;
    }
    this.#deps.pipeline.authorize(state, this, packet, (err) => {
      const ack = this.#inbound.ack(packet, err ?? null);
      if (ack !== null) this.#sendAck(ack, this.#inbound.before(packet, ack, dupOfHeld));
      if (!err && !dupOfHeld) this.#deps.forward?.(packet, this);
      this.#done();
    });
  }

  /** An acknowledgement (Inbound.respond); a failed store write ends the connection with 0x80. */
  #sendAck(packet: Packet, before: Promise<void> | null): void {
    this.#inbound.respond(packet, before, {
      write: (p) => this.#write(p),
      failed: (err) => {
        this.#session?.failed(err);
        this.disconnect(RC.unspecified, 'session store write failed');
      },
    });
  }

  #subscriptions(p: ISubscribePacket | IUnsubscribePacket): void {
    const session = this.#session;
    if (session === null) {
      refuseSubscriptions(p, (packet) => this.#write(packet), this.#deps.refuse, this.#where());
      this.#done();
      return;
    }
    const step = p.cmd === 'subscribe' ? session.subscribe(p) : session.unsubscribe(p);
    step.then(this.#done, (err: unknown) => {
      this.#violation('protocol-error', err instanceof Error ? err : new Error(String(err)));
    });
  }

  /** DISCONNECT from the client: 0x00 discards the will [MQTT-3.14.4-3]; any other code keeps it (0x04). */
  #clientDisconnect(reasonCode: number, expiry: number | undefined): void {
    // Session Expiry 0 at CONNECT: a non-zero one now is a protocol error [MQTT-3.14.2-2].
    if (expiry !== undefined && expiry > 0 && this.#expiry === 0) {
      this.#violation('protocol-error', new Error('Session Expiry Interval on DISCONNECT [MQTT-3.14.2-2]'));
      return;
    }
    if (expiry !== undefined) this.#expiry = this.#deps.sessions?.clamp(expiry) ?? 0;
    if (reasonCode === RC.success) {
      delete this._will;
      this.#deps.wills.discard(this);
    }
    const state = this.#deps.stateOf(this);
    if (state === undefined || state.closed) {
      this.#end();
      return;
    }
    // Earlier PUBLISHes are still acknowledged before the connection closes [MQTT-4.6.0-2].
    this.#deps.pipeline.closeAfterAcks(state, () => void this.#inbound.written().then(() => this.#end()));
  }

  /** A protocol violation: counted once; CONNACK or DISCONNECT with its code once earlier packets are acknowledged. */
  #violation(reason: RefusalReason, err: Error): void {
    this.#deps.refuse(reason, { ...this.#where(), err: err.message });
    const reasonString = reasonText(reason, err.message);
    if (!this.#connected) {
      // Before CONNACK the server may send a CONNACK with the reason code, then close (§4.13).
      this.#write({
        cmd: 'connack',
        sessionPresent: false,
        reasonCode: connackCode(reason),
        properties: { reasonString },
      });
      this.#end();
      return;
    }
    this.#closeAfterAcks(violationCode(reason), reasonString);
  }

  /** DISCONNECT `code` once every packet before now is acknowledged, in order [MQTT-4.6.0-2]. */
  #closeAfterAcks(code: number, reasonString: string): void {
    const state = this.#deps.stateOf(this);
    if (state === undefined || state.closed) {
      this.disconnect(code, reasonString);
      return;
    }
    this.#deps.pipeline.closeAfterAcks(
      state,
      () => void this.#inbound.written().then(() => this.disconnect(code, reasonString)),
    );
  }

  #onClose(): void {
    this.closed = true;
    clearTimeout(this.#connectTimer);
    if (this._keepaliveTimer) clearTimeout(this._keepaliveTimer);
    if (this.#connected) this.#deps.ended(this);
    if (this.#session !== null) this.#deps.sessions?.ended(this.id, this.#session, this.#expiry);
  }

  /** The socket closed: its will is published, delayed or dropped (./wills.ts); after the state closed. */
  closeWill(state: ClientState | undefined): void {
    if (this.#connected) this.#deps.wills.closed(this, state, this.#expiry);
  }
}
