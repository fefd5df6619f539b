import mqtt, { DefaultMessageIdProvider, type IClientOptions, type MqttClient, Store } from 'mqtt';
import type { DeviceAcks } from './acked-file.ts';
import { type CommandReceipt, decodeCommand } from './commands.ts';
import type { DeviceGenerator } from './payloads/index.ts';
import { RangeSet } from './ranges.ts';

export type QoS = 0 | 1 | 2;

export interface DeviceConnection {
  /** Broker URL, e.g. mqtt://127.0.0.1:1883. */
  url: string;
  username?: string;
  password?: string;
  keepaliveS?: number;
  connectTimeoutMs?: number;
  /** Delay before reconnecting after a drop; doubles per failed attempt up to 10×. */
  reconnectMs?: number;
  /** MQTT protocol level: 4 (3.1.1, default) or 5. */
  protocolVersion?: 4 | 5;
}

export interface DeviceHooks {
  onAck?(deviceId: string, latencyMs: number): void;
  onRefused?(deviceId: string, reason: string): void;
  /** A command PUBLISH arrived (QoS 2: on PUBREL, once). `sentAt` is the producer's epoch ms. */
  onCommand?(deviceId: string, receipt: CommandReceipt, sentAt: number): void;
}

/** Receiving cloud-to-device commands: a persistent session (CleanSession 0) subscribed to `filter`. */
export interface DeviceCommands {
  filter: string;
  qos: 1 | 2;
}

interface Outgoing {
  seq: number;
  topic: string;
  payload: Buffer;
  qos: QoS;
  sentAt: number;
  /** Sent at least once on an earlier connection. */
  resend: boolean;
}

/**
 * One simulated device: a real mqtt.js client per connection, its own sequence of messages, and an
 * explicit in-flight window. After a drop it reconnects and re-sends every unacknowledged QoS 1/2
 * publish in sequence order, with DUP set ([MQTT-3.3.1-1]), before anything new; the gateway may
 * then store such a message twice (a clean session has no packet-id state to de-duplicate on,
 * [MQTT-3.1.2-6]), which the audit reports as an expected duplicate.
 *
 * Each connection is a fresh client with reconnectPeriod 0, so mqtt.js's own store never re-sends
 * behind our back and the resend order is ours.
 */
export class SimDevice {
  readonly id: string;
  readonly acks: DeviceAcks = {
    sent: 0,
    acked: new RangeSet(),
    qos0: new RangeSet(),
    retried: new RangeSet(),
    unacked: new RangeSet(),
    topics: [],
    topicOf: '',
  };
  readonly stats = { publishes: 0, drops: 0, connects: 0, refusals: 0, subscribeRefused: 0 };
  /** Commands received, in arrival order (a QoS 1 redelivery after a drop appears again, dup set). */
  readonly received: CommandReceipt[] = [];
  readonly #commands: DeviceCommands | undefined;
  // A persistent session is the device's too: its packet ids go on across connections (a fresh
  // random start could reuse an id the gateway still holds as an inbound QoS 2 awaiting PUBREL,
  // and that message would be answered PUBREC without being stored), and its inbound QoS 2 store
  // survives a reconnect, so a PUBREL for a PUBLISH received on the previous connection releases it.
  readonly #ids = new DefaultMessageIdProvider();
  readonly #incoming = new Store();
  #subscribed = false;
  readonly #gen: DeviceGenerator;
  readonly #conn: DeviceConnection;
  readonly #hooks: DeviceHooks;
  readonly #maxInflight: number;
  readonly #pending: Outgoing[] = [];
  readonly #inflight = new Map<number, Outgoing>();
  readonly #topicIndex = new Map<string, number>();
  #client: MqttClient | null = null;
  #generation = 0;
  #connected = false;
  #stopped = false;
  #failures = 0;
  #reconnectTimer: NodeJS.Timeout | null = null;

  constructor(
    gen: DeviceGenerator,
    conn: DeviceConnection,
    opts: { maxInflight?: number; hooks?: DeviceHooks; commands?: DeviceCommands } = {},
  ) {
    this.#commands = opts.commands;
    this.id = gen.deviceId;
    this.#gen = gen;
    this.#conn = conn;
    this.#hooks = opts.hooks ?? {};
    this.#maxInflight = opts.maxInflight ?? 100;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Messages generated and not yet acknowledged (QoS 1/2) or written (QoS 0). */
  get outstanding(): number {
    return this.#pending.length + this.#inflight.size;
  }

  get receivesCommands(): boolean {
    return this.#commands !== undefined;
  }

  /** With commands: the subscription was granted (and is kept by the session across drops). */
  get subscribed(): boolean {
    return this.#subscribed;
  }

  get windowFull(): boolean {
    return this.outstanding >= this.#maxInflight;
  }

  start(): void {
    this.#connect();
  }

  /** Generates the next message and sends it when connected. False (nothing generated) when the window is full. */
  enqueue(qos: QoS, now = Date.now()): boolean {
    if (this.#stopped || this.windowFull) return false;
    const m = this.#gen.next(now);
    this.acks.sent = m.seq;
    let t = this.#topicIndex.get(m.topic);
    if (t === undefined) {
      t = this.#topicIndex.size;
      if (t >= 36) throw new RangeError(`${this.id}: more than 36 distinct topics`);
      this.#topicIndex.set(m.topic, t);
      this.acks.topics?.push(m.topic);
    }
    this.acks.topicOf += t.toString(36);
    if (qos === 0) this.acks.qos0.add(m.seq);
    this.#pending.push({
      seq: m.seq,
      topic: m.topic,
      payload: Buffer.from(JSON.stringify(m.payload)),
      qos,
      sentAt: 0,
      resend: false,
    });
    this.#flush();
    return true;
  }

