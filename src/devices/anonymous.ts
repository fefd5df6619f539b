/** Anonymous-access policy: `true`, `false`, or `'loopback'` (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** True for loopback addresses, including IPv4-mapped IPv6 (BlockList matches those against IPv4 rules). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined || address === '') return false;
  const a = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (isIPv4(a)) return loopback.check(a, 'ipv4');
  if (isIPv6(a)) return loopback.check(a, 'ipv6');
  return false;
}

export function anonymousAllowed(policy: boolean | 'loopback', remoteAddress: string | undefined): boolean {
  if (policy === 'loopback') return isLoopback(remoteAddress);
  return policy;
}

/** "::ffff:1.2.3.4" → "1.2.3.4" so one client is one throttle key whatever the socket family. */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m?.[1] ?? address.toLowerCase();
}
