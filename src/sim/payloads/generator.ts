import type { Rng } from '../prng.ts';

export type DeviceKind = 'stb' | 'vehicle';

/** One message a simulated device wants to publish. `payload` is the JSON object (before encoding). */
export interface SimMessage {
  topic: string;
  seq: number;
  payload: Record<string, unknown> & { deviceId: string; seq: number; run: string; ts: number };
}

export interface GeneratorOptions {
  deviceId: string;
  run: string;
  rng: Rng;
  /** Added to the wall clock in every `ts` (ms), for --chaos-skew. */
  clockSkewMs?: number;
}

/**
 * A device's payload source. Pure apart from `now`: the same seed and the same `now` values give the
 * same messages, so seeded runs are reproducible. Each `next()` consumes the next sequence number.
 */
export interface DeviceGenerator {
  readonly deviceId: string;
  readonly kind: DeviceKind;
  /** Sequence number the next message will carry (starts at 1). */
  readonly nextSeq: number;
  next(now: number): SimMessage;
}

/** A payload without its envelope (distributes over unions, unlike Omit). */
export type BodyOf<P> = P extends unknown ? Omit<P, 'deviceId' | 'seq' | 'run' | 'ts'> : never;
