/**
 * The part of the aedes persistence (persistence.ts) that keeps per-connection state apart from
 * subscriptions and queues: inbound QoS 2 ids awaiting PUBREL and wills. Same environment and layout
 * (store.ts); every write an acknowledgement depends on is committed and fsynced before it resolves.
 */
import { Readable } from 'node:stream';
import type { Aedes } from 'aedes';
import {
  type ClientRef,
  ofClient,
  type PacketLike,
  type SessionDbs,
  toBuffer,
  type WillValue,
} from './store.ts';

const noSuchPacket = (): Error => new Error('no such packet');

export class IncomingAndWills {
  /** The sub-databases, for reads by the MQTT 5 sessions (writes go through the methods). */
  readonly dbs: SessionDbs;
  protected broker: Aedes | null = null;

  constructor(dbs: SessionDbs) {
    this.dbs = dbs;
  }

  protected brokerId(): string {
    return this.broker?.id ?? 'outpost';
  }

  /** The device a connection speaks for, kept with its will (LmdbPersistence knows it). */
  protected deviceOf(_client: ClientRef): string | undefined {
    return undefined;
  }

  /** Committed, then fsynced: what an acknowledgement may depend on. */
  protected async commit(writes: Array<Promise<unknown>>): Promise<void> {
    if (writes.length === 0) return;
    await Promise.all(writes);
    await this.dbs.durable();
  }

  /** A QoS 2 message id of this client is stored awaiting PUBREL (sync: the pipeline asks per PUBLISH). */
  holdsIncoming(clientId: string, messageId: number): boolean {
    return this.dbs.incoming.doesExist([clientId, messageId]);
  }

  /** Every stored will (startup: their connections died with the previous process). */
  wills(): WillValue[] {
    return [...this.dbs.wills.getRange()].map((e) => e.value);
  }

  // Incoming QoS 2 [MQTT-4.3.3-2].

  async incomingStorePacket(client: ClientRef, packet: PacketLike): Promise<void> {
    await this.dbs.incoming.put([client.id, packet.messageId ?? 0], { v: 1, topic: packet.topic });
    await this.dbs.durable();
  }

  async incomingGetPacket(client: ClientRef, packet: PacketLike): Promise<PacketLike> {
    const value = this.dbs.incoming.get([client.id, packet.messageId ?? 0]);
    if (value === undefined) throw noSuchPacket();
    return { cmd: 'publish', topic: value.topic, qos: 2, messageId: packet.messageId ?? 0 };
  }

  /** Durable before PUBCOMP: a device may reuse the id at once, and must not be taken for a resend. */
  async incomingDelPacket(client: ClientRef, packet: PacketLike): Promise<void> {
    const key: [string, number] = [client.id, packet.messageId ?? 0];
    if (!this.dbs.incoming.doesExist(key)) throw noSuchPacket();
    await this.dbs.incoming.remove(key);
    await this.dbs.durable();
  }

  async cleanIncoming(client: ClientRef): Promise<void> {
    const writes: Array<Promise<unknown>> = [];
    for (const { key } of ofClient(this.dbs.incoming, client.id)) writes.push(this.dbs.incoming.remove(key));
    await this.commit(writes);
  }

  // Wills: stored at CONNECT, so one whose connection dies with the process is published at restart.

  async putWill(client: ClientRef, packet: PacketLike): Promise<void> {
    const brokerId = this.brokerId();
    const deviceId = this.deviceOf(client);
    await this.dbs.wills.put(client.id, {
      v: 1,
      topic: packet.topic,
      payload: toBuffer(packet.payload),
      qos: packet.qos ?? 0,
      retain: packet.retain ?? false,
      brokerId,
      clientId: client.id,
      ...(deviceId === undefined ? {} : { deviceId }),
    });
    await this.dbs.durable();
  }

  async getWill(client: ClientRef): Promise<WillValue | undefined> {
    return this.dbs.wills.get(client.id);
  }

  async delWill(client: ClientRef): Promise<WillValue | undefined> {
    const will = this.dbs.wills.get(client.id);
    if (will === undefined) return undefined;
    await this.dbs.wills.remove(client.id);
    await this.dbs.durable();
    return will;
  }

  streamWill(brokers: Record<string, unknown> = {}): Readable {
    return Readable.from(this.wills().filter((w) => brokers[w.brokerId] === undefined));
  }
}
