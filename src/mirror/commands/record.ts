/**
 * One command record → what to do with it, as named steps (pure; no I/O):
 *
 *   ours?      gatewayHeader (when set) must equal edgeId, else skip (another gateway's command)
 *   identity   idHeader, else sha256 over key, value, timestamp and headers (an MM2 copy keeps all four)
 *   expiry     ttlHeader: decimal ms after the record timestamp; now ≥ timestamp + ttl → expired
 *   target     deviceFrom → deviceId (non-empty, no "/", "+", "#")
 *   topic      mqttTopic rendered: no wildcard [MQTT-3.3.2-2], no NUL, 1..65535 bytes [MQTT-4.7.3-1/-3]
 *   qos        qosHeader "0" | "1" | "2", else config qos
 */
import { createHash } from 'node:crypto';
import type { CommandsConfig } from '../../config/index.ts';
import type { CommandRecord, Parsed, RejectReason } from './types.ts';

export interface ParseContext {
  edgeId: string;
  cfg: CommandsConfig;
  now: number;
}

/** Header value (UTF-8) of the first header with that name, or undefined. */
export function header(rec: CommandRecord, name: string): string | undefined {
  for (const [k, v] of rec.headers) if (k === name) return v.toString('utf8');
  return undefined;
}

/** Renders {edgeId}, {deviceId}, {key}, {header.NAME}; null when a referenced key/header is absent. */
export function render(
  template: string,
  rec: CommandRecord,
  vars: { edgeId: string; deviceId?: string },
): string | null {
  let missing = false;
  const out = template.replace(/\{(edgeId|deviceId|key|header\.[^{}]+)\}/g, (_m, name: string) => {
    let v: string | undefined;
    if (name === 'edgeId') v = vars.edgeId;
    else if (name === 'deviceId') v = vars.deviceId;
    else if (name === 'key') v = rec.key?.toString('utf8');
    else v = header(rec, name.slice('header.'.length));
    if (v === undefined || v === '') missing = true;
    return v ?? '';
  });
  return missing ? null : out;
}

/**
 * The command's identity. A stable id header is preferred; without it the content digest is the
 * same on every copy of the record (MM2 keeps key, value, timestamp and headers), so two clusters'
 * copies are one command; two distinct commands with equal content and timestamp are one too.
 */
export function commandId(rec: CommandRecord, idHeader: string): string {
  const id = header(rec, idHeader);
  if (id !== undefined && id !== '') return id;
  const h = createHash('sha256');
  const part = (b: Buffer | null) => {
    const len = Buffer.alloc(4);
    len.writeInt32BE(b === null ? -1 : b.length);
    h.update(len);
    if (b !== null) h.update(b);
  };
  part(rec.key);
  part(rec.value);
  h.update(String(rec.timestamp));
  for (const [k, v] of rec.headers) {
    part(Buffer.from(k));
    part(v);
  }
  return `sha256:${h.digest('hex')}`;
}

/** Expiry time (epoch ms) from the TTL header or defaultTtlMs; null: never; 'bad' when malformed. */
export function expiresAt(rec: CommandRecord, cfg: CommandsConfig): number | null | 'bad' {
  const raw = header(rec, cfg.ttlHeader);
  if (raw === undefined) return cfg.defaultTtlMs === null ? null : rec.timestamp + cfg.defaultTtlMs;
  if (!/^\d{1,15}$/.test(raw.trim())) return 'bad';
  return rec.timestamp + Number(raw.trim());
}

const NUL = String.fromCharCode(0);

function validTopic(t: string): boolean {
  const bytes = Buffer.byteLength(t);
  return bytes > 0 && bytes <= 65_535 && !/[+#]/.test(t) && !t.includes(NUL);
}

function qosOf(rec: CommandRecord, cfg: CommandsConfig): 0 | 1 | 2 | null {
  if (cfg.qosHeader === null) return cfg.qos;
  const raw = header(rec, cfg.qosHeader);
  if (raw === undefined) return cfg.qos;
  return raw === '0' ? 0 : raw === '1' ? 1 : raw === '2' ? 2 : null;
}

export function parseCommand(rec: CommandRecord, ctx: ParseContext): Parsed {
  const { cfg, edgeId } = ctx;
  if (cfg.gatewayHeader !== null && header(rec, cfg.gatewayHeader) !== edgeId) return { kind: 'skip' };
  const id = commandId(rec, cfg.idHeader);
  const deviceId = render(cfg.deviceFrom, rec, { edgeId });
  const reject = (reason: RejectReason, detail: string): Parsed => ({
    kind: 'rejected',
    id,
    deviceId,
    reason,
    detail,
  });
  const expiry = expiresAt(rec, cfg);
  if (expiry === 'bad') return reject('bad-ttl', `${cfg.ttlHeader} is not decimal milliseconds`);
  if (expiry !== null && ctx.now >= expiry) return { kind: 'expired', id, deviceId, expiredAt: expiry };
  if (deviceId === null || /[/+#]/.test(deviceId) || deviceId.includes(NUL))
    return reject('no-device', `no device id from ${cfg.deviceFrom}`);
  const topic = render(cfg.mqttTopic, rec, { edgeId, deviceId });
  if (topic === null || !validTopic(topic))
    return reject('bad-topic', `${cfg.mqttTopic} renders no valid MQTT topic name`);
  const qos = qosOf(rec, cfg);
  if (qos === null) return reject('bad-qos', `${cfg.qosHeader} is not 0, 1 or 2`);
  return {
    kind: 'deliver',
    id,
    deviceId,
    topic,
    qos,
    payload: rec.value ?? Buffer.alloc(0),
    expiresAt: expiry,
  };
}