  /** Chaos: cut the TCP connection without DISCONNECT, as a flaky network would. */
  drop(): void {
    const client = this.#client;
    if (!this.#connected || client === null) return;
    this.stats.drops++;
    client.stream.destroy();
  }

  /** Resolves once nothing is outstanding, or when `timeoutMs` passes. */
  async drain(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (this.outstanding > 0 && Date.now() < until && !signal?.aborted) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.outstanding === 0;
  }

  /** Disconnects cleanly (DISCONNECT) and records what stayed unacknowledged. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    const client = this.#client;
    this.#client = null;
    this.#connected = false;
    this.#generation++;
    if (client) await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
    for (const o of [...this.#inflight.values(), ...this.#pending]) {
      if (o.qos > 0) this.acks.unacked.add(o.seq);
    }
  }

  #connect(): void {
    if (this.#stopped) return;
    const gen = ++this.#generation;
    const opts: IClientOptions = {
      clientId: this.id,
      clean: this.#commands === undefined,
      messageIdProvider: this.#ids,
      incomingStore: this.#incoming,
      protocolVersion: this.#conn.protocolVersion ?? 4,
      keepalive: this.#conn.keepaliveS ?? 30,
      connectTimeout: this.#conn.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 0,
      queueQoSZero: false,
    };
    if (this.#conn.username !== undefined) opts.username = this.#conn.username;
    if (this.#conn.password !== undefined) opts.password = this.#conn.password;
    const client = mqtt.connect(this.#conn.url, opts);
    this.#client = client;
    client.on('connect', (connack) => {
      if (gen !== this.#generation) return;
      this.#connected = true;
      this.#failures = 0;
      this.stats.connects++;
      if (this.#commands && !connack.sessionPresent) this.#subscribe(client, this.#commands);
      this.#flush();
    });
    if (this.#commands)
      client.on('message', (topic, payload, packet) => this.#onCommand(topic, payload, packet));
    client.on('error', (err: Error & { code?: number | string }) => {
      if (gen !== this.#generation) return;
      if (typeof err.code === 'number') {
        // CONNACK return code [MQTT-3.2.2.3]: 4 bad credentials, 5 not authorized, …
        this.stats.refusals++;
        this.#hooks.onRefused?.(this.id, `connack ${err.code}: ${err.message}`);
      }
    });
    client.on('close', () => {
      if (gen !== this.#generation) return;
      this.#onDrop(client);
    });
  }

  #subscribe(client: MqttClient, c: DeviceCommands): void {
    client.subscribe(c.filter, { qos: c.qos }, (err, granted) => {
      if (err || granted?.[0]?.qos === 128) {
        this.stats.subscribeRefused++;
        this.#hooks.onRefused?.(this.id, `subscribe ${c.filter}: ${err?.message ?? 'SUBACK 0x80'}`);
        return;
      }
      this.#subscribed = true;
    });
  }

  #onCommand(topic: string, payload: Buffer, packet: { qos: number; dup: boolean }): void {
    const c = decodeCommand(payload);
    const receipt: CommandReceipt = {
      id: c?.id ?? `?${topic}`,
      seq: c?.seq ?? 0,
      at: Date.now(),
      qos: packet.qos,
      dup: packet.dup,
    };
    this.received.push(receipt);
    this.#hooks.onCommand?.(this.id, receipt, c?.sentAt ?? Number.NaN);
  }

  #onDrop(client: MqttClient): void {
    this.#connected = false;
    this.#generation++;
    client.removeAllListeners();
    client.on('error', () => {});
    client.end(true);
    // Everything sent but unacknowledged goes back to the head of the queue, in seq order.
    const back = [...this.#inflight.values()].sort((a, b) => a.seq - b.seq);
    this.#inflight.clear();
    for (const o of back) o.resend = true;
    this.#pending.unshift(...back);
    if (this.#stopped) return;
    this.#failures++;
    const base = this.#conn.reconnectMs ?? 250;
    const delay = Math.min(base * 2 ** Math.min(this.#failures - 1, 3), base * 10) * (0.5 + Math.random());
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      this.#connect();
    }, delay);
  }

  #flush(): void {
    const client = this.#client;
    if (!this.#connected || client === null) return;
    const gen = this.#generation;
    while (this.#pending.length > 0) {
      const o = this.#pending.shift() as Outgoing;
      o.sentAt = performance.now();
      if (o.resend) this.acks.retried.add(o.seq);
      this.stats.publishes++;
      if (o.qos === 0) {
        client.publish(o.topic, o.payload, { qos: 0 });
        continue;
      }
      this.#inflight.set(o.seq, o);
      client.publish(o.topic, o.payload, { qos: o.qos, dup: o.resend }, (err) => {
        // A drop: #onDrop re-queues it. An MQTT 5 PUBACK with a reason code ≥ 0x80 (a refusal, the
        // connection goes on) leaves it unacknowledged: counted in `unacked` at stop.
        if (gen !== this.#generation || err) return;
        if (!this.#inflight.delete(o.seq)) return;
        this.acks.acked.add(o.seq);
        this.#hooks.onAck?.(this.id, performance.now() - o.sentAt);
      });
    }
  }
}
