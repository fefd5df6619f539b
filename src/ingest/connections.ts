/**
 * The connection registry of ingest: every accepted socket (with its listener metadata), every
 * authenticated connection's pipeline state, and the connections of each device (for revocation and
 * the connected-devices gauge).
 */
import type { Client as AedesClient } from 'aedes';
import type { DeviceIdentity } from '../devices/index.ts';
import type { ConnectionMeta } from './listeners/common.ts';
import type { IngestMetrics } from './metrics.ts';
import type { PublishPipeline } from './pipeline.ts';
import type { ClientState } from './types.ts';

export class ConnectionRegistry {
  #pipeline: PublishPipeline;
  #metrics: IngestMetrics;
  #states = new WeakMap<AedesClient, ClientState>();
  #metas = new WeakMap<object, ConnectionMeta>();
  #byDevice = new Map<string, Set<ClientState>>();
  #live = new Set<ClientState>();
  /** Accepted sockets, authenticated or not (the maxConnections admission counts these). */
  #open = 0;

  constructor(pipeline: PublishPipeline, metrics: IngestMetrics) {
    this.#pipeline = pipeline;
    this.#metrics = metrics;
  }

  /** A socket was accepted; `onClose` runs once when it closes. */
  accepted(stream: object, meta: ConnectionMeta): void {
    this.#open++;
    this.#metas.set(stream, meta);
  }

  socketClosed(client: AedesClient): void {
    this.#open--;
    this.dropState(client);
  }

  /** The client's pipeline state ends (its socket closed, or closed before authentication finished). */
  dropState(client: AedesClient): void {
    const state = this.#states.get(client);
    if (!state || state.closed) return;
    this.#pipeline.closeState(state);
    this.#live.delete(state);
    const id = state.identity.deviceId;
    if (id !== null) {
      const set = this.#byDevice.get(id);
      set?.delete(state);
      if (set?.size === 0) this.#byDevice.delete(id);
    }
    this.#updateGauges();
  }

  authenticated(client: AedesClient, identity: DeviceIdentity): void {
    const state = this.#pipeline.newState(client as never, identity);
    this.#states.set(client, state);
    this.#live.add(state);
    if (identity.deviceId !== null) {
      const set = this.#byDevice.get(identity.deviceId) ?? new Set<ClientState>();
      this.#byDevice.set(identity.deviceId, set);
      set.add(state);
    }
    this.#updateGauges();
  }

  stateOf(client: AedesClient): ClientState | undefined {
    return this.#states.get(client);
  }

  metaOf(stream: object): ConnectionMeta | undefined {
    return this.#metas.get(stream);
  }

  /** Live (authenticated, open) connections of a device. */
  ofDevice(deviceId: string): ClientState[] {
    return [...(this.#byDevice.get(deviceId) ?? [])];
  }

  live(): ClientState[] {
    return [...this.#live];
  }

  openSockets(): number {
    return this.#open;
  }

  counts(): { connections: number; devices: number } {
    return { connections: this.#live.size, devices: this.#byDevice.size };
  }

  #updateGauges(): void {
    this.#metrics.connections.set(this.#live.size);
    this.#metrics.connectedDevices.set(this.#byDevice.size);
  }
}
