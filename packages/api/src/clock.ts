/**
 * The two clocks, kept apart. Every duration and deadline (grace periods,
 * leadership validity, cache ages, timeouts) is measured on the monotonic
 * clock, which never jumps: a wall clock set back by ten minutes (NTP
 * stepping, an operator, a VM resumed) would otherwise stretch a lost
 * leadership by ten minutes, and one set forward would end a grace period
 * early and free a live node's addresses. The wall clock is only for what a
 * human reads (RFC 3339 times in status records and logs).
 */

/** Milliseconds on the monotonic clock (arbitrary origin; only differences mean anything). */
export function monotonicMs(): number {
  return performance.now();
}

/**
 * The wall-clock time (ms since the epoch) of a monotonic reading, for
 * display: now on the wall clock minus how long ago it was. After a wall
 * clock jump it shows the past moment in the new clock's terms.
 */
export function wallTimeOf(mono: number, nowWall: number = Date.now(), nowMono: number = monotonicMs()): number {
  return nowWall - (nowMono - mono);
}
