/**
 * MQTT 5 SUBSCRIBE / UNSUBSCRIBE answers that need no session: the reason code of each filter
 * (§3.9.3, in the order of the filters [MQTT-3.9.3-1]) and the answer while mqtt.sessions is off.
 *
 *   0x00-0x02  granted, with the QoS asked for (Outpost grants what was asked)
 *   0x87       not authorized: outside the subscription ACL (src/ingest/sessions/sessions.ts), or
 *              every filter while sessions are off; counted as subscribe-denied
 *   0x8F       topic filter invalid: empty, "#" not last or not alone in its level, "+" not alone
 *   0x9E       shared subscriptions not supported ($share/...); CONNACK says so
 * Subscription Identifiers are supported (CONNACK says so); wildcards are (within the ACL).
 */
import type { ISubscribePacket, IUnsubscribePacket, Packet } from 'mqtt-packet';
import type { RefusalReason } from '../metrics.ts';
import { RC } from './codes.ts';
import { reasonText } from './reason-string.ts';

export const SUB_RC = {
  topicFilterInvalid: 0x8f,
  sharedNotSupported: 0x9e,
} as const;

/** Why a filter cannot be subscribed to, or null [MQTT-4.7.1-1, MQTT-4.7.1-2, MQTT-4.8.2-1]. */
export function filterProblem(filter: string): 'invalid' | 'shared' | null {
  if (filter.length === 0 || filter.includes('\u0000')) return 'invalid';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    if (level === '#' && i !== levels.length - 1) return 'invalid';
    if (level.length > 1 && /[+#]/.test(level)) return 'invalid';
  }
  if (filter.startsWith('$share/')) return 'shared';
  return null;
}

export type Granted = { code: number; granted: boolean };

/** The SUBACK reason code of one filter; `allowed` is the ACL (asked only of a well-formed filter). */
export function subscribeCode(filter: string, qos: number, allowed: (f: string) => boolean): Granted {
  const problem = filterProblem(filter);
  if (problem === 'invalid') return { code: SUB_RC.topicFilterInvalid, granted: false };
  if (problem === 'shared') return { code: SUB_RC.sharedNotSupported, granted: false };
  if (!allowed(filter)) return { code: RC.notAuthorized, granted: false };
  return { code: qos, granted: true };
}

/** Sessions off: every filter refused with 0x87 and counted; UNSUBSCRIBE finds nothing (0x11). */
export function refuseSubscriptions(
  p: ISubscribePacket | IUnsubscribePacket,
  write: (packet: Packet) => void,
  refuse: (reason: RefusalReason, fields: Record<string, unknown>) => void,
  where: Record<string, unknown>,
): void {
  const messageId = p.messageId as number;
  if (p.cmd === 'unsubscribe') {
    write({
      cmd: 'unsuback',
      messageId,
      granted: p.unsubscriptions.map(() => RC.noSubscriptionExisted),
    } as Packet);
    return;
  }
  for (const s of p.subscriptions) refuse('subscribe-denied', { ...where, filter: s.topic });
  write({
    cmd: 'suback',
    messageId,
    granted: p.subscriptions.map(() => RC.notAuthorized),
    properties: { reasonString: reasonText('subscribe-denied') },
  });
}
