/**
 * A wall clock of a process's own, for clock-jump tests: libfaketime (Debian
 * `faketime`) preloaded, its offset read from a file on every call so that a
 * test can step it while the process runs. The monotonic clock stays real,
 * as when NTP or an operator steps a host's clock.
 */
import { writeFileSync } from 'node:fs';

export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

/** The environment for a process whose wall clock follows `clockFile` (starts at the real time). */
export function fakedClockEnv(clockFile: string): NodeJS.ProcessEnv {
  writeFileSync(clockFile, '+0\n');
  return { ...process.env, LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: clockFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}

/** Steps the clock of every process started with `fakedClockEnv(clockFile)` to `offset` from the real time, e.g. `+10m`, `-10m`. */
export function setFakedClock(clockFile: string, offset: string): void {
  writeFileSync(clockFile, `${offset}\n`);
}
