/**
 * The daemons' logger (agent, controller): one JSON object per line in
 * production, for log collectors; readable text on a terminal. Every line
 * carries the daemon's identity (`node`, `controller`) so lines of several
 * daemons can be told apart once merged. Everything goes to stderr: stdout
 * stays free for anything a wrapper parses.
 */
import winston from 'winston';

export type LogFormat = 'json' | 'text';
/** The levels the daemons' --log-level takes, most severe first (winston's npm levels drop everything at any other). */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type Logger = winston.Logger;

/** JSON when stderr is not a terminal (a service manager, a pipe), text otherwise. */
export function defaultLogFormat(): LogFormat {
  return process.stderr.isTTY ? 'text' : 'json';
}

export function createLogger(format: LogFormat, level = 'info', identity: Record<string, string> = {}): Logger {
  const idKeys = Object.keys(identity);
  const fmt =
    format === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json())
      : winston.format.combine(
          winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
          winston.format.errors({ stack: false }),
          winston.format.printf((info) => {
            const { timestamp, level: lvl, message, ...rest } = info;
            const who = idKeys.map((k) => `[${String(rest[k])}]`).join('');
            const extra = Object.entries(rest)
              .filter(([k]) => !idKeys.includes(k))
              .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
              .join(' ');
            return `${String(timestamp)}${who ? ` ${who}` : ''} ${lvl.padEnd(5)} ${String(message)}${extra ? ` ${extra}` : ''}`;
          }),
        );
  return winston.createLogger({
    level,
    defaultMeta: identity,
    format: fmt,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
}

/** A logger that drops everything (tests that do not read logs). */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
export { type Service, type ServeOptions, reportBadInvocation, serveUntilSignal, runMain } from './service.js';
export {
  type CheckResult,
  type HealthEndpoints,
  type ListenAddress,
  type MetricsServer,
  type MetricsSource,
  formatListen,
  parseMetricsListen,
  startMetricsServer,
} from './metrics-server.js';
export { LoopBeat } from './loop-beat.js';
export { LATENCY_BUCKETS, etcdRequestMetrics } from './etcd-metrics.js';
