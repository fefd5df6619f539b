/**
 * MM2 heartbeats from the edge: every `intervalMs`, Heartbeat(edgeId, alias, now) to `heartbeats`
 * (what an MM2 heartbeat connector writes on its target) and to `<edgeId>.heartbeats` (the edge's
 * heartbeat stream as if mirrored, which MirrorClient.upstreamClusters looks for). Both partition 0.
 */
import { encodeHeartbeat } from '../formats/heartbeat.ts';
import { HEARTBEATS_TOPIC, remoteHeartbeatsTopic } from '../naming.ts';
import type { RemoteSession } from './remote.ts';
import { timed } from './timed.ts';

export async function heartbeatLoop(opts: {
  session: RemoteSession;
  edgeId: string;
  alias: string;
  intervalMs: () => number;
  timeoutMs: number;
  signal: AbortSignal;
  /** Runs after each heartbeat (periodic housekeeping of the link). */
  onTick: () => Promise<void>;
}): Promise<void> {
  const { session, edgeId, alias, signal } = opts;
  while (!signal.aborted) {
    const now = Date.now();
    const { key, value } = encodeHeartbeat({
      sourceClusterAlias: edgeId,
      targetClusterAlias: alias,
      timestamp: now,
    });
    const rec = [{ key, value, timestamp: now, headers: new Map<Buffer, Buffer>() }];
    for (const topic of [HEARTBEATS_TOPIC, remoteHeartbeatsTopic(edgeId)]) {
      await timed(session.produce(topic, 0, rec), opts.timeoutMs, 'heartbeat', alias);
    }
    await opts.onTick();
    // The abort listener goes when the wait ends either way (one per tick would pile up on the
    // session's signal for as long as the session lives).
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, opts.intervalMs());
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
