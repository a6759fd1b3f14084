import { describe, expect, it } from '@jest/globals';
import { durationSeconds, formatDuration, parseDuration } from '../src/duration.js';

describe('Go durations', () => {
  it('parses the forms Calico resources use', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('0')).toBe(0);
  });

  it('refuses anything else, naming the field', () => {
    expect(() => parseDuration('30', 'bgppeer/x: spec.keepaliveTime')).toThrow('bgppeer/x: spec.keepaliveTime "30" is not a duration');
    expect(() => parseDuration('5 s')).toThrow(/is not a duration/);
    expect(() => parseDuration('')).toThrow(/is not a duration/);
    expect(() => parseDuration('1sx')).toThrow(/is not a duration/);
  });

  it('rounds BGP timers to whole seconds, at least one', () => {
    expect(durationSeconds('1500ms')).toBe(2);
    expect(durationSeconds('100ms')).toBe(1);
  });
});

describe('formatDuration', () => {
  it('prints the shortest readable form', () => {
    expect(formatDuration(300_000)).toBe('5m');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(1_500)).toBe('1.5s');
    expect(formatDuration(250)).toBe('250ms');
    expect(formatDuration(7_200_000)).toBe('2h');
  });
});
