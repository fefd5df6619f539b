/** Device load for service tests: real MQTT QoS 1 publishers recording what was PUBACKed. */
import type { MqttClient } from 'mqtt';

/** Publishes QoS 1 messages back to back (bounded), recording every PUBACKed payload. */
export function publishLoop(client: MqttClient, deviceId: string, acked: Set<string>, max: number) {
  let sent = 0;
  let stopped = false;
  const inflight = new Set<string>();
  const done = new Promise<void>((resolve) => {
    const next = () => {
      if (stopped || sent >= max || !client.connected) {
        resolve();
        return;
      }
      const id = `${deviceId}:${sent++}`;
      inflight.add(id);
      client.publish(`a/${deviceId}/t`, id, { qos: 1 }, (err) => {
        inflight.delete(id);
        if (!err) acked.add(id);
      });
      // Keep up to 20 in flight per client.
      if (inflight.size < 20) setImmediate(next);
      else client.once('packetreceive', () => setImmediate(next));
    };
    client.once('close', () => {
      stopped = true;
      resolve();
    });
    next();
  });
  return { done, inflight, stop: () => (stopped = true) };
}

export async function waitForAcks(acked: Set<string>, n: number, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (acked.size < n) {
    if (Date.now() > until) throw new Error(`only ${acked.size} of ${n} publishes acknowledged`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
