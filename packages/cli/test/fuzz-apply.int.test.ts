/**
 * The real terracectl reading fuzzed manifest files against a real etcd:
 * `validate` and `apply` of valid manifests with random edits either
 * succeed or fail with one `error: ...` line and exit code 1, and a failed
 * apply leaves every key of the cluster as it was. Each run is a process
 * start, so the runs are few; fuzz-manifest.test.ts covers the decoder
 * itself in depth.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { sharedEtcdEndpoint, uniqueCluster, applyEdits, editsArb } from '@terrace/testkit';
import { Etcd3 } from 'etcd3';
import { bound, dumpCluster, tempDir } from './harness.js';

const EXAMPLES = fileURLToPath(new URL('../../../../deploy/examples/', import.meta.url));
const VALID = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml') && !f.startsWith('bad-'))
  .map((f) => readFileSync(EXAMPLES + f, 'utf8'));
const PIECES = ['\n', '  ', '- ', ': ', '{', '}', '[', ']', '"', '1', 'x', '/', '.', '---\n', '*a', '&a '];

const endpoint = sharedEtcdEndpoint();
const cluster = uniqueCluster('cli-fuzz');
const ctl = bound(endpoint, cluster);
const dir = tempDir();
const etcd = new Etcd3({ hosts: endpoint });

afterAll(() => {
  dir.remove();
  etcd.close();
});

describe('terracectl with fuzzed manifest files', () => {
  it('validate and apply: done, or one error line with nothing written', async () => {
    let n = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...VALID), editsArb(fc.constantFrom(...PIECES), 3), fc.constantFrom('validate', 'apply'), async (text, edits, verb) => {
        const file = dir.write(`m${n++}.yaml`, applyEdits(Buffer.from(text), edits).toString('utf8'));
        const before = await dumpCluster(etcd, cluster);
        const r = await ctl([verb, '-f', file]);
        expect([0, 1]).toContain(r.code);
        if (r.code === 0) return;
        refused++;
        expect(r.stderr).toMatch(/^error: [^\n]+\n$/);
        expect(r.stderr.length).toBeLessThan(600);
        expect(r.stdout).toBe('');
        expect(await dumpCluster(etcd, cluster)).toBe(before);
      }),
      { numRuns: 16 },
    );
    expect(refused).toBeGreaterThan(0);
  });
});
