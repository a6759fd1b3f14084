/**
 * Go-style durations (`30s`, `1m30s`, `500ms`, `5m`): the form Calico
 * resources use for keepaliveTime and maxRestartTime, and the form of every
 * duration flag of the agent and the controller.
 */
import { quote, TerraceError } from './errors.js';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a duration into milliseconds; `where` names the field or flag in the error. */
export function parseDuration(text: string, where = 'duration'): number {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
    end = re.lastIndex;
  }
  if (end === 0 || end !== s.length) {
    throw new TerraceError('Invalid', `${where} ${quote(text)} is not a duration (examples: 30s, 1m30s, 500ms)`, { field: where });
  }
  return total;
}

/** Whole seconds, at least 1, for BGP timers (which count in seconds). */
export function durationSeconds(text: string, where?: string): number {
  return Math.max(1, Math.round(parseDuration(text, where) / 1000));
}

/** `300000` → `5m`, `1500` → `1.5s`: for logs and status tables. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  if (m < 60) return rest ? `${m}m${rest}s` : `${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
}
