/** Durations as kubectl takes them (src/plugin/duration.ts), and the elapsed column. */
import { describe, expect, test } from '@jest/globals';
import { formatElapsed, parseDuration } from '../../src/plugin/duration';

describe('parseDuration', () => {
  test.each([
    ['90', 90], ['0', 0], ['300s', 300], ['5m', 300], ['1h30m', 5400], ['1h', 3600], ['1.5m', 90], ['2m30s', 150], ['3000ms', 3], ['.5m', 30],
  ])('%s is %d s', (text, seconds) => {
    expect(parseDuration('--drain-timeout', text as string)).toBe(seconds);
  });

  test.each(['', 'abc', '-5s', '5x', '1h30', 'm', '1.5', '5 m', '1500ms', '0.1s'])('%j is refused, naming the flag', (text) => {
    expect(() => parseDuration('--grace-period', text)).toThrow(/^--grace-period: /);
  });

  test('a fraction of a second says so', () => {
    expect(() => parseDuration('--timeout', '1500ms')).toThrow('--timeout: "1500ms" is not a whole number of seconds');
  });
});

test('formatElapsed', () => {
  expect([0, 999, 45_000, 60_000, 185_000, 3_600_000, 3_725_000, -5].map(formatElapsed)).toEqual(['0s', '0s', '45s', '1m00s', '3m05s', '1h00m', '1h02m', '0s']);
});
