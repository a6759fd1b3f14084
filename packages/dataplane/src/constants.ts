/**
 * The dataplane's numbers in one place. Everything that programs or reads the
 * kernel imports them from here.
 */

/**
 * The route protocol number (rtm_protocol) that marks a kernel route as ours.
 * Route sync reads, replaces and deletes only routes carrying it, so routes
 * added by anyone else (the kernel, DHCP, FRR, an operator) are never touched.
 *
 * scripts/install-deps.sh registers it as `terrace` in
 * /etc/iproute2/rt_protos.d/terrace.conf so `ip route` shows `proto terrace`;
 * keep the two in sync. Commands we issue use the number, never the name, so
 * they work on hosts without that file.
 */
export const ROUTE_PROTOCOL = 201;

/** The name the installer registers for ROUTE_PROTOCOL (display only). */
export const ROUTE_PROTOCOL_NAME = 'terrace';

/** The kernel's main routing table, used when a route names no table. */
export const MAIN_TABLE = 254;

/**
 * The metric the kernel gives a route that names none: 0 for IPv4, 1024 for
 * IPv6. A route's identity (table, destination, metric) uses these, so a route
 * with no metric and one with the default metric are the same route.
 */
export const DEFAULT_METRIC_V4 = 0;
export const DEFAULT_METRIC_V6 = 1024;

/** How often RouteSync re-reads the kernel and repairs drift, by default. */
export const DEFAULT_RESYNC_INTERVAL_MS = 30_000;

/** The iproute2 binary, by default found on PATH. */
export const DEFAULT_IP_COMMAND = 'ip';

/** Most next hops one multipath route may have (iproute2 splits a batch line into at most 512 words). */
export const MAX_NEXT_HOPS = 64;

/** Linux interface names are at most 15 bytes (IFNAMSIZ - 1). */
export const MAX_IFNAME_LENGTH = 15;
