/** terracectl's output reaches a program reading it through a pipe whole, however long. */
import { afterAll, describe, expect, it } from '@jest/globals';
import { tempDir, terracectl } from './harness.js';

const dir = tempDir();
afterAll(() => dir.remove());

describe('output through a pipe', () => {
  it('validate prints every line before it exits', async () => {
    const n = 4000;
    const docs = Array.from({ length: n }, (_, i) => `apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: p-${i}}\nspec: {cidr: "10.${i >> 8}.${i & 255}.0/24"}\n`);
    const file = dir.write('many.yaml', docs.join('---\n'));
    const r = await terracectl(['validate', '-f', file]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(n);
    expect(lines[n - 1]).toBe(`ippool/p-${n - 1} valid`);
  });
});
