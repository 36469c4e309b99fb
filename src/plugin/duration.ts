/**
 * Durations as kubectl and Go take them (`300s`, `5m`, `1h30m`, `1.5m`), or a bare number of seconds (`90`),
 * in whole seconds: every duration the plugin passes on is an integer field of the NodeMigration.
 */
import { invalid } from '../common/errors';

const UNIT_SECONDS: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
const PART = /(\d+(?:\.\d+)?|\.\d+)(ms|h|m|s)/gy;

/** Seconds in `text`; an error naming `flag` when it is no duration or no whole number of seconds. */
export function parseDuration(flag: string, text: string): number {
  const bad = (why: string) => invalid(flag, `${JSON.stringify(text)} ${why} (e.g. 90, 300s, 5m, 1h30m)`);
  if (/^\d+$/.test(text)) return Number(text);
  if (text === '' || !/^[\d.hms]+$/.test(text)) throw bad('is not a duration');
  let total = 0;
  let at = 0;
  PART.lastIndex = 0;
  for (let m = PART.exec(text); m; m = PART.exec(text)) {
    total += Number(m[1]) * UNIT_SECONDS[m[2]];
    at = PART.lastIndex;
  }
  if (at !== text.length) throw bad('is not a duration');
  // Float sums such as 0.1+0.2 must not turn a whole number into a fraction.
  const rounded = Math.round(total * 1000) / 1000;
  if (!Number.isInteger(rounded)) throw bad('is not a whole number of seconds');
  return rounded;
}

/** `45s`, `3m05s`, `1h02m`: elapsed time as kubectl's AGE-like columns show it. */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
