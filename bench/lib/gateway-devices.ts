/**
 * A bench:gateway client process (forked by bench/gateway.ts): `devices` real mqtt.js clients,
 * each one device with its own connection that publishes one `payload`-byte QoS 1 message every
 * `periodMs` for `seconds`, the devices' phases spread evenly over one period (a fleet is not
 * synchronised). Bounded: each device sends exactly `seconds * 1000 / periodMs` messages, then
 * the process waits at most `drainMs` for the last PUBACKs and counts the rest as unacknowledged.
 *
 * IPC: "connected" once every device's CONNACK arrived; on "go" the load; then "result".
 */
import type { MqttClient } from 'mqtt';
import { connectAll } from './load-worker.ts';

export interface DevicesJob {
  port: number;
  /** First device number of this process (device ids are global across processes). */
  first: number;
  devices: number;
  /** Devices in the whole fleet, for spreading the phases. */
  fleet: number;
  periodMs: number;
  seconds: number;
  payload: number;
  drainMs: number;
}

export interface DevicesResult {
  sent: number;
  acked: number;
  /** Publishes that got no PUBACK within the drain, or an error (counted in `errors` too). */
  unacked: number;
  errors: number;
  latenciesUs: number[];
  /** When each of latenciesUs was sent, ms after startedAt. */
  sentAtMs: number[];
  startedAt: number;
  endedAt: number;
}

/** A 200-byte-style telemetry payload: JSON with the device, sequence and time, padded to `size`. */
function payloadFor(device: number, seq: number, size: number): Buffer {
  const head = `{"d":${device},"seq":${seq},"ts":${Date.now()},"pad":"`;
  return Buffer.from(head.padEnd(Math.max(head.length, size - 2), 'x') + '"}');
}

async function run(job: DevicesJob): Promise<void> {
  const send = (m: unknown) => process.send?.(m);
  const clients: MqttClient[] = await connectAll(job.port, job.devices, `gw-${job.first}`);
  send({ type: 'connected' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  const perDevice = Math.floor((job.seconds * 1000) / job.periodMs);
  const latencies: number[] = [];
  const sentAtMs: number[] = [];
  let sent = 0;
  let acked = 0;
  let errors = 0;
  const startedAt = Date.now();
  const t0 = performance.now();
  let allSent!: () => void;
  const sending = new Promise<void>((r) => (allSent = r));
  let pending = 0;
  let lastAck: () => void = () => {};
  const publishOne = (i: number, c: MqttClient, seq: number): void => {
    const device = job.first + i;
    const sentAt = performance.now();
    sent++;
    pending++;
    c.publish(
      `vehicles/dev-${device}/telemetry/gps`,
      payloadFor(device, seq, job.payload),
      { qos: 1 },
      (err) => {
        pending--;
        if (err) errors++;
        else {
          acked++;
          latencies.push(Math.round((performance.now() - sentAt) * 1000));
          sentAtMs.push(Math.round(sentAt - t0));
        }
        if (pending === 0) lastAck();
      },
    );
  };
  // One scheduler for all devices: device i sends message k at phase(i) + k * period.
  const next = clients.map(() => 0);
  const phase = (i: number): number => (((job.first + i) % job.fleet) * job.periodMs) / job.fleet;
  const tick = setInterval(() => {
    const now = performance.now() - t0;
    let done = true;
    for (let i = 0; i < clients.length; i++) {
      while ((next[i] as number) < perDevice && phase(i) + (next[i] as number) * job.periodMs <= now) {
        publishOne(i, clients[i] as MqttClient, next[i] as number);
        next[i] = (next[i] as number) + 1;
      }
      if ((next[i] as number) < perDevice) done = false;
    }
    if (done) {
      clearInterval(tick);
      allSent();
    }
  }, 5);
  await sending;
  const sentAll = Date.now();
  if (pending > 0) {
    await new Promise<void>((resolve) => {
      lastAck = resolve;
      setTimeout(resolve, job.drainMs);
    });
  }
  const endedAt = pending > 0 ? sentAll + job.drainMs : Date.now();
  for (const c of clients) c.end(true);
  const result: DevicesResult = {
    sent,
    acked,
    unacked: sent - acked,
    errors,
    latenciesUs: latencies,
    sentAtMs,
    startedAt,
    endedAt,
  };
  send({ type: 'result', result });
}

if (import.meta.main) {
  run(JSON.parse(process.argv[2] as string) as DevicesJob).then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
