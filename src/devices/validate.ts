/** Validation of operator input: device ids, cert CNs, override patterns and rates. */
import { OutpostError } from '../errors.ts';
import type { DeviceOverrides } from './types.ts';

/**
 * Device ids become MQTT topic levels ({deviceId} captures) and Kafka record headers, so they
 * may not contain the MQTT separator or wildcards (`/`, `+`, `#`).
 */
export const DEVICE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
export const MAX_CERT_CN_LENGTH = 256;
export const MAX_OVERRIDE_TOPICS = 64;
export const MAX_TOPIC_PATTERN_LENGTH = 512;

export function isValidDeviceId(id: string): boolean {
  return DEVICE_ID.test(id);
}

export function assertDeviceId(id: string): void {
  if (!isValidDeviceId(id)) {
    throw new OutpostError(
      'DEVICE_INVALID',
      `invalid device id ${JSON.stringify(id)}: use 1-128 characters from A-Z a-z 0-9 _ . : - (no "/", "+", "#")`,
      { deviceId: id, reason: 'id' },
    );
  }
}

export function assertCertCn(cn: string, deviceId: string): void {
  // Control characters and NUL have no place in a CN/SAN match and would corrupt log lines.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting them is the point
  if (cn.length === 0 || cn.length > MAX_CERT_CN_LENGTH || /[\u0000-\u001f\u007f]/.test(cn)) {
    throw new OutpostError(
      'DEVICE_INVALID',
      `invalid certificate CN ${JSON.stringify(cn)}: 1-${MAX_CERT_CN_LENGTH} printable characters`,
      { deviceId, reason: 'certCn' },
    );
  }
}

/**
 * An MQTT topic filter: `+` occupies a whole level, `#` only the whole last level
 * [MQTT-4.7.1-2], [MQTT-4.7.1-3]; not empty [MQTT-4.7.3-1]; no NUL [MQTT-4.7.3-2].
 */
export function isValidTopicFilter(pattern: string): boolean {
  if (pattern.length === 0 || pattern.length > MAX_TOPIC_PATTERN_LENGTH || pattern.includes('\u0000')) {
    return false;
  }
  const levels = pattern.split('/');
  return levels.every((level, i) => {
    if (level.includes('#')) return level === '#' && i === levels.length - 1;
    if (level.includes('+')) return level === '+';
    return true;
  });
}

export function assertOverrides(o: DeviceOverrides, deviceId: string): void {
  if (o.topics !== undefined) {
    if (o.topics.length > MAX_OVERRIDE_TOPICS) {
      throw new OutpostError('DEVICE_INVALID', `at most ${MAX_OVERRIDE_TOPICS} topic patterns per device`, {
        deviceId,
        reason: 'topics',
      });
    }
    for (const t of o.topics) {
      if (!isValidTopicFilter(t)) {
        throw new OutpostError(
          'DEVICE_INVALID',
          `invalid topic pattern ${JSON.stringify(t)}: "+" and "#" must fill a whole level, "#" only last`,
          { deviceId, reason: 'topics' },
        );
      }
    }
  }
  if (o.rate !== undefined) {
    const { perSecond, burst } = o.rate;
    if (!Number.isInteger(perSecond) || perSecond <= 0 || !Number.isInteger(burst) || burst <= 0) {
      throw new OutpostError('DEVICE_INVALID', 'rate needs positive integers perSecond and burst', {
        deviceId,
        reason: 'rate',
      });
    }
  }
}
