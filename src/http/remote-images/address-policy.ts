/**
 * Which IP addresses an image URL may connect to: only global unicast. ipaddr.js names the
 * special-purpose ranges (private, loopback, link-local including 169.254.169.254 cloud
 * metadata, carrier-grade NAT, multicast, reserved and documentation blocks, IPv6 unique-local,
 * link-local, IPv4-mapped, NAT64, 6to4, Teredo...); anything it does not call 'unicast' is
 * refused, as is the deprecated IPv4-compatible block ::/96 it does not name.
 */
import ipaddr from 'ipaddr.js';

const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');

export interface AddressVerdict {
  readonly allowed: boolean;
  /** ipaddr.js range name ('private', 'loopback', 'linkLocal', ...) or 'invalid'. */
  readonly range: string;
}

export function classifyAddress(address: string): AddressVerdict {
  if (!ipaddr.isValid(address)) return { allowed: false, range: 'invalid' };
  const parsed = ipaddr.parse(address);
  const range = parsed.range();
  if (range === 'unicast' && parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).match(IPV4_COMPATIBLE)) return { allowed: false, range: 'ipv4Compatible' };
  return { allowed: range === 'unicast', range };
}

export function isPublicAddress(address: string): boolean {
  return classifyAddress(address).allowed;
}
