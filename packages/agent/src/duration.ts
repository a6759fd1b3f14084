/**
 * Go duration strings (`30s`, `1m30s`, `500ms`), the form Calico resources
 * use for keepaliveTime and maxRestartTime.
 */
import { TerraceError } from '@terrace/api';

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration into milliseconds; `where` names the field for the error. */
export function parseGoDuration(text: string, where = 'duration'): number {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
    matched = re.lastIndex;
  }
  if (matched === 0 || matched !== s.length) {
    throw new TerraceError('Invalid', `${where} "${text}" is not a duration (examples: 30s, 1m30s, 500ms)`);
  }
  return total;
}

/** Whole seconds, at least 1, for BGP timers (which count in seconds). */
export function durationSeconds(text: string, where?: string): number {
  return Math.max(1, Math.round(parseGoDuration(text, where) / 1000));
}
