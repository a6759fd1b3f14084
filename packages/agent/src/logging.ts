/**
 * The agent's logger: JSON lines in production (one object per line, for log
 * collectors), readable text on a terminal.
 */
import winston from 'winston';
import type { LogFormat } from './config.js';

export type Logger = winston.Logger;

export function createLogger(format: LogFormat, level = 'info', node?: string): Logger {
  const base = node ? { node } : {};
  const fmt =
    format === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json())
      : winston.format.combine(
          winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
          winston.format.errors({ stack: false }),
          winston.format.printf((info) => {
            const { timestamp, level: lvl, message, node: _n, ...rest } = info;
            const extra = Object.entries(rest)
              .filter(([k]) => typeof k === 'string')
              .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
              .join(' ');
            return `${String(timestamp)} ${lvl.padEnd(5)} ${String(message)}${extra ? ` ${extra}` : ''}`;
          }),
        );
  return winston.createLogger({
    level,
    defaultMeta: base,
    format: fmt,
    // Everything to stderr: stdout stays free for anything a wrapper parses.
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
