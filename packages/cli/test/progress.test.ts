import { describe, expect, test } from '@jest/globals';
import { makeProgress } from '../src/output/progress.js';

describe('progress', () => {
  test('silent when the sink is not a terminal', () => {
    const out: string[] = [];
    const p = makeProgress({ isTTY: false, write: (s) => out.push(s) });
    p('releasing', 1, 2);
    p('releasing', 2, 2);
    expect(out).toEqual([]);
  });
  test('redraws one line on a terminal and ends it when done', () => {
    const out: string[] = [];
    const p = makeProgress({ isTTY: true, write: (s) => out.push(s) });
    p('releasing', 1, 4);
    p('releasing', 4, 4);
    expect(out.join('')).toBe('\r\x1b[Kreleasing 1/4 (25%)\r\x1b[Kreleasing 4/4 (100%)\n');
  });
});

describe('progress ended early', () => {
  test('end() closes a line left open, once, and writes nothing when none is', () => {
    const out: string[] = [];
    const p = makeProgress({ isTTY: true, write: (s) => out.push(s) });
    p.end();
    expect(out).toEqual([]);
    p('validating', 3, 10);
    p.end();
    p.end();
    expect(out.join('')).toBe('\r\x1b[Kvalidating 3/10 (30%)\n');
  });
  test('end() is silent when the sink is not a terminal', () => {
    const out: string[] = [];
    const p = makeProgress({ isTTY: false, write: (s) => out.push(s) });
    p('validating', 3, 10);
    p.end();
    expect(out).toEqual([]);
  });
});
