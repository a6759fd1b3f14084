#!/usr/bin/env node
// `terracectl validate -f` on one manifest of N IPPools (default 10,000),
// half IPv4 and half IPv6, none overlapping, in shuffled order: the wall time
// of the whole command (a fresh node process, no datastore), the median of a
// few runs; and, in this process, the time of the rules across the set
// (checkSet: overlapping pools, pools holding a node's address) on the
// decoded pools.
// Usage: npm run bench -- validate [pools] [runs]
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeManifests } from '../packages/api/dist/src/index.js';
import { checkSet } from '../packages/cli/dist/src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'terracectl');
const pools = Number(process.argv[2] ?? 10000);
const runs = Number(process.argv[3] ?? 3);

// A fixed shuffle (xorshift), so every run validates the same file.
let seed = 0x9e3779b9;
const rand = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
};

function manifest(n) {
  const docs = [];
  for (let i = 0; i < n; i++) {
    const cidr = i % 2 === 0 ? `10.${(i >> 9) & 255}.${(i >> 1) & 255}.0/24` : `fd00:${(i >> 1).toString(16)}::/64`;
    const blockSize = i % 2 === 0 ? 26 : 122;
    docs.push(`apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: pool-${i}}\nspec: {cidr: "${cidr}", blockSize: ${blockSize}}\n`);
  }
  for (let i = docs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [docs[i], docs[j]] = [docs[j], docs[i]];
  }
  return docs.join('---\n');
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const dir = mkdtempSync(join(tmpdir(), 'bench-validate-'));
try {
  const file = join(dir, 'pools.yaml');
  writeFileSync(file, manifest(pools));
  const samples = [];
  for (let i = 0; i < runs; i++) {
    // Output goes to a file, so the time is terracectl's, not a pipe reader's.
    const out = openSync(join(dir, 'out.txt'), 'w');
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [bin, 'validate', '-f', file], { encoding: 'utf8', stdio: ['ignore', out, 'pipe'] });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    closeSync(out);
    if (r.status !== 0) throw new Error(`terracectl validate exited ${r.status}: ${r.stderr}`);
    const valid = readFileSync(join(dir, 'out.txt'), 'utf8').trim().split('\n').length;
    if (valid !== pools) throw new Error(`expected ${pools} valid lines, got ${valid}`);
    samples.push(s);
  }
  const resources = decodeManifests(readFileSync(file, 'utf8'), file);
  const checks = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    checkSet(resources);
    checks.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const round = (x) => Math.round(x * 1000) / 1000;
  console.log(JSON.stringify({ bench: 'validate', pools, runs, samples_s: samples.map(round), check_samples_s: checks.map(round) }));
  console.log(JSON.stringify({ bench: 'validate', pools, seconds: round(median(samples)), check_seconds: round(median(checks)) }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
