/**
 * The MQTT 5 side of ingest: creates a Mqtt5Connection for each connection whose CONNECT says level 5
 * (src/ingest/sniff.ts), keeps them by client id for session takeover across both protocols
 * [MQTT-3.1.4-3], and closes them with DISCONNECT 0x8B on stop.
 */
import type { Duplex } from 'node:stream';
import type { Client as AedesClient } from 'aedes';
import type { ConnectionMeta } from '../listeners/common.ts';
import { RC } from './codes.ts';
import { type Mqtt5Connection as Conn, Mqtt5Connection } from './connection.ts';
import type { Mqtt5Deps } from './types.ts';

export interface FrontDeps extends Omit<Mqtt5Deps, 'takeOver' | 'ended' | 'lateClose'> {
  /** Closes a 3.1.1 connection with this client id (aedes' own takeover, from the outside). */
  closeAedesClient: (clientId: string) => void;
  dropState: (conn: Conn) => void;
}

export class Mqtt5Front {
  #deps: FrontDeps;
  #byId = new Map<string, Conn>();

  constructor(deps: FrontDeps) {
    this.#deps = deps;
  }

  accept(stream: Duplex, meta: ConnectionMeta): Conn {
    return new Mqtt5Connection(stream, meta, {
      ...this.#deps,
      takeOver: (id, by) => {
        this.#deps.closeAedesClient(id);
        this.takeOver(id);
        this.#byId.set(id, by);
      },
      ended: (conn) => {
        if (this.#byId.get(conn.id) === conn) this.#byId.delete(conn.id);
      },
      lateClose: (conn) => this.#deps.dropState(conn),
    });
  }

  /** A new connection (3.1.1 or 5) with this client id takes over: DISCONNECT 0x8E [MQTT-3.1.4-3]. */
  takeOver(clientId: string): void {
    const old = this.#byId.get(clientId);
    if (old === undefined) return;
    this.#byId.delete(clientId);
    old.disconnect(RC.sessionTakenOver, 'session taken over by a new connection with this client id');
  }

  /** Stop: every MQTT 5 connection gets DISCONNECT 0x8B (server shutting down). */
  closeAll(): void {
    for (const conn of this.#byId.values()) conn.disconnect(RC.serverShuttingDown, 'server shutting down');
    this.#byId.clear();
  }

  static isMqtt5(client: AedesClient | Conn): client is Conn {
    return client instanceof Mqtt5Connection;
  }
}
