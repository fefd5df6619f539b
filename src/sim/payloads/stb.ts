import type { BodyOf, DeviceGenerator, GeneratorOptions, SimMessage } from './generator.ts';
import type { StbPayload } from './schemas.ts';

const APPS = ['netflix', 'youtube', 'prime-video', 'weather', 'music', 'epg', 'settings'] as const;
const PLAYBACK_ERRORS = [
  { code: 'E1001', message: 'signal lost' },
  { code: 'E1102', message: 'decoder underrun' },
  { code: 'E2003', message: 'DRM license expired' },
  { code: 'E3004', message: 'CDN timeout' },
  { code: 'E4005', message: 'unsupported codec' },
] as const;
/** Simulated seconds between two messages of one box (drives uptime). */
const STEP_S = 5;
/** Every n-th message of a powered box is a heartbeat. */
const HEARTBEAT_EVERY = 4;

type Body = BodyOf<StbPayload>;

/**
 * A set-top box: a small state machine (standby ⇄ on; on: zap channels, launch apps, occasional
 * playback errors) plus a periodic heartbeat with signal quality.
 * Topics: stb/{deviceId}/events/{power|channel|app|playback-error}, stb/{deviceId}/heartbeat.
 */
export function stbGenerator(opts: GeneratorOptions): DeviceGenerator {
  const { deviceId, run, rng } = opts;
  const skew = opts.clockSkewMs ?? 0;
  let seq = 1;
  let powered = rng.chance(0.8);
  let uptimeS = powered ? rng.int(60, 86_400) : 0;
  let channel: number | null = powered ? rng.int(1, 120) : null;
  let snr = rng.float(22, 38);
  let sinceHeartbeat = 0;

  const event = (): { topic: string; body: Body } => {
    const heartbeat = (): { topic: string; body: Body } => {
      snr = Math.min(45, Math.max(0, snr + rng.gauss() * 0.8));
      return {
        topic: `stb/${deviceId}/heartbeat`,
        body: {
          type: 'heartbeat',
          powered,
          uptimeS,
          signal: {
            snrDb: round(snr, 1),
            strengthDbm: round(Math.min(-20, Math.max(-90, -75 + snr * 0.9 + rng.gauss())), 1),
            berE6: round(Math.min(1000, Math.max(0, 400 / (1 + snr) + rng.float(0, 2))), 2),
          },
        },
      };
    };
    if (++sinceHeartbeat >= HEARTBEAT_EVERY) {
      sinceHeartbeat = 0;
      return heartbeat();
    }
    if (!powered) {
      if (rng.chance(0.3)) {
        powered = true;
        uptimeS = 0;
        channel = rng.int(1, 120);
        return { topic: `stb/${deviceId}/events/power`, body: { type: 'power', state: 'on' } };
      }
      return heartbeat();
    }
    const r = rng.next();
    if (r < 0.05) {
      powered = false;
      channel = null;
      return { topic: `stb/${deviceId}/events/power`, body: { type: 'power', state: 'off' } };
    }
    if (r < 0.65) {
      const previous = channel;
      channel =
        rng.chance(0.6) && previous !== null
          ? Math.min(999, Math.max(1, previous + rng.pick([-1, 1])))
          : rng.int(1, 999);
      const programId = `PRG-${String(channel).padStart(3, '0')}-${String(rng.int(0, 9999)).padStart(4, '0')}`;
      return {
        topic: `stb/${deviceId}/events/channel`,
        body: { type: 'channel', channelId: channel, previousChannelId: previous, programId },
      };
    }
    if (r < 0.9) {
      return {
        topic: `stb/${deviceId}/events/app`,
        body: { type: 'app', appId: rng.pick(APPS), action: rng.chance(0.7) ? 'launch' : 'exit' },
      };
    }
    const err = rng.pick(PLAYBACK_ERRORS);
    return {
      topic: `stb/${deviceId}/events/playback-error`,
      body: { type: 'playback-error', code: err.code, message: err.message, channelId: channel },
    };
  };

  return {
    deviceId,
    kind: 'stb',
    get nextSeq() {
      return seq;
    },
    next(now: number): SimMessage {
      const { topic, body } = event();
      if (powered) uptimeS += STEP_S;
      const s = seq++;
      return { topic, seq: s, payload: { deviceId, seq: s, run, ts: Math.round(now + skew), ...body } };
    },
  };
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
