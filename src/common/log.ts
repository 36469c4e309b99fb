import * as fs from 'node:fs';

/** Structured logging: one JSON object per line (or logfmt-like text), with a level, a time and a message. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'text';

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** A file path to append to, or a numeric fd (2 = stderr). */
  destination?: string | number;
  fields?: Record<string, unknown>;
}

export class Logger {
  private readonly level: LogLevel;
  private readonly format: LogFormat;
  private fd: number | undefined;
  private readonly destination: string | number;
  private readonly fields: Record<string, unknown>;

  constructor(options: LoggerOptions = {}) {
    this.level = options.level ?? 'info';
    this.format = options.format ?? 'json';
    this.destination = options.destination ?? 2;
    this.fields = options.fields ?? {};
  }

  child(fields: Record<string, unknown>): Logger {
    return new Logger({ level: this.level, format: this.format, destination: this.destination, fields: { ...this.fields, ...fields } });
  }

  debug(msg: string, fields?: Record<string, unknown>): void { this.write('debug', msg, fields); }
  info(msg: string, fields?: Record<string, unknown>): void { this.write('info', msg, fields); }
  warn(msg: string, fields?: Record<string, unknown>): void { this.write('warn', msg, fields); }
  error(msg: string, fields?: Record<string, unknown>): void { this.write('error', msg, fields); }

  private write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (rank[level] < rank[this.level]) return;
    const time = new Date().toISOString();
    const all = { ...this.fields, ...fields };
    let line: string;
    if (this.format === 'json') {
      line = JSON.stringify({ level, time, msg, ...all });
    } else {
      const kv = Object.entries(all).map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v)}`);
      line = [`time="${time}"`, `level=${level}`, `msg=${JSON.stringify(msg)}`, ...kv].join(' ');
    }
    try {
      if (this.fd === undefined) {
        this.fd = typeof this.destination === 'number' ? this.destination : fs.openSync(this.destination, 'a', 0o600);
      }
      fs.writeSync(this.fd, line + '\n');
    } catch {
      // Logging must never turn a successful operation into a failure.
    }
  }
}

export const silentLogger = new Logger({ level: 'error', destination: '/dev/null' });
