/**
 * The adversarial rig: N well-behaved publishers (mqtt.js, QoS 1, a window of messages always in
 * flight, so every group commit mixes their records with whatever the bad client sends) run against a
 * real ingest (aedes, real sockets, real LMDB log) while one bad client tries one hostile case.
 *
 * What the rig proves for every case: no good publisher was disconnected, every message a good
 * publisher sent was acknowledged, and every acknowledged message is in the log exactly once.
 */
import type { MqttClient } from 'mqtt';
import { expect } from 'vitest';
import type { ConfigInput } from '../../src/config/index.ts';
import { baseConfig, connect, type Harness, type HarnessOptions, startHarness } from '../ingest/helpers.ts';

export interface Good {
  client: MqttClient;
  id: string;
  sent: number;
  acked: number;
  failed: number;
  closes: number;
  stopped: boolean;
  done: Promise<void>;
}

const WINDOW = 8;
/** Upper bound per publisher, whatever happens (every load loop is bounded). */
const MAX_MESSAGES = 20_000;

function startGood(client: MqttClient, id: string): Good {
  const g: Good = {
    client,
    id,
    sent: 0,
    acked: 0,
    failed: 0,
    closes: 0,
    stopped: false,
    done: Promise.resolve(),
  };
  client.on('close', () => {
    g.closes++;
  });
  let inflight = 0;
  let finish: () => void = () => {};
  g.done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const pump = (): void => {
    while (!g.stopped && inflight < WINDOW && g.sent < MAX_MESSAGES && client.connected) {
      const seq = g.sent++;
      inflight++;
      client.publish(`open/good/${id}`, `${id}:${seq}`, { qos: 1 }, (err) => {
        inflight--;
        if (err) g.failed++;
        else g.acked++;
        if (inflight === 0 && (g.stopped || g.sent >= MAX_MESSAGES)) finish();
        else setImmediate(pump); // mqtt.js may call back synchronously: never recurse
      });
    }
    if (inflight === 0 && (g.stopped || !client.connected || g.sent >= MAX_MESSAGES)) finish();
  };
  pump();
  return g;
}

export interface Rig {
  h: Harness;
  goods: Good[];
}

export const GOOD_PUBLISHERS = 6;

export interface RigOptions {
  /** mqtt.limits for this case (merged over the rig's roomy defaults). */
  limits?: Record<string, unknown>;
  /** Other mqtt settings for this case (merged). */
  mqtt?: Record<string, unknown>;
  /** Other top-level config for this case. */
  config?: Partial<ConfigInput>;
  harness?: HarnessOptions;
}

export async function startRig(opts: RigOptions = {}): Promise<Rig> {
  const input = baseConfig({
    mqtt: {
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
      allowAnonymous: 'loopback',
      ...opts.mqtt,
      limits: {
        maxPayloadBytes: 64 * 1024,
        maxInflightPerClient: 64,
        publishRate: { perSecond: 100_000, burst: 100_000 },
        ...opts.limits,
      },
    },
    ...opts.config,
  });
  const h = await startHarness(input, opts.harness);
  const goods: Good[] = [];
  for (let i = 0; i < GOOD_PUBLISHERS; i++) {
    const id = `good${i}`;
    goods.push(startGood(await connect(h.url(), { clientId: id, keepalive: 30 }), id));
  }
  await untilEveryGoodAcked(goods, 20);
  return { h, goods };
}

async function untilEveryGoodAcked(goods: Good[], more: number): Promise<void> {
  const target = goods.map((g) => g.acked + more);
  for (let i = 0; i < 2000; i++) {
    if (goods.every((g, j) => g.acked >= (target[j] as number) || !g.client.connected)) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * After the bad client's case: the good publishers go on for a while (so their records share commits
 * with whatever the bad client left behind), then stop; then the rig's three assertions.
 */
export async function assertGoodUnharmed(rig: Rig): Promise<void> {
  await untilEveryGoodAcked(rig.goods, 20);
  for (const g of rig.goods) g.stopped = true;
  await Promise.all(rig.goods.map((g) => Promise.race([g.done, new Promise((r) => setTimeout(r, 10_000))])));
  const stored = new Map<string, number>();
  for (const r of rig.h.records('open')) {
    const v = r.value.toString();
    stored.set(v, (stored.get(v) ?? 0) + 1);
  }
  for (const g of rig.goods) {
    expect({ id: g.id, closes: g.closes, failed: g.failed }).toEqual({ id: g.id, closes: 0, failed: 0 });
    expect({ id: g.id, unacked: g.sent - g.acked }).toEqual({ id: g.id, unacked: 0 });
    let missing = 0;
    let duplicated = 0;
    for (let seq = 0; seq < g.acked; seq++) {
      const n = stored.get(`${g.id}:${seq}`) ?? 0;
      if (n === 0) missing++;
      if (n > 1) duplicated++;
    }
    expect({ id: g.id, missing, duplicated }).toEqual({ id: g.id, missing: 0, duplicated: 0 });
  }
}

export type { Harness };
