/** What an MQTT 5 connection needs from ingest (src/ingest/ingest.ts wires it). */
import type { Config } from '../../config/index.ts';
import type { connectHooks } from '../connect.ts';
import type { RefusalReason } from '../metrics.ts';
import type { PublishPipeline } from '../pipeline.ts';
import type { ClientState, PublishPacketLike } from '../types.ts';
import type { Mqtt5Connection } from './connection.ts';
import type { Mqtt5Sessions } from './session-manager.ts';
import type { Mqtt5Wills } from './wills.ts';

export interface Mqtt5Deps {
  hooks: ReturnType<typeof connectHooks>;
  pipeline: PublishPipeline;
  stateOf: (conn: Mqtt5Connection) => ClientState | undefined;
  refuse: (reason: RefusalReason, fields: Record<string, unknown>) => void;
  limits: () => Config['mqtt']['limits'];
  connectTimeoutMs: number;
  /** Closes any other connection (3.1.1 or 5) with this client id: a session takeover. */
  takeOver: (clientId: string, by: Mqtt5Connection) => void;
  /** The connection ended (after CONNACK 0): forget it. */
  ended: (conn: Mqtt5Connection) => void;
  /** Authentication finished after the socket had closed: drop the state it registered. */
  lateClose: (conn: Mqtt5Connection) => void;
  /** mqtt.sessions on: subscriptions and sessions; null: SUBSCRIBE refused, Session Expiry 0. */
  sessions: Mqtt5Sessions | null;
  /** Wills from CONNECT to publication (stored when sessions are on). */
  wills: Mqtt5Wills;
  /** forwardDevicePublishes: an appended PUBLISH (or will) goes on to subscribers. */
  forward: ((packet: PublishPacketLike, conn: Mqtt5Connection) => void) | null;
}
