import { describe, expect, it } from '@jest/globals';
import { durationSeconds, parseGoDuration } from '../src/duration.js';

describe('Go durations', () => {
  it('parses the forms Calico resources use', () => {
    expect(parseGoDuration('30s')).toBe(30_000);
    expect(parseGoDuration('1m30s')).toBe(90_000);
    expect(parseGoDuration('1h')).toBe(3_600_000);
    expect(parseGoDuration('500ms')).toBe(500);
    expect(parseGoDuration('1.5s')).toBe(1500);
    expect(parseGoDuration('0')).toBe(0);
  });

  it('refuses anything else, naming the field', () => {
    expect(() => parseGoDuration('30', 'bgppeer/x: spec.keepaliveTime')).toThrow('bgppeer/x: spec.keepaliveTime "30" is not a duration');
    expect(() => parseGoDuration('5 s')).toThrow(/is not a duration/);
    expect(() => parseGoDuration('')).toThrow(/is not a duration/);
    expect(() => parseGoDuration('1sx')).toThrow(/is not a duration/);
  });

  it('rounds BGP timers to whole seconds, at least one', () => {
    expect(durationSeconds('1500ms')).toBe(2);
    expect(durationSeconds('100ms')).toBe(1);
  });
});
