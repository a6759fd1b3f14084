/**
 * The controller's logger: one JSON object per line for log collectors, or
 * readable text; every line carries the controller's identity, so the
 * lines of two controllers can be told apart after they are merged.
 */
import winston from 'winston';

export type LogFormat = 'json' | 'text';
export type Logger = winston.Logger;

export function createLogger(format: LogFormat, level = 'info', identity?: string): Logger {
  const fmt =
    format === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json())
      : winston.format.combine(
          winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
          winston.format.errors({ stack: false }),
          winston.format.printf((info) => {
            const { timestamp, level: lvl, message, controller, ...rest } = info;
            const extra = Object.entries(rest)
              .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
              .join(' ');
            const who = typeof controller === 'string' ? ` [${controller}]` : '';
            return `${String(timestamp)}${who} ${lvl.padEnd(5)} ${String(message)}${extra ? ` ${extra}` : ''}`;
          }),
        );
  return winston.createLogger({
    level,
    defaultMeta: identity ? { controller: identity } : {},
    format: fmt,
    // Everything to stderr, like the agent.
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
}

/** A logger that drops everything. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
