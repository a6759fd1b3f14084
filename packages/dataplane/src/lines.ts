/**
 * Routes as `ip -batch` lines, for messages, tests and benchmarks that compare
 * route sync with iproute2. Route sync itself reads and writes the kernel
 * through rtnetlink (relay.ts, netlink.ts).
 */
import { canonOf, deleteArgs, replaceArgs } from './canon.js';
import type { Route } from './route.js';

/** `route replace ...`: one `ip -batch` line installing or updating the route. */
export function replaceLine(r: Route): string {
  return 'route replace ' + replaceArgs(canonOf(r));
}

/** `route del ...`: one `ip -batch` line deleting the route, if it is of our protocol. */
export function deleteLine(r: Route): string {
  return 'route del ' + deleteArgs(canonOf(r));
}
