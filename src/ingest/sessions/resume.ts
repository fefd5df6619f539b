/**
 * An ordered, single-copy resume of a persistent session.
 *
 * aedes restores a session's subscriptions before it drains the stored queue (lib/handlers/
 * connect.js: restoreSubs … doConnack, emptyQueue), so a message published in between also goes out
 * live: ahead of older queued messages, and, when the drain's snapshot (persistence.outgoingStream)
 * holds it as well, twice with DUP 0 under two packet ids (the drain bypasses the client's dedupe).
 *
 * So, from authentication until the drain is written (the client's 'connected' event, emitted
 * after emptyQueue's last write callback), a live QoS 1/2 copy that the session's queue holds is not
 * sent: the store has it. Then, synchronously: aedes' per-client dedupe mark (client.duplicates) is
 * raised to the last drained message, so a late live copy of a drained one is not sent again, and
 * every message queued after the snapshot is sent in queue order through the client's own
 * deliverQoS (which raises the mark past each). Live copies after that flow as usual.
 */
import type { LmdbPersistence } from './persistence.ts';

/** The parts of an aedes Client this wraps (lib/client.js). */
export interface ResumingClient {
  id: string;
  clean: boolean;
  duplicates: Record<string, number>;
  deliverQoS: (packet: ResumePacket, cb: () => void) => void;
  once(event: 'connected', fn: () => void): unknown;
}

interface ResumePacket {
  qos: number;
  brokerId?: string;
  brokerCounter?: number;
}

const noop = () => {};

/** Call once per authenticated connection, before aedes restores its subscriptions. */
export function orderResume(c: ResumingClient, persistence: LmdbPersistence, brokerId: string): void {
  if (c.clean) return;
  const deliverQoS = c.deliverQoS;
  let resuming = true;
  c.deliverQoS = (packet, cb) => {
    const held =
      resuming &&
      packet.qos > 0 &&
      packet.brokerId === brokerId &&
      packet.brokerCounter !== undefined &&
      persistence.holds(c.id, packet.brokerCounter);
    if (held) {
      setImmediate(cb);
      return;
    }
    deliverQoS(packet, cb);
  };
  c.once('connected', () => {
    const drained = persistence.takeStreamed(c.id);
    resuming = false;
    c.duplicates[brokerId] = Math.max(c.duplicates[brokerId] ?? 0, drained);
    for (const packet of persistence.heldAfter(c.id, drained))
      if (packet.cmd === 'publish') deliverQoS({ ...packet, qos: packet.qos ?? 1 }, noop);
  });
}
