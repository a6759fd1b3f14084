/**
 * The benches measure the product through its public API: every import of
 * our code names a package's (or the lab's) entry point, never a file behind
 * it. bench/tsconfig.json checks what they use against the declarations; this
 * checks where they take it from.
 */
import { describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const benchDir = new URL('../../../bench/', import.meta.url).pathname;
const ENTRY = /^\.\.\/(packages\/[a-z]+|e2e)\/dist\/src\/index\.js$/;

/** Every module specifier of ours in a bench: static imports, dynamic imports and URLs built for a child. */
function ourImports(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/['"](\.\.\/(?:packages|e2e)\/[^'"]+)['"]/g)) out.push(m[1] as string);
  return out;
}

describe('benches', () => {
  const files = readdirSync(benchDir).filter((f) => f.endsWith('.mjs'));

  test('there are benches to check', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  test('import our code only through the packages\' and the lab\'s entry points', () => {
    const deep = files.flatMap((f) => ourImports(readFileSync(join(benchDir, f), 'utf8')).filter((s) => !ENTRY.test(s)).map((s) => `${f}: ${s}`));
    expect(deep).toEqual([]);
  });
});
